"""End to end: the whole graph materialised on the five sample articles into a temporary directory."""

import json

import pytest

from tests.conftest import Claimwire

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    with pytest.MonkeyPatch.context() as monkeypatch:
        cw = Claimwire(tmp_path_factory.mktemp("seeds"), monkeypatch)
        cw.add_seeds()
        result = cw.run()
        assert result.success
        cw.result = result
        yield cw


def test_five_documents_with_stated_provenance(release):
    rows = release.query(
        "select source_path, title, outlet, published_at::varchar, n_chars > 0 "
        "from read_parquet('{release}/documents/*.parquet') order by source_path"
    )
    assert rows == [
        ("000_e4451c43269161c3.txt", None, None, None, True),
        ("001_97629c477015eee1.txt", "North Korea Gains Financial and Technological Support from Russia Amid Ukraine Conflict", None, None, True),
        ("002_bc6a4e4eed50a539.txt", None, "The Moscow Times", None, True),
        ("003_950007d2726c287a.txt", "Russia backs North Korea with aid, rice, and military ties", None, "2024-11-04 23:19:00", True),
        ("004_2596dc240c7363e7.txt", "How North Korea is changing Russia's war against Ukraine", "Fakti", "2024-10-25 21:01:00", True),
    ]
    assert release.query("select count(*) from read_parquet('{release}/rejected_files/*.parquet')") == [(0,)]


def test_boilerplate_is_marked_with_reasons_not_deleted(release):
    rows = release.query(
        """
        select d.source_path, p.boilerplate_reason, count(*)
        from read_parquet('{release}/passages/*.parquet') p
        join read_parquet('{release}/documents/*.parquet') d using (doc_id)
        where p.is_boilerplate
        group by all order by all
        """
    )
    assert rows == [
        ("000_e4451c43269161c3.txt", "related_links", 7),
        ("001_97629c477015eee1.txt", "related_links", 1),
        ("002_bc6a4e4eed50a539.txt", "donation_appeal", 11),
        ("003_950007d2726c287a.txt", "dateline", 1),
        ("004_2596dc240c7363e7.txt", "caption", 1),
        ("004_2596dc240c7363e7.txt", "dateline", 1),
        ("004_2596dc240c7363e7.txt", "disclaimer", 1),
        ("004_2596dc240c7363e7.txt", "navigation", 1),
    ]
    texts = release.query(
        "select text from read_parquet('{release}/passages/*.parquet') where boilerplate_reason = 'donation_appeal' order by ordinal limit 2"
    )
    assert texts == [("A Message from The Moscow Times:",), ("Dear readers,",)]


def test_quote_copied_across_outlets_shares_one_cluster(release):
    rows = release.query(
        """
        select d.source_path, p.cluster_id
        from read_parquet('{release}/passages/*.parquet') p
        join read_parquet('{release}/documents/*.parquet') d using (doc_id)
        where p.text like '%North Korea is on record as having fought for Russia%'
        order by d.source_path
        """
    )
    assert [r[0] for r in rows] == ["000_e4451c43269161c3.txt", "002_bc6a4e4eed50a539.txt"]
    assert rows[0][1] == rows[1][1]
    cluster = release.query(
        "select n_passages, n_documents, match_kind from read_parquet('{release}/passage_clusters/*.parquet') where cluster_id = ?",
        [rows[0][1]],
    )
    assert cluster == [(2, 2, "near")]


@pytest.mark.parametrize(
    ("file", "quote", "value_low", "value_high", "unit", "qualifier", "period", "measure"),
    [
        ("000", "$2,000", 2000.0, 2000.0, "USD", "approx", "month", "pay_per_soldier"),
        ("000", "600,000 to 700,000 tons", 600000.0, 700000.0, "metric_ton", "exact", None, "food_aid"),
        ("000", "$200 million", 200e6, 200e6, "USD", "more_than", "year", "revenue"),
        ("001", "12,000 soldiers", 12000.0, 12000.0, "person", "approx", None, "troops_deployed"),
        ("001", "500 officers", 500.0, 500.0, "person", "approx", None, "officers"),
        ("001", "three generals", 3.0, 3.0, "person", "exact", None, "generals"),
        ("001", "8,000 North Korean soldiers", 8000.0, 8000.0, "person", "approx", None, "troops_deployed"),
    ],
)
def test_claims_read_correctly(release, file, quote, value_low, value_high, unit, qualifier, period, measure):
    rows = release.query(
        """
        select c.value_low, c.value_high, c.unit, c.qualifier, c.period, c.measure
        from read_parquet('{release}/claims/*.parquet') c
        join read_parquet('{release}/documents/*.parquet') d using (doc_id)
        where starts_with(d.source_path, ?) and c.quote = ?
        """,
        [file, quote],
    )
    assert rows == [(value_low, value_high, unit, qualifier, period, measure)]


