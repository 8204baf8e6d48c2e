"""End to end: the whole graph with CLAIMWIRE_ENGINE=spark publishes the DuckDB path's release.

Each corpus is materialised twice into its own temporary directory, once per engine, and every
published table is compared row for row (order aside). Only the columns a run stamps (ingest
time, batch id, seen time, and a fact's first-seen time where it falls back to the ingest time)
are left out.
"""

import shutil

import pytest

from tests.conftest import RAW_SEEDS, Claimwire
from tests.spark.conftest import require_java

pytestmark = [pytest.mark.spark, pytest.mark.e2e]

TABLES = [
    "documents", "rejected_files", "passages", "passage_clusters", "doc_syndication",
    "claims", "facts", "consistency", "quarantine",
]
RUN_STAMPED = {"ingested_at", "ingest_batch_id", "seen_at"}
GENERATED_ARTICLES = 3000


def _release(cw: Claimwire) -> dict[str, list[tuple]]:
    tables = {}
    for table in TABLES:
        columns = [r[0] for r in cw.query(f"describe select * from read_parquet('{{release}}/{table}/*.parquet')")]
        kept = ", ".join(f'"{c}"' for c in columns if c not in RUN_STAMPED)
        if table == "facts":
            # a fact none of whose documents states a date is first seen when it was ingested
            kept = kept.replace(
                '"first_seen_at"',
                "case when first_seen_at >= (select min(ingested_at) from read_parquet('{release}/documents/*.parquet'))"
                " then 'at ingest' else first_seen_at::varchar end",
            )
        tables[table] = cw.query(f"select {kept} from read_parquet('{{release}}/{table}/*.parquet') order by all")
    return tables


def _materialise(root, raw_source, engine: str) -> tuple[Claimwire, dict]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        cw = Claimwire(root, monkeypatch)
        shutil.rmtree(cw.raw)
        shutil.copytree(raw_source, cw.raw)
        monkeypatch.setenv("CLAIMWIRE_ENGINE", engine)
        monkeypatch.setenv("CLAIMWIRE_SPARK_MASTER", "local[2]")
        result = cw.run()
        assert result.success
        return cw, _release(cw)


@pytest.fixture(scope="module")
def generated_raw(tmp_path_factory):
    from benchmarks.corpus import write_corpus

    out = tmp_path_factory.mktemp("generated")
    write_corpus(out, GENERATED_ARTICLES, seed=20241104)
    return out / "raw"


@pytest.mark.parametrize("corpus", ["seeds", "generated"])
def test_spark_release_equals_the_duckdb_release(corpus, request, tmp_path):
    require_java()
    raw = RAW_SEEDS if corpus == "seeds" else request.getfixturevalue("generated_raw")
    _, embedded = _materialise(tmp_path / "duckdb", raw, "duckdb")
    spark_cw, on_spark = _materialise(tmp_path / "spark", raw, "spark")

    for table in TABLES:
        assert on_spark[table] == embedded[table], f"{table} differs between the engines"
    counts = {t: len(rows) for t, rows in embedded.items()}
    if corpus == "seeds":
        assert (counts["documents"], counts["passages"], counts["claims"], counts["facts"]) == (5, 82, 33, 18)
    else:
        assert counts["documents"] > 1500 and counts["claims"] > 10 * counts["documents"]
    # the hand-off files are cleaned up after each stage
    assert not any((spark_cw.warehouse.parent / "spark_staging").glob("*/*"))


def test_wrong_engine_is_a_configuration_error_naming_the_variable(claimwire, monkeypatch):
    claimwire.add_seeds()
    monkeypatch.setenv("CLAIMWIRE_ENGINE", "hadoop")
    result = claimwire.run(raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_failure)
    message = str(failure.event_specific_data.error)
    assert "CLAIMWIRE_ENGINE is 'hadoop'; it must be one of duckdb, spark" in message
