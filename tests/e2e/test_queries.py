"""End to end: every analyst query in sql/queries, run by the `make query` runner on real releases.

The sample release is the whole graph on the five seed articles. It has no quarantined claims
and no rejected files, so those two queries also run on a dirty copy of it whose quarantine and
rejected_files tables hold hand-written rows. Every query file must have a test here that names
it with `@covers`; a new file without one fails `test_every_query_file_has_a_test`.
"""

import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.query import PROJECT_ROOT, QueryError, available_queries, default_release, format_table, main, run_query
from tests.conftest import Claimwire

pytestmark = pytest.mark.e2e

COVERED: set[str] = set()


def covers(name: str) -> Callable:
    """Mark a test as the assertions for sql/queries/<name>.sql."""
    COVERED.add(name)
    return lambda test: test


def rows_of(release, name: str, columns: list[str]) -> list[tuple]:
    """The named columns of a query's result, in the query's row order."""
    result = run_query(name, release)
    index = [result.columns.index(c) for c in columns]
    return [tuple(row[i] for i in index) for row in result.rows]


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Claimwire:
    with pytest.MonkeyPatch.context() as monkeypatch:
        cw = Claimwire(tmp_path_factory.mktemp("queries"), monkeypatch)
        cw.add_seeds()
        assert cw.run().success
        yield cw


@pytest.fixture(scope="module")
def dirty_release(sample, tmp_path_factory):
    """A copy of the sample release with two quarantined claims and three rejected files."""
    release = tmp_path_factory.mktemp("dirty") / "published"
    shutil.copytree(sample.published.resolve(), release)
    with duckdb.connect() as conn:
        claims = str(sample.published / "claims" / "*.parquet")
        quarantined = conn.sql(
            """
            select * replace (2e9 as value_low, 2e9 as value_high),
                'expect_column_values_to_be_between:value_high' as failed_check,
                'monthly pay per soldier in USD is at most 20,000 (plausible range 100–20,000)' as reason
            from read_parquet(?)
            where measure = 'pay_per_soldier' and attributed_to = 'Andrei Lankov'
            union all
            select * replace ('0000000000000000' as doc_id),
                'claims_offsets:doc_id' as failed_check,
                'document 0000000000000000 does not exist, so the offsets cannot be checked' as reason
            from read_parquet(?)
            where measure = 'munitions'
            """,
            params=[claims, claims],
        ).to_arrow_table()
    quarantine_file = release / "quarantine" / "part-00000.parquet"
    pq.write_table(quarantined.cast(pq.read_schema(quarantine_file)), quarantine_file)
    rejected_file = release / "rejected_files" / "part-00000.parquet"
    seen_at = datetime(2024, 11, 5, 8, 0)
    rejected = [
        # rule: a file with no content is not a document
        ("empty.txt", None, "empty", "the file has no content (or only whitespace)", seen_at, "batch-1"),
        # rule: only .txt files are read
        ("photo.jpg", "ab" * 32, "unsupported_type", "only .txt files are read; rename or convert it", seen_at, "batch-1"),
        # rule: whitespace only is empty too
        ("blank.txt", "cd" * 32, "empty", "the decoded text is only whitespace", seen_at, "batch-1"),
    ]
    schema = pq.read_schema(rejected_file)
    pq.write_table(pa.Table.from_pylist([dict(zip(schema.names, r)) for r in rejected], schema=schema), rejected_file)
    (release / "_manifest.json").touch()
    return release


def test_every_query_file_has_a_test():
    assert sorted(set(available_queries()) - COVERED) == [], "query files in sql/queries without a @covers test"
    assert sorted(COVERED - set(available_queries())) == [], "@covers names a query file that does not exist"


@pytest.mark.parametrize("name", available_queries())
def test_every_query_file_runs_on_the_sample_release(sample, name):
    result = run_query(name, sample.published)
    assert result.columns and len(set(result.columns)) == len(result.columns)
    assert format_table(result).endswith(f"({len(result.rows)} row{'' if len(result.rows) == 1 else 's'})")


