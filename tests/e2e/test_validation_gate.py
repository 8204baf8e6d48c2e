"""End to end: the Great Expectations gate decides what reaches the release.

Paired fixtures on the real graph: the clean seed corpus publishes everything; one implausible
claim is quarantined and the rest published; an extractor gone wrong blocks the release and
leaves the previous one in place; a publish step that dies midway leaves the previous release.
"""

import json
import threading
from pathlib import Path

import duckdb
import polars as pl
import pytest

import pipelines.defs.extract as extract_defs
import pipelines.defs.publish as publish_defs

pytestmark = pytest.mark.e2e

# Breaks the row-level rule "monthly pay per soldier in USD is between 100 and 20,000".
IMPLAUSIBLE_PAY = (
    "Seoul Daily\n\n"
    "North Korea is paid handsomely, officials say\n\n"
    "According to the NIS, each soldier is paid $2 billion a month by Moscow.\n"
)


def _release_rows(cw, table: str) -> list[tuple]:
    return cw.query(f"select * from read_parquet('{{release}}/{table}/*.parquet') order by all")


def _release_id(cw) -> str:
    return json.loads((cw.published / "_manifest.json").read_text())["release_id"]


def test_clean_corpus_passes_every_check(claimwire):
    claimwire.add_seeds()
    result = claimwire.run()
    assert result.success
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == 7 and all(e.passed for e in evaluations)
    assert claimwire.query("select count(*) from read_parquet('{release}/quarantine/*.parquet')") == [(0,)]


def test_one_implausible_claim_is_quarantined_and_the_rest_published(claimwire):
    claimwire.add_seeds()
    (claimwire.raw / "005_implausible_pay.txt").write_text(IMPLAUSIBLE_PAY, encoding="utf-8")
    result = claimwire.run()
    assert result.success
    quarantined = claimwire.query(
        "select quote, value_low, unit, period, measure, failed_check, reason "
        "from read_parquet('{release}/quarantine/*.parquet')"
    )
    assert len(quarantined) == 1
    quote, value, unit, period, measure, failed_check, reason = quarantined[0]
    assert (quote, value, unit, period, measure) == ("$2 billion", 2e9, "USD", "month", "pay_per_soldier")
    assert failed_check == "expect_column_values_to_be_between:value_high"
    assert "20,000" in reason or "20000" in reason
    published_pay = claimwire.query(
        "select max(value_high) from read_parquet('{release}/claims/*.parquet') where measure = 'pay_per_soldier'"
    )
    assert published_pay == [(2000.0,)]
    # everything else from the seeds is still published
    assert claimwire.query("select count(*) from read_parquet('{release}/documents/*.parquet')") == [(6,)]


def test_screening_in_slices_quarantines_the_same_rows(claimwire, monkeypatch):
    # 4 rows a slice: the seeds' claims are screened by many Great Expectations runs, and the
    # implausible claim lands in a slice of its own neighbours only
    monkeypatch.setattr(extract_defs, "SCREEN_SLICE_ROWS", 4)
    claimwire.add_seeds()
    (claimwire.raw / "005_implausible_pay.txt").write_text(IMPLAUSIBLE_PAY, encoding="utf-8")
    assert claimwire.run().success
    assert claimwire.query("select quote, failed_check from read_parquet('{release}/quarantine/*.parquet')") == [
        ("$2 billion", "expect_column_values_to_be_between:value_high")
    ]
    # every other mention is published, once
    published = claimwire.query("select count(*), count(distinct claim_id) from read_parquet('{release}/claims/*.parquet')")
    (n_mentions,) = claimwire.warehouse_query("select count(*) from claim_mentions")[0]
    assert n_mentions > 8 and published == [(n_mentions - 1, n_mentions - 1)]


