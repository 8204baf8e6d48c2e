"""pipelines.spark.dedup gives exactly the embedded path's dedup results, row for row.

Every Spark result is collected (small here) and compared, sorted, with the Polars function
it mirrors: same ids, same u64 hashes, same floats to the last bit, same list orderings.
"""

from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipelines.lib import dedup as embedded
from pipelines.lib.dedup import DedupConfig
from pipelines.lib.passages import load_boilerplate_rules, mark_boilerplate, split_passages

pytestmark = pytest.mark.spark

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONFIG = DedupConfig()
KEYS = {
    "signatures": ["passage_id"],
    "matches": ["passage_id_a", "passage_id_b"],
    "members": ["passage_id"],
    "clusters": ["cluster_id"],
    "syndication": ["doc_id_a", "doc_id_b"],
}
SCHEMAS = {
    "signatures": embedded.SIGNATURES_SCHEMA,
    "matches": embedded.MATCHES_SCHEMA,
    "members": {"passage_id": pl.Utf8, "cluster_id": pl.Utf8},
    "clusters": embedded.CLUSTERS_SCHEMA,
    "syndication": embedded.SYNDICATION_SCHEMA,
}


@pytest.fixture(scope="module")
def sd(spark):
    """The module under test, imported once a session (and so Java) is known to exist."""
    from pipelines.spark import dedup

    return dedup


def _passages(documents: pl.DataFrame) -> pl.DataFrame:
    """Every passage of the documents, with its document's publication time, as the
    `passages` asset produces them."""
    passages = mark_boilerplate(split_passages(documents.select("doc_id", "text")), load_boilerplate_rules())
    return passages.join(documents.select("doc_id", "source_path", "published_at"), on="doc_id")


def _fetcher(passages: pl.DataFrame):
    def fetch_texts(ids: list[str]) -> pl.DataFrame:
        return passages.filter(pl.col("passage_id").is_in(ids)).select("passage_id", "text")

    return fetch_texts


def _body(passages: pl.DataFrame) -> pl.DataFrame:
    return passages.filter(~pl.col("is_boilerplate")).select("passage_id", "doc_id", "text")


def _assert_same(sd, name: str, spark_frame, polars_frame: pl.DataFrame) -> None:
    got = sd.to_polars(spark_frame, SCHEMAS[name]).sort(KEYS[name])
    want = polars_frame.select(list(SCHEMAS[name])).sort(KEYS[name])
    assert got.height == want.height, f"{name}: {got.height} rows on Spark, {want.height} embedded"
    assert_frame_equal(got, want, check_exact=True)


def _clustering_inputs(passages: pl.DataFrame) -> pl.DataFrame:
    return passages.select("passage_id", "doc_id", "char_start", "char_end", "is_boilerplate", "published_at")


def _assert_whole_run_equal(sd, spark, passages: pl.DataFrame, config: DedupConfig = CONFIG) -> dict[str, int]:
    """One batch with no history through both engines; every output compared."""
    signatures, matches = embedded.match_batch(
        _body(passages), pl.DataFrame(schema=embedded.SIGNATURES_SCHEMA), _fetcher(passages), config
    )
    members, clusters = embedded.cluster_passages(_clustering_inputs(passages), matches)
    syndication = embedded.document_syndication(_clustering_inputs(passages), members)

    texts = sd.from_polars(spark, passages.select("passage_id", "text"))
    # passages scattered over partitions: a signature must not depend on its batch-mates
    body = sd.from_polars(spark, _body(passages)).repartition(3)
    s_signatures, s_matches = sd.match_batch(body, sd.empty_signatures(spark), texts, config)
    located = sd.from_polars(spark, _clustering_inputs(passages))
    s_members, s_clusters = sd.cluster_passages(located, s_matches)
    s_syndication = sd.document_syndication(located, s_members)

    _assert_same(sd, "signatures", s_signatures, signatures)
    _assert_same(sd, "matches", s_matches, matches)
    _assert_same(sd, "members", s_members, members)
    _assert_same(sd, "clusters", s_clusters, clusters)
    _assert_same(sd, "syndication", s_syndication, syndication)
    return {
        "near": matches.filter(pl.col("match_kind") == "near").height,
        "exact": matches.filter(pl.col("match_kind") == "exact").height,
        "multi_passage_clusters": clusters.filter(pl.col("n_passages") > 1).height,
        "syndicated_pairs": syndication.height,
    }