@covers("facts_by_independent_sources")
def test_facts_ranked_by_independent_sources(sample):
    columns = ["source_rank", "measure", "value_low", "value_high", "unit", "period", "attributed_to",
               "n_independent_sources", "n_mentions", "n_documents"]
    assert rows_of(sample.published, "facts_by_independent_sources", columns) == [
        (1, "pay_per_soldier", 2000, 2000, "USD", "month", ["Andrei Lankov", "NIS", "Wi Sung-lac"], 4, 4, 4),
        (1, "revenue", 200e6, 200e6, "USD", "year", ["The Korea Herald", "Wi Sung-lac"], 4, 4, 4),
        (3, "troops_deployed", 10000, 10000, "person", None, ["South Korean intelligence", "United States", "Wi Sung-lac"], 3, 5, 3),
        (4, "troops_deployed", 12000, 12000, "person", None, ["Niko Lange", "South Korean intelligence"], 2, 3, 2),
        (4, "food_aid", 600000, 700000, "metric_ton", None, ["South Korean intelligence"], 2, 2, 2),
        (6, "food_aid", 600000, 700000, "metric_ton", "year", ["The Korea Herald", "Wi Sung-lac"], 1, 2, 1),
        (6, "troops_deployed", 3000, 3000, "person", None, ["South Korean intelligence"], 1, 2, 1),
        (6, "bonus", 20000, 20000, "USD", "one_time", ["Andrei Lankov"], 1, 1, 1),
        (6, "containers", 20000, 20000, "container", None, [], 1, 1, 1),
        (6, "food_aid", 700000, 700000, "metric_ton", None, ["Wi Sung-lac"], 1, 1, 1),
        (6, "generals", 3, 3, "person", None, [], 1, 1, 1),
        (6, "grain_production", 4e6, 4e6, "metric_ton", "year", [], 1, 1, 1),
        (6, "grain_shortfall", 1e6, 1e6, "metric_ton", None, [], 1, 1, 1),
        (6, "munitions", 9e6, 9e6, "shell", None, [], 1, 1, 1),
        (6, "officers", 500, 500, "person", None, [], 1, 1, 1),
        (6, "revenue", 200e6, 200e6, "USD", None, ["South Korean intelligence"], 1, 1, 1),
        (6, "troops_deployed", 8000, 8000, "person", None, ["Antony Blinken"], 1, 1, 1),
        (6, "worker_wages", 800, 800, "USD", "month", ["NIS"], 1, 1, 1),
    ]


@covers("measure_values_over_time")
def test_measure_values_by_publication_day(sample):
    # 000, 001 and 002 carry no date, so their claims fall on the day they were ingested
    (ingest_day,) = sample.query("select distinct ingested_at::date from read_parquet('{release}/documents/*.parquet')")[0]
    columns = ["measure", "unit", "period", "reported_on", "min_value", "max_value", "median_value",
               "n_claims", "n_documents", "n_claims_dated_by_ingest"]
    fakti, herald = datetime(2024, 10, 25).date(), datetime(2024, 11, 4).date()
    assert rows_of(sample.published, "measure_values_over_time", columns) == [
        ("bonus", "USD", "one_time", fakti, 20000, 20000, 20000, 1, 1, 0),
        ("containers", "container", None, herald, 20000, 20000, 20000, 1, 1, 0),
        ("food_aid", "metric_ton", None, ingest_day, 600000, 700000, 650000, 3, 3, 3),
        ("food_aid", "metric_ton", "year", herald, 600000, 700000, 650000, 2, 1, 0),
        ("generals", "person", None, ingest_day, 3, 3, 3, 1, 1, 1),
        ("grain_production", "metric_ton", "year", ingest_day, 4e6, 4e6, 4e6, 1, 1, 1),
        ("grain_shortfall", "metric_ton", None, ingest_day, 1e6, 1e6, 1e6, 1, 1, 1),
        ("munitions", "shell", None, herald, 9e6, 9e6, 9e6, 1, 1, 0),
        ("officers", "person", None, ingest_day, 500, 500, 500, 1, 1, 1),
        ("pay_per_soldier", "USD", "month", fakti, 2000, 2000, 2000, 1, 1, 0),
        ("pay_per_soldier", "USD", "month", herald, 2000, 2000, 2000, 1, 1, 0),
        ("pay_per_soldier", "USD", "month", ingest_day, 2000, 2000, 2000, 2, 2, 2),
        ("revenue", "USD", None, herald, 200e6, 200e6, 200e6, 1, 1, 0),
        ("revenue", "USD", "year", herald, 200e6, 200e6, 200e6, 1, 1, 0),
        ("revenue", "USD", "year", ingest_day, 200e6, 200e6, 200e6, 3, 3, 3),
        # Fakti: 3,000 twice and 12,000 twice, so the median is between them
        ("troops_deployed", "person", None, fakti, 3000, 12000, 7500, 4, 1, 0),
        ("troops_deployed", "person", None, herald, 10000, 10000, 10000, 2, 1, 0),
        ("troops_deployed", "person", None, ingest_day, 8000, 12000, 10000, 5, 2, 5),
        ("worker_wages", "USD", "month", herald, 800, 800, 800, 1, 1, 0),
    ]