def test_every_quote_is_the_document_text_at_its_offsets(release):
    rows = release.query(
        """
        select count(*), count(*) filter (where substring(d.text, c.char_start + 1, c.char_end - c.char_start) = c.quote)
        from read_parquet('{release}/claims/*.parquet') c
        join read_parquet('{release}/documents/*.parquet') d using (doc_id)
        """
    )
    total, matching = rows[0]
    assert total > 30 and matching == total


def test_no_claims_from_boilerplate(release):
    rows = release.query(
        """
        select count(*) from read_parquet('{release}/claims/*.parquet') c
        join read_parquet('{release}/passages/*.parquet') p using (passage_id)
        where p.is_boilerplate
        """
    )
    assert rows == [(0,)]


def test_manifest_describes_the_files(release):
    manifest = json.loads((release.published / "_manifest.json").read_text())
    assert manifest["schema_version"] == "1"
    for table, entry in manifest["tables"].items():
        assert release.query(f"select count(*) from read_parquet('{{release}}/{table}/*.parquet')") == [(entry["rows"],)]
    assert {v["table_name"] for v in manifest["validation"]} == {
        "claims", "documents", "facts", "passage_clusters", "passages", "quarantine", "rejected_files", "release"
    }
    assert all(v["success"] for v in manifest["validation"])


def test_rerun_on_unchanged_input_changes_nothing(release):
    tables = ["documents", "passages", "passage_clusters", "claims", "facts", "doc_syndication"]

    def snapshot():
        return {
            t: release.query(f"select * exclude (ingested_at) from read_parquet('{{release}}/{t}/*.parquet') order by all")
            if t == "documents" else release.query(f"select * from read_parquet('{{release}}/{t}/*.parquet') order by all")
            for t in tables
        }

    before = snapshot()
    first_id = json.loads((release.published / "_manifest.json").read_text())["release_id"]
    with pytest.MonkeyPatch.context() as monkeypatch:
        for name, value in {"CLAIMWIRE_RAW_DIR": release.raw, "CLAIMWIRE_WAREHOUSE": release.warehouse,
                            "CLAIMWIRE_PUBLISH_DIR": release.published}.items():
            monkeypatch.setenv(name, str(value))
        assert release.run().success
    manifest = json.loads((release.published / "_manifest.json").read_text())
    assert manifest["release_id"] != first_id and manifest["previous_release_id"] == first_id
    assert snapshot() == before
    assert release.warehouse_query("select count(*) from ingest_batches") == [(1,)]


def test_facts_count_sources_and_flag_the_troop_conflict(release):
    pay = release.query(
        """
        select n_mentions, n_documents, n_independent_sources, list_sort(attributed_to)
        from read_parquet('{release}/facts/*.parquet')
        where measure = 'pay_per_soldier' and unit = 'USD' and period = 'month' and value_low = 2000
        """
    )
    # 000, 001, 003 and 004 each state it in their own words: four documents, four sources
    assert pay == [(4, 4, 4, ["Andrei Lankov", "NIS", "Wi Sung-lac"])]
    troops = dict(release.query(
        """
        select value_low, conflicts_with from read_parquet('{release}/facts/*.parquet')
        where measure = 'troops_deployed' and unit = 'person' and value_low in (10000, 12000) and value_low = value_high
        """
    ))
    ids = dict(release.query(
        "select value_low, fact_id from read_parquet('{release}/facts/*.parquet') "
        "where measure = 'troops_deployed' and value_low in (10000, 12000) and value_low = value_high"
    ))
    assert ids[12000.0] in troops[10000.0] and ids[10000.0] in troops[12000.0]


def test_syndicated_copy_counts_once(release):
    """The 'on record' quote in 000 and 002 is one cluster: a claim inside it would be one source."""
    copies = release.query(
        "select count(*) from read_parquet('{release}/passages/*.parquet') p "
        "join read_parquet('{release}/passage_clusters/*.parquet') c using (cluster_id) where c.n_documents > 1"
    )
    assert copies == [(2,)]