def _claims_check_in_project(project, monkeypatch, slice_rows: int, seen: list[int]) -> tuple[dict, str]:
    """The seeds in `project` (a `Claimwire` of their own), the claims check validating
    `slice_rows` rows at a time: its result and metadata, and its Data Docs page without ids
    and times."""
    import re

    import pipelines.defs.validate as validate_defs

    monkeypatch.setattr(validate_defs, "CHECK_SLICE_ROWS", slice_rows)
    seen.clear()
    project.add_seeds()
    result = project.run(raise_on_error=False)
    (check,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "claims_expectations"]
    metadata = {key: value.value for key, value in check.metadata.items() if key != "data_docs"}
    (page,) = (project.root / "data" / "data_docs" / "claims" / "validations").rglob("*.html")
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uuid>", page.read_text(encoding="utf-8"))
    text = re.sub(r"\d{8}T\d{6}\.\d+Z", "<run>", text)
    text = re.sub(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?", "<time>", text)
    return {"passed": check.passed, **metadata}, text


def test_the_claims_check_in_slices_fails_as_the_whole_scope_does(claimwire, tmp_path, monkeypatch):
    # An extractor gone wrong (every figure a million times too large): more rows break the
    # plausible ranges than `mostly` allows. Checked 5 claims at a time (no Great Expectations
    # frame of the check over 5 rows), the check fails with the same counts, failing rows,
    # sample and Data Docs page as checked in one frame.
    from pipelines.lib import validation

    real_extract, real_run = extract_defs.extract_claims_in_processes, validation._run_suite_result
    monkeypatch.setattr(
        extract_defs, "extract_claims_in_processes",
        lambda *a, **k: real_extract(*a, **k).with_columns(pl.col("value_low", "value_high") * 1e6),
    )
    seen: list[int] = []

    def recorded(pdf, suite, *args):
        if suite.name == "claims" and "cluster_id" in pdf.columns:  # the check's frames, not screening's values
            seen.append(len(pdf))
        return real_run(pdf, suite, *args)

    monkeypatch.setattr(validation, "_run_suite_result", recorded)
    project = type(claimwire)  # a project of each kind, in folders of their own
    sliced, sliced_page = _claims_check_in_project(project(tmp_path / "sliced", monkeypatch), monkeypatch, 5, seen)
    sliced_frames = list(seen)
    whole, whole_page = _claims_check_in_project(project(tmp_path / "whole", monkeypatch), monkeypatch, 10_000, seen)
    assert sliced["passed"] is False and sliced["rows_failing_row_level_rules"] > 5
    assert seen == [whole["rows_validated"]] * 2 and whole["rows_validated"] > 10  # BASIC, then COMPLETE
    slices = -(-whole["rows_validated"] // 5)
    assert max(sliced_frames) == 5 and sum(sliced_frames) == 2 * whole["rows_validated"] and len(sliced_frames) == 2 * slices
    assert sliced == whole
    assert sliced_page == whole_page


def _second_run_is_blocked(claimwire, monkeypatch, change) -> Path:
    """Publish the seeds, then run again into a second warehouse with the extractor's rows passed
    through `change`: only the claims check fails and the release stays as it was. Returns the
    second warehouse."""
    claimwire.add_seeds()
    assert claimwire.run().success
    before_id, before_claims = _release_id(claimwire), _release_rows(claimwire, "claims")
    real_extract = extract_defs.extract_claims_in_processes
    monkeypatch.setattr(extract_defs, "extract_claims_in_processes", lambda *a, **k: change(real_extract(*a, **k)))
    second = claimwire.root / "second" / "warehouse.duckdb"
    monkeypatch.setenv("CLAIMWIRE_WAREHOUSE", str(second))
    result = claimwire.run(raise_on_error=False)
    assert not result.success
    failed = {e.check_name for e in result.get_asset_check_evaluations() if not e.passed}
    assert failed == {"claims_expectations"}
    assert _release_id(claimwire) == before_id
    assert _release_rows(claimwire, "claims") == before_claims
    return second


def test_mostly_failing_extractor_blocks_the_release(claimwire, monkeypatch):
    # every value a million times too large: most claims break a plausible range
    _second_run_is_blocked(claimwire, monkeypatch, lambda rows: rows.with_columns(pl.col("value_low", "value_high") * 1e6))


def test_a_repeated_claim_id_blocks_the_release(claimwire, monkeypatch):
    # claims and claim_mentions have no primary key: the blocking check is what stops a repeat
    second = _second_run_is_blocked(claimwire, monkeypatch, lambda rows: pl.concat([rows, rows.head(1)]))
    with duckdb.connect(str(second), read_only=True) as conn:
        # the repeated mention meets its label once per mention row: 2 x 2 rows, 3 repeats
        assert conn.execute("select count(*) - count(distinct claim_id) from claims").fetchall() == [(3,)]


def test_publish_killed_midway_leaves_the_previous_release(claimwire, monkeypatch):
    claimwire.add_seeds()
    assert claimwire.run().success
    before_id, before_facts = _release_id(claimwire), _release_rows(claimwire, "facts")

    real_write = publish_defs._write_table
    written = []
    lock = threading.Lock()  # tables are written by two threads

    def dies_after_first_table(conn, query, folder):
        with lock:
            if written:
                raise RuntimeError("injected fault: the machine died while publishing")
            written.append(folder)
        return real_write(conn, query, folder)

    monkeypatch.setattr(publish_defs, "_write_table", dies_after_first_table)
    result = claimwire.run(raise_on_error=False)
    assert not result.success
    assert len(written) == 1 and written[0].parent.name.endswith(".partial")
    assert _release_id(claimwire) == before_id
    assert _release_rows(claimwire, "facts") == before_facts
    leftovers = [p.name for p in (claimwire.published.parent / "published.releases").iterdir()]
    assert leftovers == [before_id]


def test_invalid_suite_fails_the_check_loudly(claimwire, tmp_path):
    from pipelines.defs.resources import Warehouse
    from pipelines.defs.validate import ValidationSettings
    from pipelines.lib.validation import SuiteError

    suites = tmp_path / "suites"
    suites.mkdir()
    good = json.loads((publish_defs.Path(__file__).resolve().parents[2] / "expectations" / "facts.json").read_text())
    good["expectations"].append({"type": "expect_column_values_to_be_betwixt", "kwargs": {"column": "n_mentions"},
                                 "meta": {"level": "structural", "rule": "a misspelt expectation type"}})
    (suites / "facts.json").write_text(json.dumps(good))
    with pytest.raises(SuiteError, match=r"facts\.json.*expect_column_values_to_be_betwixt"):
        ValidationSettings(expectations_dir=str(suites)).suite("facts")
    assert Warehouse  # the same resource class the checks use is importable alongside


# --- the checks validate what a run wrote ------------------------------------------------------

SECOND_ARTICLE = (
    "Outlet Y\n\n"
    "More troops head to Kursk\n\n"
    "Seoul says at least 3,000 more soldiers were sent last month, and each is paid $2,000 a month.\n"
)


def _latest_scopes(cw) -> dict[str, dict]:
    rows = cw.warehouse_query(
        "select table_name, results_json from validation_results "
        "qualify row_number() over (partition by table_name order by validated_at desc) = 1"
    )
    return {table: json.loads(results)["scope"] for table, results in rows}


def test_a_second_run_validates_the_new_document_and_counts_keys_and_shares_over_the_table(claimwire, monkeypatch):
    claimwire.add_seeds()
    assert claimwire.run().success
    first = _latest_scopes(claimwire)
    assert {t: s["n_documents"] for t, s in first.items() if s["n_documents"] is not None} == {
        "documents": 5, "passages": 5, "passage_clusters": 5, "claims": 5, "quarantine": 5,
    }
    assert first["claims"]["n_rows_validated"] == first["claims"]["n_rows_in_table"] > 8

    (claimwire.raw / "005_second.txt").write_text(SECOND_ARTICLE, encoding="utf-8")
    result = claimwire.run()
    assert result.success and all(e.passed for e in result.get_asset_check_evaluations())
    second = _latest_scopes(claimwire)
    (new_doc,) = claimwire.warehouse_query("select doc_id from documents where source_path = '005_second.txt'")[0]
    (n_new_claims,) = claimwire.warehouse_query(f"select count(*) from claims where doc_id = '{new_doc}'")[0]
    (n_new_passages,) = claimwire.warehouse_query(f"select count(*) from passages where doc_id = '{new_doc}'")[0]
    assert n_new_claims == 2 and n_new_passages == 3
    # the new document is the only one whose clusters changed: its passages copy none
    assert second["claims"] == {
        "mode": "new", "n_documents": 1, "n_rows_validated": n_new_claims,
        "n_rows_in_table": first["claims"]["n_rows_in_table"] + n_new_claims, "n_documents_changed": 1,
    }
    assert second["quarantine"]["n_documents_changed"] == 1
    # a published passage's cluster falls back on its id, a primary key: no document's
    # rewritten cluster is counted again (the check runs before the dedup step, and the first
    # run clustered all five documents after their passages had passed)
    assert "n_documents_changed" not in second["passages"]
    assert (second["passages"]["n_documents"], second["passages"]["n_rows_validated"]) == (1, n_new_passages)
    assert (second["documents"]["n_documents"], second["documents"]["n_rows_validated"]) == (1, 1)
    # the clusters the new document's passages are in (none of its passages copies another)
    assert second["passage_clusters"] == {
        "mode": "new", "n_documents": 1, "n_rows_validated": n_new_passages,
        "n_rows_in_table": first["passage_clusters"]["n_rows_in_table"] + n_new_passages,
    }
    # small tables are validated whole
    assert second["facts"]["mode"] == second["rejected_files"]["mode"] == "all"

    # the whole table again, on request
    monkeypatch.setenv("CLAIMWIRE_CHECK_SCOPE", "all")
    assert claimwire.run().success
    assert {t: (s["mode"], s["n_documents"]) for t, s in _latest_scopes(claimwire).items() if s["n_documents"] is not None} == {
        t: ("all", 6) for t in ("documents", "passages", "passage_clusters", "claims", "quarantine")
    }
    monkeypatch.setenv("CLAIMWIRE_CHECK_SCOPE", "everything")
    result = claimwire.run(raise_on_error=False)
    assert not result.success
    assert "check scope 'everything' is not one of ('new', 'all')" in claimwire.failure_message(result)


def test_a_blocked_batch_is_validated_again_until_it_passes(claimwire, monkeypatch):
    real_extract = extract_defs.extract_claims_in_processes

    def inflated(*args, **kwargs):
        return real_extract(*args, **kwargs).with_columns(pl.col("value_low", "value_high") * 1e6)

    claimwire.add_seeds()
    monkeypatch.setattr(extract_defs, "extract_claims_in_processes", inflated)
    assert not claimwire.run(raise_on_error=False).success
    monkeypatch.setattr(extract_defs, "extract_claims_in_processes", real_extract)
    # nothing new to extract, but the claims check has not passed on these documents: it looks
    # at them again and blocks again
    result = claimwire.run(raise_on_error=False)
    assert not result.success
    assert {e.check_name for e in result.get_asset_check_evaluations() if not e.passed} == {"claims_expectations"}
    assert _latest_scopes(claimwire)["claims"]["n_documents"] == 5


def test_an_old_quote_edited_in_place_is_found_by_a_whole_table_check(claimwire, monkeypatch):
    import duckdb

    claimwire.add_seeds()
    assert claimwire.run().success
    with duckdb.connect(str(claimwire.warehouse)) as conn:
        conn.execute("update claims set quote = 'tampered' where claim_id = (select min(claim_id) from claims)")
    # a run with nothing new does not look at old rows again
    assert claimwire.run().success
    monkeypatch.setenv("CLAIMWIRE_CHECK_SCOPE", "all")
    result = claimwire.run(raise_on_error=False)
    assert not result.success
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert [e.check_name for e in failed] == ["claims_expectations"]
    assert failed[0].metadata["cross_table_failures"].value == 1


def test_references_are_checked_where_clusters_changed_and_everywhere_on_request(claimwire, monkeypatch):
    """A claim's cluster changes when a new copy of its passage arrives: the claims check
    holds the references of every document the dedup step reclustered since the check last
    passed, beside the batch's. A reference broken in place on a document nothing rewrote is
    not looked at again, like an old quote edited in place, until every row is validated."""
    import duckdb

    claimwire.add_seeds()
    assert claimwire.run().success
    with duckdb.connect(str(claimwire.warehouse)) as conn:
        # a claim of a body passage that a new article will reprint, and a claim of another document
        (copied, copied_doc, passage_text) = conn.sql(
            "select c.claim_id, c.doc_id, p.text from claims c join passages p using (passage_id) "
            "where not p.is_boilerplate and length(p.text) > 150 order by c.claim_id limit 1"
        ).fetchall()[0]
        (untouched,) = conn.execute(
            "select min(claim_id) from claims where doc_id not in (select doc_id from passages where passage_id in ("
            "select passage_id from passage_cluster_members where cluster_id in (select cluster_id from passage_cluster_members "
            "join passages using (passage_id) where doc_id = ?)))", [copied_doc],
        ).fetchall()[0]
        assert untouched is not None
        conn.execute("update claims set char_end = char_end + 100000 where claim_id in (?, ?)", [copied, untouched])
    # a run with nothing new does not look at old rows again
    assert claimwire.run().success

    (claimwire.raw / "006_reprint.txt").write_text(f"Outlet Z\n\nA reprint\n\n{passage_text}\n", encoding="utf-8")
    result = claimwire.run(raise_on_error=False)
    assert not result.success
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert [e.check_name for e in failed] == ["claims_expectations"]
    assert failed[0].metadata["cross_table_failures"].value == 1
    sample = failed[0].metadata["sample_cross_table_failures"].value.splitlines()[2:]
    assert {(line.split("|")[1].strip(), line.split("|")[4].strip()) for line in sample} == {
        (copied, "claim_references:passage_span")
    }
    # the scope: the reprint; its references and rewritten columns also over every document of
    # the clusters it joined
    (reprint,) = claimwire.warehouse_query("select doc_id from documents where source_path = '006_reprint.txt'")[0]
    reclustered = {r[0] for r in claimwire.warehouse_query(
        "select distinct p.doc_id from passages p join passage_cluster_members m using (passage_id) where m.cluster_id in "
        f"(select cluster_id from passage_cluster_members join passages using (passage_id) where doc_id = '{reprint}')"
    )}
    assert copied_doc in reclustered and reprint in reclustered
    scope = _latest_scopes(claimwire)["claims"]
    assert (scope["n_documents"], scope["n_documents_changed"]) == (1, len(reclustered))

    monkeypatch.setenv("CLAIMWIRE_CHECK_SCOPE", "all")
    result = claimwire.run(raise_on_error=False)
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert [e.check_name for e in failed] == ["claims_expectations"]
    sample = failed[0].metadata["sample_cross_table_failures"].value.splitlines()[2:]
    # every row: the spans too (a quote's offsets past its document's end)
    assert {(line.split("|")[1].strip(), line.split("|")[4].strip()) for line in sample} == {
        (copied, "claim_references:passage_span"), (untouched, "claim_references:passage_span"),
        (copied, "quote_offsets:bounds"), (untouched, "quote_offsets:bounds"),
    }


def test_every_broken_reference_of_a_claim_is_picked_and_named(claimwire):
    """DuckDB's suspects hold every claim that breaks a reference rule, one rule at a time and
    several at once, whatever its scope: the rules then name each broken reference."""
    import duckdb

    from pipelines.defs import validate as validate_defs

    claimwire.add_seeds()
    assert claimwire.run().success
    with duckdb.connect(str(claimwire.warehouse)) as conn:
        ids = [r[0] for r in conn.sql("select claim_id from claims order by claim_id limit 6").fetchall()]
        (other_doc,) = conn.execute(
            "select min(doc_id) from documents where doc_id <> (select doc_id from claims where claim_id = ?)", [ids[3]]
        ).fetchall()[0]
        conn.execute("update claims set cluster_id = 'another-cluster' where claim_id = ?", [ids[0]])
        conn.execute("update claims set char_start = -1 where claim_id = ?", [ids[1]])
        conn.execute("update claims set char_end = char_end + 100000 where claim_id = ?", [ids[2]])
        conn.execute("update claims set doc_id = ? where claim_id = ?", [other_doc, ids[3]])
        conn.execute("update claims set doc_id = 'no-such-document' where claim_id = ?", [ids[4]])
        conn.execute("update claims set passage_id = 'no-such-passage' where claim_id = ?", [ids[5]])
        conn.execute("create temp table _check_scope as select doc_id from documents where false")
        failures = validate_defs._cross_table_failures(conn, "claims")
    assert sorted(failures.select("claim_id", "failed_check").rows()) == sorted([
        (ids[0], "claim_references:cluster_id"),
        (ids[1], "claim_references:passage_span"),
        (ids[2], "claim_references:passage_span"),
        (ids[3], "claim_references:passage_doc"),
        (ids[4], "claim_references:doc_id"), (ids[4], "claim_references:passage_doc"),
        (ids[5], "claim_references:passage_id"),
    ])


# (table, the span column a tampered row gets wrong, the failing rule)
SCOPE_READS = [("passages", "text", "passage_offsets:text"), ("claims", "quote", "quote_offsets:quote")]


@pytest.mark.parametrize(("table", "span", "rule"), SCOPE_READS, ids=[t for t, _, _ in SCOPE_READS])
def test_a_small_scope_is_read_once_with_the_same_frame_and_span_failures(claimwire, table, span, rule):
    """The passages and claims checks read a small scope's rows once (`_scope_rows`): the frame
    Great Expectations validates and the span failures are the ones two reads give, and a row
    whose span no longer matches its document fails, in a run too."""
    import duckdb

    from pipelines.defs import validate as validate_defs

    key = "passage_id" if table == "passages" else "claim_id"
    claimwire.add_seeds()
    assert claimwire.run().success
    with duckdb.connect(str(claimwire.warehouse)) as conn:
        (tampered, doc_id) = conn.sql(f"select {key}, doc_id from {table} order by {key} limit 1").fetchall()[0]
        conn.execute(f"update {table} set {span} = 'tampered' || {span} where {key} = ?", [tampered])
        # the tampered row's document and one other: a scope smaller than the table
        conn.execute(
            "create temp table _check_scope as select ? as doc_id union select min(doc_id) from documents where doc_id <> ?",
            [doc_id, doc_id],
        )
        if table == "claims":
            # a quarantined row of the scope joins the frame, not the quotes
            conn.execute(
                "insert into quarantine by name select *, 'claims:test' as failed_check, 'moved here' as reason "
                "from claims where doc_id = ? and claim_id <> ? order by claim_id limit 1", [doc_id, tampered],
            )
            conn.execute("delete from claims where claim_id in (select claim_id from quarantine)")
        frame, spans = validate_defs._scope_rows(conn, table)
        # the same rows and columns as the checked relation's (both reads are unordered)
        assert frame.sort(key).equals(validate_defs._frame_for(conn, table, scoped=True).sort(key))
        assert frame["doc_id"].n_unique() == 2
        # the spans are the kept rows': every passage, the claims but the quarantined one
        assert spans.height == frame.height - (table == "claims") > 2
        one_read = validate_defs._cross_table_failures(conn, table, spans)
        two_reads = validate_defs._cross_table_failures(conn, table)
    assert one_read.equals(two_reads)
    assert one_read.select(key, "failed_check").rows() == [(tampered, rule)]

    # the check itself: a run finds the tampered row in the scope of its document
    with duckdb.connect(str(claimwire.warehouse)) as conn:
        conn.execute(f"delete from stage_progress where stage = 'check:{table}' and doc_id = ?", [doc_id])
    result = claimwire.run(raise_on_error=False)
    assert not result.success
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert [e.check_name for e in failed] == [f"{table}_expectations"]
    assert failed[0].metadata["cross_table_failures"].value == 1
    assert _latest_scopes(claimwire)[table]["n_documents"] == 1


def test_a_large_scope_is_compared_range_by_range_with_duckdbs_cache_given_up(claimwire, monkeypatch):
    """Past `SPAN_CHECK_DOCUMENTS` documents, the passages and claims checks compare spans one
    range of documents at a time and let DuckDB give up its cached blocks after reading the
    frame and after each range: every document is still compared, and a quote that no longer
    matches its document fails the check in whichever range it falls."""
    import duckdb

    from pipelines.defs import validate as validate_defs
    from pipelines.defs.resources import Warehouse

    monkeypatch.setattr(validate_defs, "SPAN_CHECK_DOCUMENTS", 2)  # the five seeds: three ranges
    drops = []
    real_drop = Warehouse.drop_cached_blocks
    monkeypatch.setattr(Warehouse, "drop_cached_blocks", lambda self, conn, keep="256MB": drops.append(keep) or real_drop(self, conn, keep))
    claimwire.add_seeds()
    result = claimwire.run()
    assert result.success and all(e.passed for e in result.get_asset_check_evaluations())
    # each of the two checks: once after reading its frame, once after each of its three ranges
    assert drops.count(validate_defs.LARGE_CHECK_CACHE) == 8

    with duckdb.connect(str(claimwire.warehouse)) as conn:
        conn.execute("update claims set quote = 'tampered' where claim_id = (select max(claim_id) from claims)")
    monkeypatch.setenv("CLAIMWIRE_CHECK_SCOPE", "all")
    result = claimwire.run(raise_on_error=False)
    failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert [e.check_name for e in failed] == ["claims_expectations"]
    assert failed[0].metadata["cross_table_failures"].value == 1
