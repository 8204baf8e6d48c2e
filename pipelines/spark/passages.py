"""Passages on Spark: documents split into passages and boilerplate marked, batch by batch.

Each Arrow batch of documents goes through the same `split_passages` and `mark_boilerplate`
as the embedded path. Both only look within one document, and a document is one row, so any
partitioning of the documents gives the same passages.
"""

import polars as pl
from pyspark.sql import DataFrame

from pipelines.lib.passages import PASSAGES_SCHEMA, BoilerplateRules, mark_boilerplate, split_passages
from pipelines.spark.arrow import map_frames


def split_and_mark_passages(documents: DataFrame, rules: BoilerplateRules) -> DataFrame:
    """One row per passage (PASSAGES_SCHEMA) of `documents` (`doc_id`, `text`)."""

    def per_batch(batch: pl.DataFrame) -> pl.DataFrame:
        return mark_boilerplate(split_passages(batch), rules)

    return map_frames(documents.select("doc_id", "text"), per_batch, PASSAGES_SCHEMA)