def test_sample_articles_give_the_embedded_results(sd, spark, seed_documents):
    counts = _assert_whole_run_equal(sd, spark, _passages(seed_documents))
    # the five articles reprint one story: the comparison must have had copies to compare
    assert counts["near"] > 0 and counts["multi_passage_clusters"] > 0 and counts["syndicated_pairs"] > 0


@pytest.fixture(scope="module")
def generated_passages(generated_documents) -> pl.DataFrame:
    """The passages of the conftest's generated corpus (2,000 seeded articles)."""
    return _passages(generated_documents)


def test_generated_corpus_gives_the_embedded_results(sd, spark, generated_passages):
    counts = _assert_whole_run_equal(sd, spark, generated_passages)
    assert counts["near"] > 1000 and counts["exact"] > 0 and counts["multi_passage_clusters"] > 500


def test_crowded_buckets_are_dropped_alike(sd, spark, generated_passages):
    """With a cap of 5, many buckets of the generated corpus are crowded: both engines drop the same."""
    import dataclasses

    capped = _assert_whole_run_equal(sd, spark, generated_passages, dataclasses.replace(CONFIG, max_bucket_size=5))
    uncapped = _assert_whole_run_equal(sd, spark, generated_passages, dataclasses.replace(CONFIG, max_bucket_size=10**9))
    assert 0 < capped["near"] < uncapped["near"]


