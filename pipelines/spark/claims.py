"""Claim mentions on Spark: `extract_claims` run on Arrow batches of whole documents.

`extract_claims` reads a document's passages in order and lets "he said" resolve to a person
named in an earlier passage, so a batch must never split a document. The body passages of
each document are therefore gathered into one row (a list of structs) before the batches are
cut; each batch is unpacked back into passages and handed to the same function as the
embedded path.
"""

import polars as pl
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.lib.claims import CLAIMS_SCHEMA, PASSAGE_COLUMNS, AliasTable, Taxonomy, extract_claims
from pipelines.spark.arrow import map_frames


def extract_claim_mentions(passages: DataFrame, taxonomy: Taxonomy, aliases: AliasTable) -> DataFrame:
    """One row per claim mention (CLAIMS_SCHEMA) in the non-boilerplate passages.

    `passages` has at least PASSAGE_COLUMNS (passage_id, doc_id, ordinal, char_start, text,
    is_boilerplate). Boilerplate is dropped before the shuffle: it yields no claims and names
    no speakers, exactly as in `extract_claims`.
    """
    body = passages.where(~F.coalesce(F.col("is_boilerplate"), F.lit(False)))
    fields = [c for c in PASSAGE_COLUMNS if c != "doc_id"]
    documents = body.groupBy("doc_id").agg(F.collect_list(F.struct(*fields)).alias("passages"))

    def per_batch(batch: pl.DataFrame) -> pl.DataFrame:
        unpacked = batch.explode("passages").unnest("passages").select(PASSAGE_COLUMNS)
        return extract_claims(unpacked, taxonomy, aliases)

    return map_frames(documents, per_batch, CLAIMS_SCHEMA)