@covers("outlet_copying")
def test_outlet_copying_pairs_the_moscow_times_with_its_source(sample):
    columns = ["source_path_a", "outlet_a", "source_path_b", "outlet_b", "n_shared_passages",
               "shared_chars_a", "share_of_a", "share_of_b"]
    assert rows_of(sample.published, "outlet_copying", columns) == [
        ("002_bc6a4e4eed50a539.txt", "The Moscow Times", "000_e4451c43269161c3.txt", None, 1, 204, 0.115, 0.065),
    ]


@covers("claims_by_source")
def test_claims_grouped_by_source(sample):
    columns = ["attributed_to", "n_claims", "n_documents", "n_measures", "measures", "n_syndicated_copies"]
    assert rows_of(sample.published, "claims_by_source", columns) == [
        ("Wi Sung-lac", 6, 3, 4, ["food_aid", "pay_per_soldier", "revenue", "troops_deployed"], 0),
        ("South Korean intelligence", 5, 3, 3, ["food_aid", "revenue", "troops_deployed"], 0),
        ("NIS", 3, 2, 2, ["pay_per_soldier", "worker_wages"], 0),
        ("Andrei Lankov", 2, 1, 2, ["bonus", "pay_per_soldier"], 0),
        ("The Korea Herald", 2, 1, 2, ["food_aid", "revenue"], 0),
        ("Antony Blinken", 1, 1, 1, ["troops_deployed"], 0),
        ("Niko Lange", 1, 1, 1, ["troops_deployed"], 0),
        ("United States", 1, 1, 1, ["troops_deployed"], 0),
        (None, 12, 3, 9, ["containers", "food_aid", "generals", "grain_production", "grain_shortfall",
                          "munitions", "officers", "revenue", "troops_deployed"], 0),
    ]


@covers("conflicts")
def test_conflicting_facts_once_per_pair(sample):
    columns = ["measure", "unit", "period", "value_low_a", "value_high_a", "n_independent_sources_a",
               "value_low_b", "value_high_b", "n_independent_sources_b", "attributed_to_b"]
    assert rows_of(sample.published, "conflicts", columns) == [
        ("food_aid", "metric_ton", None, 600000, 700000, 2, 700000, 700000, 1, ["Wi Sung-lac"]),
        ("troops_deployed", "person", None, 3000, 3000, 1, 8000, 8000, 1, ["Antony Blinken"]),
        ("troops_deployed", "person", None, 3000, 3000, 1, 10000, 10000, 3, ["South Korean intelligence", "United States", "Wi Sung-lac"]),
        ("troops_deployed", "person", None, 3000, 3000, 1, 12000, 12000, 2, ["Niko Lange", "South Korean intelligence"]),
        ("troops_deployed", "person", None, 8000, 8000, 1, 10000, 10000, 3, ["South Korean intelligence", "United States", "Wi Sung-lac"]),
        ("troops_deployed", "person", None, 8000, 8000, 1, 12000, 12000, 2, ["Niko Lange", "South Korean intelligence"]),
        ("troops_deployed", "person", None, 10000, 10000, 3, 12000, 12000, 2, ["Niko Lange", "South Korean intelligence"]),
    ]
    pairs = rows_of(sample.published, "conflicts", ["fact_id_a", "fact_id_b"])
    # both facts list each other; the query must not return (b, a) as well
    assert len({frozenset(p) for p in pairs}) == len(pairs) == 7


