"""The Spark stage functions give the embedded path's rows, on the sample articles and a generated corpus."""

from datetime import datetime

import polars as pl
import pytest

from pipelines.lib.claims import extract_claims, load_aliases, load_taxonomy
from pipelines.lib.facts import build_facts
from pipelines.lib.passages import load_boilerplate_rules, mark_boilerplate, split_passages
from tests.spark.conftest import same_rows

pytestmark = pytest.mark.spark

CORPORA = ["seed_documents", "generated_documents"]


def _embedded(documents: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    passages = mark_boilerplate(split_passages(documents.select("doc_id", "text")), load_boilerplate_rules())
    claims = extract_claims(passages, load_taxonomy(), load_aliases())
    return passages, claims


@pytest.fixture(scope="module", params=CORPORA)
def corpus(request):
    documents = request.getfixturevalue(request.param)
    passages, claims = _embedded(documents)
    return request.param, documents, passages, claims


def test_corpus_sizes(corpus):
    name, documents, passages, claims = corpus
    if name == "seed_documents":
        assert (documents.height, passages.height, claims.height) == (5, 82, 33)
    else:
        assert documents.height > 1500 and claims.height > 10 * documents.height


def test_passages_equal_the_embedded_path(spark, corpus):
    from pipelines.spark.passages import split_and_mark_passages

    _, documents, passages, _ = corpus
    # several partitions, so documents are split over batches as they would be on a cluster
    frame = spark.createDataFrame(documents.select("doc_id", "text").to_arrow()).repartition(3)
    same_rows(split_and_mark_passages(frame, load_boilerplate_rules()), passages)


def test_claims_equal_the_embedded_path(spark, corpus):
    from pipelines.spark.claims import extract_claim_mentions

    _, _, passages, claims = corpus
    # passages scattered over partitions: each document must still be read whole and in order
    frame = spark.createDataFrame(passages.to_arrow()).repartition(4, "passage_id")
    same_rows(extract_claim_mentions(frame, load_taxonomy(), load_aliases()), claims)


def _clustered(claims: pl.DataFrame) -> pl.DataFrame:
    # a stand-in for passage clusters that exercises every kind of edge: a third of the mentions
    # sit in their own passage's cluster, a third share one cluster per value across documents
    # (syndicated copies), and a third have no cluster at all
    kind = pl.col("claim_id").str.slice(0, 4).str.to_integer(base=16) % 3
    return claims.with_columns(
        cluster_id=pl.when(kind == 0).then(pl.col("passage_id"))
        .when(kind == 1).then(pl.lit("value:") + pl.col("value_low").cast(pl.Utf8))
        .otherwise(None)
    )


def test_facts_equal_the_embedded_path(spark, corpus):
    from pipelines.spark.facts import build_facts as build_facts_on_spark

    _, documents, _, claims = corpus
    claims = _clustered(claims)
    docs = documents.with_columns(ingested_at=pl.lit(datetime(2026, 11, 1), dtype=pl.Datetime("us")))
    expected = build_facts(claims, docs)
    got = build_facts_on_spark(
        spark.createDataFrame(claims.to_arrow()).repartition(3), spark.createDataFrame(docs.to_arrow())
    )
    same_rows(got, expected)
    assert expected.filter(pl.col("n_independent_sources") < pl.col("n_documents")).height > 0