def test_consistency_cross_check_is_published(release):
    rows = release.query(
        "select rule, derived_low, stated_low, verdict from read_parquet('{release}/consistency/*.parquet') "
        "where derived_low = 2000 * 10000 * 12 order by rule"
    )
    assert rows and all(r[1] == 240e6 and r[2] == 200e6 and r[3] == "consistent" for r in rows)


def test_the_facts_chart_plots_every_published_claim_by_publication_date(release):
    # the facts step draws the chart on a thread of its own while it writes the facts: the spec
    # in its metadata is the one the release's claims and documents give
    import duckdb

    from pipelines.defs.resources import sql_file
    from pipelines.lib.charts import values_over_time_spec

    (event,) = [m for m in release.result.get_asset_materialization_events() if m.asset_key.path == ["facts"]]
    spec = event.materialization.metadata["values_over_time_vega_lite"].value
    with duckdb.connect() as conn:
        for table in ("claims", "documents"):
            conn.execute(f"create view {table} as select * from read_parquet('{release.published}/{table}/*.parquet')")
        points = conn.sql(sql_file("select_reported_values")).pl()
    assert points.height == release.query("select count(*) from read_parquet('{release}/claims/*.parquet')")[0][0]
    assert spec == values_over_time_spec(points)
    assert "pay_per_soldier (USD per month)" in spec["facet"]["row"]["sort"]
    assert {"panel": "pay_per_soldier (USD per month)", "reported_on": "2024-10-25", "value_low": 2000.0,
            "value_high": 2000.0, "n_mentions": 1, "n_sources": 1, "sources": "Fakti"} in spec["data"]["values"]


def test_the_facts_metadata_lists_the_values_the_most_documents_state(release):
    # read from the facts as built: the table is the plain grouping of the released claims
    import duckdb

    from pipelines.defs.common import markdown_table
    from pipelines.defs.resources import read_frame

    (event,) = [m for m in release.result.get_asset_materialization_events() if m.asset_key.path == ["facts"]]
    table = event.materialization.metadata["most_stated_values"].value
    with duckdb.connect() as conn:
        conn.execute(f"create view claims as select * from read_parquet('{release.published}/claims/*.parquet')")
        expected = read_frame(
            conn,
            """
            select measure, value_low, value_high, unit, period, count(*)::int as n_mentions, count(distinct doc_id)::int as n_documents,
                   list_sort(coalesce(list(distinct attributed_to) filter (where attributed_to is not null), [])) as attributed_to
            from claims group by measure, value_low, value_high, unit, period
            order by n_documents desc, n_mentions desc, measure, value_low, value_high, unit, period
            limit 10
            """,
        )
    assert expected.height == 10 and "pay_per_soldier" in expected["measure"].to_list()
    assert table == markdown_table(expected)


def test_the_largest_clusters_metadata_names_their_documents_and_canonical_text(release):
    # the dedup step picks the few passages and documents of the ten largest clusters by row id:
    # the table in its metadata is what joining the whole released tables gives
    import duckdb

    from pipelines.defs.common import markdown_table
    from pipelines.defs.resources import read_frame

    (event,) = [m for m in release.result.get_asset_materialization_events() if m.asset_key.path == ["passage_clusters"]]
    table = event.materialization.metadata["largest_clusters"].value

    with duckdb.connect() as conn:
        for name in ("passage_clusters", "passages", "documents"):
            conn.execute(f"create view {name} as select * from read_parquet('{release.published}/{name}/*.parquet')")
        expected = read_frame(
            conn,
            """
            select c.cluster_id, c.n_passages, c.n_documents, c.match_kind, round(c.min_similarity, 3) as min_similarity,
                   string_agg(distinct d.source_path, ', ' order by d.source_path) as documents,
                   any_value(p.text) filter (where p.passage_id = c.canonical_passage_id) as canonical_text
            from passage_clusters c join passages p using (cluster_id) join documents d using (doc_id)
            where c.n_passages > 1
            group by all order by c.n_documents desc, c.n_passages desc, c.cluster_id limit 10
            """,
        )
    assert expected.height >= 1 and expected["n_documents"].max() >= 2
    assert expected["canonical_text"].null_count() == 0
    assert table == markdown_table(expected, max_chars=120)