@covers("quarantined_claims")
def test_quarantined_claims_with_their_reason(sample, dirty_release):
    columns = ["failed_check", "reason", "source_path", "measure", "value_high", "unit", "period", "attributed_to"]
    assert rows_of(sample.published, "quarantined_claims", columns) == []
    assert rows_of(dirty_release, "quarantined_claims", columns) == [
        # a claim whose document is not in the release still shows, without a source path
        ("claims_offsets:doc_id", "document 0000000000000000 does not exist, so the offsets cannot be checked",
         None, "munitions", 9e6, "shell", None, None),
        ("expect_column_values_to_be_between:value_high",
         "monthly pay per soldier in USD is at most 20,000 (plausible range 100–20,000)",
         "004_2596dc240c7363e7.txt", "pay_per_soldier", 2e9, "USD", "month", "Andrei Lankov"),
    ]


@covers("rejected_files")
def test_rejected_files_by_reason(sample, dirty_release):
    columns = ["reason", "n_files_with_reason", "source_path", "detail"]
    assert rows_of(sample.published, "rejected_files", columns) == []
    assert rows_of(dirty_release, "rejected_files", columns) == [
        ("empty", 2, "blank.txt", "the decoded text is only whitespace"),
        ("empty", 2, "empty.txt", "the file has no content (or only whitespace)"),
        ("unsupported_type", 1, "photo.jpg", "only .txt files are read; rename or convert it"),
    ]


def test_unknown_query_name_is_an_error(sample, capsys):
    with pytest.raises(QueryError, match=r"unknown query 'nope'; the queries are: claims_by_source, conflicts"):
        run_query("nope", sample.published)
    assert main(["nope", "--release", str(sample.published)]) == 2
    assert "unknown query 'nope'" in capsys.readouterr().err


def test_missing_release_is_an_error(tmp_path, capsys):
    with pytest.raises(QueryError, match="no release at"):
        run_query("conflicts", tmp_path / "nowhere")
    assert main(["conflicts", "--release", str(tmp_path / "nowhere")]) == 2
    assert f"no release at {tmp_path / 'nowhere'}" in capsys.readouterr().err


def test_cli_prints_a_table_and_fails_on_an_unknown_name(sample):
    ok = subprocess.run(
        [sys.executable, "-m", "pipelines.query", "outlet_copying", "--release", str(sample.published)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=False,
    )
    assert ok.returncode == 0, ok.stderr
    lines = ok.stdout.splitlines()
    assert lines[0].split() == ["source_path_a", "outlet_a", "source_path_b", "outlet_b", "n_shared_passages",
                                "shared_chars_a", "share_of_a", "share_of_b", "doc_id_a", "doc_id_b"]
    assert lines[2].split()[:8] == ["002_bc6a4e4eed50a539.txt", "The", "Moscow", "Times", "000_e4451c43269161c3.txt",
                                    "NULL", "1", "204"]
    assert lines[-1] == "(1 row)"
    bad = subprocess.run(
        [sys.executable, "-m", "pipelines.query", "nope", "--release", str(sample.published)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=False,
    )
    assert bad.returncode == 2 and bad.stdout == ""
    assert bad.stderr.startswith("query: unknown query 'nope'")


@pytest.mark.parametrize("value", ["", "relative/published", "/abs/published"])
def test_default_release_follows_the_publish_setting(monkeypatch, value):
    from pipelines.defs.resources import setting_path

    if value:
        monkeypatch.setenv("CLAIMWIRE_PUBLISH_DIR", value)
    else:
        monkeypatch.delenv("CLAIMWIRE_PUBLISH_DIR", raising=False)
    assert default_release() == setting_path("CLAIMWIRE_PUBLISH_DIR")