def test_generated_corpus_incremental_batches_match_against_history(sd, spark, generated_passages):
    """First half signed alone; second half matched against the first half's signatures
    (the Spark history is the Spark path's own first batch, so errors cannot cancel out)."""
    doc_ids = generated_passages.sort("source_path")["doc_id"].unique(maintain_order=True)
    first_docs = doc_ids[: len(doc_ids) // 2]
    first = generated_passages.filter(pl.col("doc_id").is_in(first_docs.implode()))
    second = generated_passages.filter(~pl.col("doc_id").is_in(first_docs.implode()))
    fetched: list[str] = []

    def fetch_first(ids: list[str]) -> pl.DataFrame:
        fetched.extend(ids)
        return _fetcher(first)(ids)

    signatures_1, matches_1 = embedded.match_batch(
        _body(first), pl.DataFrame(schema=embedded.SIGNATURES_SCHEMA), _fetcher(first), CONFIG
    )
    signatures_2, matches_2 = embedded.match_batch(_body(second), signatures_1, fetch_first, CONFIG)

    history_texts = sd.from_polars(spark, first.select("passage_id", "text"))
    s_signatures_1, s_matches_1 = sd.match_batch(
        sd.from_polars(spark, _body(first)), sd.empty_signatures(spark), history_texts, CONFIG
    )
    s_signatures_2, s_matches_2 = sd.match_batch(
        sd.from_polars(spark, _body(second)), s_signatures_1, history_texts, CONFIG
    )
    _assert_same(sd, "signatures", s_signatures_1, signatures_1)
    _assert_same(sd, "matches", s_matches_1, matches_1)
    _assert_same(sd, "signatures", s_signatures_2, signatures_2)
    _assert_same(sd, "matches", s_matches_2, matches_2)
    # the second batch really reached into the history, by exact twins and by LSH
    first_ids = set(first["passage_id"].to_list())
    reaching = matches_2.filter(pl.col("passage_id_a").is_in(first_ids) | pl.col("passage_id_b").is_in(first_ids))
    assert set(reaching["match_kind"].to_list()) == {"exact", "near"} and fetched

    # clusters relabelled over the pairs of both batches, as the asset does after each batch
    all_matches = pl.concat([matches_1, matches_2])
    members, clusters = embedded.cluster_passages(_clustering_inputs(generated_passages), all_matches)
    located = sd.from_polars(spark, _clustering_inputs(generated_passages))
    s_members, s_clusters = sd.cluster_passages(located, s_matches_1.unionByName(s_matches_2))
    _assert_same(sd, "members", s_members, members)
    _assert_same(sd, "clusters", s_clusters, clusters)


def test_signatures_cross_the_warehouse_parquet_boundary_bit_for_bit(sd, spark, seed_documents, tmp_path):
    """The warehouse keeps signatures as UBIGINT: DuckDB's Parquet read into Spark
    (`signed_hashes`) and Spark's written back (`unsigned_hashes`) lose no bit of any hash."""
    passages = _passages(seed_documents)
    signatures, _ = embedded.compute_signatures(_body(passages), CONFIG)
    assert signatures["norm_hash"].max() > 2**63 > signatures["norm_hash"].min()  # both halves of u64
    with duckdb.connect() as conn:
        conn.execute((PROJECT_ROOT / "sql" / "schema" / "002_create_passage_tables.sql").read_text(encoding="utf-8"))
        conn.register("computed", signatures)
        conn.execute("insert into passage_signatures select * from computed")
        conn.sql("select * from passage_signatures").write_parquet(str(tmp_path / "history.parquet"))
        stored = sd.signed_hashes(spark.read.parquet(str(tmp_path / "history.parquet")))
        _assert_same(sd, "signatures", stored, signatures)

        s_signatures, _ = sd.compute_signatures(sd.from_polars(spark, _body(passages)), CONFIG)
        sd.unsigned_hashes(s_signatures).write.parquet(str(tmp_path / "new"))
        conn.execute("delete from passage_signatures")
        conn.execute("insert into passage_signatures by name select * from read_parquet(?)", [str(tmp_path / "new" / "*.parquet")])
        written = conn.sql("select * from passage_signatures").pl()
    assert_frame_equal(written.sort("passage_id"), signatures.sort("passage_id"), check_exact=True)


QUOTE = (
    "“North Korea is on record as having fought for Russia. If there ever is a war on the Korean "
    "Peninsula, North Korea can now expect Russia to come and help,” he said."
)
OTHER = (
    "Russian President Vladimir Putin signed a mutual defense agreement with North Korean leader "
    "Kim Jong Un during a visit to the East Asian country in June."
)


def _rows(rows) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={"passage_id": pl.Utf8, "doc_id": pl.Utf8, "text": pl.Utf8}, orient="row")


@pytest.mark.parametrize(
    ("history_rows", "new_rows"),
    [
        # an exact twin of a stored passage links to it whichever id is smaller
        ([("aaa-p0001", "d1", OTHER)], [("zzz-p0001", "d2", OTHER)]),
        ([("zzz-p0001", "d1", OTHER)], [("aaa-p0001", "d2", OTHER)]),
        # two new twins of a stored passage, one with a smaller id: both end up linked
        ([("mmm-p0001", "d1", QUOTE)], [("aaa-p0001", "d2", QUOTE.upper()), ("zzz-p0001", "d3", QUOTE)]),
        # an empty batch, and passages with no comparable text (no signature)
        ([("aaa-p0001", "d1", QUOTE)], []),
        ([], [("aaa-p0001", "d1", "—"), ("bbb-p0001", "d1", "Related:"), ("ccc-p0001", "d2", "Related:")]),
    ],
)
def test_small_batches_against_a_history(sd, spark, history_rows, new_rows):
    history, new = _rows(history_rows), _rows(new_rows)
    stored, _ = embedded.match_batch(history, pl.DataFrame(schema=embedded.SIGNATURES_SCHEMA), _fetcher(history), CONFIG)
    signatures, matches = embedded.match_batch(new, stored, _fetcher(history), CONFIG)
    s_signatures, s_matches = sd.match_batch(
        sd.from_polars(spark, new), sd.from_polars(spark, stored), sd.from_polars(spark, history.select("passage_id", "text")), CONFIG
    )
    _assert_same(sd, "signatures", s_signatures, signatures)
    _assert_same(sd, "matches", s_matches, matches)
