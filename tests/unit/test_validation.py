"""Unit tests for pipelines.lib.validation: the suites in expectations/, the report, the cross-table rules.

Every suite gets a clean frame that passes and dirty frames that break one rule each; each bad
value is commented with the rule it breaks. GX is imported once (loading the suites imports it).
"""

import json
import re
from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from pipelines.lib import validation
from pipelines.lib.validation import (
    DEFAULT_SUITES_DIR,
    SuiteError,
    ValidationRunError,
    check_claim_references,
    check_passage_offsets,
    check_quote_offsets,
    load_suite,
    load_suites,
    split_rows,
    validate_frame,
)

SHA_A = "a" * 64
SHA_B = "b" * 64
T0 = datetime(2026, 1, 1)

PAY_LOW = "expect_column_values_to_be_between:value_low"
PAY_HIGH = "expect_column_values_to_be_between:value_high"
LOW_LE_HIGH = "expect_column_pair_values_a_to_be_greater_than_b:value_high,value_low"


@pytest.fixture(scope="session")
def suites():
    return load_suites(DEFAULT_SUITES_DIR)


# --- clean frames ----------------------------------------------------------------------------


def claims_frame(rows: list[dict]) -> pl.DataFrame:
    """Claims with valid defaults; each dict overrides some columns of one row."""
    base = {
        "doc_id": "d1",
        "passage_id": "d1-p0001",
        "cluster_id": "k1",
        "char_start": 10,
        "char_end": 16,
        "quote": "$2,000",
        "sentence": "Soldiers are paid $2,000 a month.",
        "value_low": 2000.0,
        "value_high": 2000.0,
        "unit": "USD",
        "qualifier": "exact",
        "period": "month",
        "measure": "pay_per_soldier",
        "subject": None,
        "attributed_to": None,
        "is_syndicated_copy": False,
    }
    return pl.DataFrame(
        [{"claim_id": f"c{i:02d}", **base, **row} for i, row in enumerate(rows)],
        schema={
            "claim_id": pl.Utf8, "doc_id": pl.Utf8, "passage_id": pl.Utf8, "cluster_id": pl.Utf8,
            "char_start": pl.Int32, "char_end": pl.Int32, "quote": pl.Utf8, "sentence": pl.Utf8,
            "value_low": pl.Float64, "value_high": pl.Float64, "unit": pl.Utf8, "qualifier": pl.Utf8,
            "period": pl.Utf8, "measure": pl.Utf8, "subject": pl.Utf8, "attributed_to": pl.Utf8,
            "is_syndicated_copy": pl.Boolean,
        },
    )


CLEAN_CLAIM_ROWS = [
    {},
    {"qualifier": "approx", "attributed_to": "NIS", "value_low": 1800.0, "value_high": 2200.0},
    {"measure": "bonus", "period": "one_time", "value_low": 5000.0, "value_high": 5000.0, "qualifier": "up_to"},
    {"measure": "worker_wages", "value_low": 1.0, "value_high": 20000.0},
    {"measure": "revenue", "period": "year", "value_low": 2e8, "value_high": 2e8, "qualifier": "more_than"},
    {"measure": "food_aid", "unit": "metric_ton", "period": None, "value_low": 6e5, "value_high": 7e5},
    {"measure": "grain_shortfall", "unit": "metric_ton", "period": "year", "value_low": 1e6, "value_high": 1e6},
    {"measure": "troops_deployed", "unit": "person", "period": None, "value_low": 10000.0, "value_high": 12000.0},
    {"measure": "generals", "unit": "person", "period": None, "value_low": 1.0, "value_high": 1.0},
    {"measure": "casualties", "unit": "person", "period": None, "value_low": 2e6, "value_high": 2e6, "qualifier": "at_most"},
    {"measure": "pay_per_soldier", "unit": "KRW", "value_low": 2_500_000.0, "value_high": 2_500_000.0},
    {"measure": "munitions", "unit": "shell", "period": "year", "value_low": 3e6, "value_high": 3e6, "qualifier": "at_least"},
    {"measure": "other", "unit": "percent", "period": None, "value_low": 0.0, "value_high": 40.0, "qualifier": "less_than"},
    {"measure": "other", "unit": "day", "period": "week", "value_low": 3.0, "value_high": 3.0},
]


def clean_claims() -> pl.DataFrame:
    return claims_frame(CLEAN_CLAIM_ROWS)


def clean_quarantine() -> pl.DataFrame:
    return claims_frame([{"value_low": 50.0, "value_high": 50.0}]).with_columns(
        failed_check=pl.lit(PAY_LOW), reason=pl.lit("monthly pay per soldier in USD is at least 100")
    )


def clean_documents() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "doc_id": ["d1", "d2"],
            "source_path": ["000_a.txt", "sub/001_b.txt"],
            "content_sha256": [SHA_A, SHA_B],
            "size_bytes": [120, 80],
            "encoding": ["utf-8", "utf-8"],
            "title": ["Kim’s “army”", None],
            "outlet": ["Outlet X", None],
            "published_at": [datetime(2024, 11, 4), None],
            "n_chars": [33, 5],
            # the check validates the texts by their length (pipelines/defs/validate.py)
            "text_length": [33, 5],
            "ingest_batch_id": ["b1", "b1"],
            "ingested_at": [T0, T0],
            "is_current": [True, True],
        }
    )


def clean_passages() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "passage_id": ["d1-p0001", "d1-p0002", "d2-p0001"],
            "doc_id": ["d1", "d1", "d2"],
            "ordinal": [1, 2, 1],
            "char_start": [0, 40, 0],
            "char_end": [33, 60, 5],
            "text_length": [33, 10, 5],  # the check validates the text by its length
            "is_boilerplate": [False, True, False],
            "boilerplate_reason": [None, "donation_appeal", None],
            "cluster_id": ["k1", "k2", "k3"],
        }
    )


def clean_clusters() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "cluster_id": ["k1", "k2", "k3"],
            "canonical_passage_id": ["d1-p0001", "d2-p0001", "d3-p0001"],
            "n_passages": [1, 3, 2],
            "n_documents": [1, 2, 2],
            "match_kind": ["exact", "near", "paraphrase"],
            "min_similarity": [1.0, 0.82, 0.0],
        }
    )


def clean_facts() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "fact_id": ["f1", "f2"],
            "measure": ["pay_per_soldier", "troops_deployed"],
            "unit": ["USD", "person"],
            "period": ["month", None],
            "value_low": [2000.0, 10000.0],
            "value_high": [2000.0, 12000.0],
            "qualifiers": [["approx", "exact"], ["approx"]],
            "n_mentions": [3, 1],
            "n_documents": [3, 1],
            "n_independent_sources": [2, 1],
            "attributed_to": [["NIS"], []],
            "first_seen_at": [datetime(2024, 11, 4), None],
            # the check sees a fact's claim_ids as their count (pipelines.defs.validate._frame_for)
            "n_claim_ids": [3, 1],
            "conflicts_with": [[], []],
        },
        schema_overrides={"attributed_to": pl.List(pl.Utf8), "conflicts_with": pl.List(pl.Utf8)},
    )


def clean_rejected() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "source_path": ["bad.bin", "empty.txt"],
            "content_sha256": [SHA_A, None],
            "reason": ["binary", "empty"],
            "detail": ["40 control characters in 100 decoded characters", "the file has no content"],
            "seen_at": [T0, T0],
            "ingest_batch_id": ["b1", "b1"],
        }
    )


CLEAN = {
    "claims": clean_claims,
    "quarantine": clean_quarantine,
    "documents": clean_documents,
    "passages": clean_passages,
    "passage_clusters": clean_clusters,
    "facts": clean_facts,
    "rejected_files": clean_rejected,
}


def test_every_published_table_has_a_suite(suites):
    # `release` validates the staged release's row counts (tested below with its own frames)
    assert sorted(suites) == sorted([*CLEAN, "release"])


@pytest.mark.parametrize("table", sorted(CLEAN))
def test_clean_frame_passes(suites, table):
    df = CLEAN[table]()
    report = validate_frame(df, suites[table])
    assert [r.check_name for r in report.blocking_failures] == []
    assert report.success is True
    assert report.n_rows == df.height
    assert report.failing_rows.height == 0
    assert all(r.n_failed in (0, None) for r in report.results)


# --- structural rules: any failure blocks, and no row is quarantined ---------------------------


def with_row(df: pl.DataFrame, i: int, **values) -> pl.DataFrame:
    """`df` with row i's columns set to `values`."""
    return df.with_columns(
        pl.when(pl.int_range(pl.len()) == i).then(pl.lit(v, dtype=df.schema[c])).otherwise(pl.col(c)).alias(c)
        for c, v in values.items()
    )


STRUCTURAL_CASES = [
    # (table, edit of the clean frame, failing check, failing row indices)
    ("claims", lambda df: with_row(df, 3, claim_id="c00"),  # claim_id unique
     "expect_column_values_to_be_unique:claim_id", (0, 3)),
    ("claims", lambda df: with_row(df, 2, claim_id=None),  # claim_id not null
     "expect_column_values_to_not_be_null:claim_id", (2,)),
    ("claims", lambda df: with_row(df, 5, unit="tons"),  # unit normalised: metric_ton
     "expect_column_values_to_not_be_in_set:unit", (5,)),
    ("claims", lambda df: with_row(df, 0, unit="Usd"),  # unit is ISO code or lower-case noun
     "expect_column_values_to_match_regex:unit", (0,)),
    ("claims", lambda df: with_row(df, 1, qualifier="roughly"),  # qualifier vocabulary
     "expect_column_values_to_be_in_set:qualifier", (1,)),
    ("claims", lambda df: with_row(df, 4, period="annually"),  # period vocabulary
     "expect_column_values_to_be_in_set:period", (4,)),
    ("claims", lambda df: with_row(df, 6, char_end=10),  # char_end > char_start
     "expect_column_pair_values_a_to_be_greater_than_b:char_end,char_start", (6,)),
    ("claims", lambda df: with_row(df, 7, char_start=-1),  # char_start >= 0
     "expect_column_values_to_be_between:char_start", (7,)),
    ("claims", lambda df: with_row(df, 8, quote=""),  # quote not empty
     "expect_column_value_lengths_to_be_between:quote", (8,)),
    ("claims", lambda df: with_row(df, 9, measure="Pay Per Soldier"),  # measure is a snake_case key
     "expect_column_values_to_match_regex:measure", (9,)),
    ("quarantine", lambda df: with_row(df, 0, failed_check="too big"),  # failed_check names expectations
     "expect_column_values_to_match_regex:failed_check", (0,)),
    ("quarantine", lambda df: with_row(df, 0, reason=""),  # reason says why
     "expect_column_value_lengths_to_be_between:reason", (0,)),
    ("documents", lambda df: with_row(df, 1, doc_id="d1"),  # doc_id unique
     "expect_column_values_to_be_unique:doc_id", (0, 1)),
    ("documents", lambda df: with_row(df, 1, content_sha256=SHA_A),  # content_sha256 unique
     "expect_column_values_to_be_unique:content_sha256", (0, 1)),
    ("documents", lambda df: with_row(df, 0, content_sha256="A" * 64),  # lower-case hex digest
     "expect_column_values_to_match_regex:content_sha256", (0,)),
    ("documents", lambda df: with_row(df, 1, n_chars=0),  # n_chars > 0
     "expect_column_values_to_be_between:n_chars", (1,)),
    ("documents", lambda df: with_row(df, 1, text_length=0),  # text not empty
     "expect_column_values_to_be_between:text_length", (1,)),
    ("documents", lambda df: with_row(df, 0, text_length=None),  # text never null
     "expect_column_values_to_not_be_null:text_length", (0,)),
    ("passages", lambda df: with_row(df, 2, passage_id="d1-p0001"),  # passage_id unique
     "expect_column_values_to_be_unique:passage_id", (0, 2)),
    ("passages", lambda df: with_row(df, 1, char_end=40),  # char_start < char_end
     "expect_column_pair_values_a_to_be_greater_than_b:char_end,char_start", (1,)),
    ("passages", lambda df: with_row(df, 1, ordinal=1),  # one passage per (doc_id, ordinal)
     "expect_compound_columns_to_be_unique:doc_id,ordinal", (0, 1)),
    ("passages", lambda df: with_row(df, 1, boilerplate_reason=None),  # boilerplate has a reason
     "expect_column_values_to_not_be_null:boilerplate_reason", (1,)),
    ("passages", lambda df: with_row(df, 2, boilerplate_reason="byline"),  # only boilerplate has one
     "expect_column_values_to_be_null:boilerplate_reason", (2,)),
    ("passages", lambda df: with_row(df, 1, text_length=0),  # text not empty
     "expect_column_values_to_be_between:text_length", (1,)),
    ("passages", lambda df: with_row(df, 0, is_boilerplate=None),  # is_boilerplate never unknown
     "expect_column_values_to_not_be_null:is_boilerplate", (0,)),
    ("passage_clusters", lambda df: with_row(df, 2, cluster_id="k1"),  # cluster_id unique
     "expect_column_values_to_be_unique:cluster_id", (0, 2)),
    ("passage_clusters", lambda df: with_row(df, 1, match_kind="single"),  # exact | near | paraphrase
     "expect_column_values_to_be_in_set:match_kind", (1,)),
    ("passage_clusters", lambda df: with_row(df, 1, min_similarity=1.2),  # similarity in [0, 1]
     "expect_column_values_to_be_between:min_similarity", (1,)),
    ("passage_clusters", lambda df: with_row(df, 2, n_documents=3),  # n_documents <= n_passages
     "expect_column_pair_values_a_to_be_greater_than_b:n_passages,n_documents", (2,)),
    ("facts", lambda df: with_row(df, 0, fact_id="f2"),  # fact_id unique
     "expect_column_values_to_be_unique:fact_id", (0, 1)),
    ("facts", lambda df: with_row(df, 1, value_low=13000.0),  # value_low <= value_high
     LOW_LE_HIGH, (1,)),
    ("facts", lambda df: with_row(df, 0, n_independent_sources=4, n_documents=3),  # sources <= documents
     "expect_column_pair_values_a_to_be_greater_than_b:n_documents,n_independent_sources", (0,)),
    ("facts", lambda df: with_row(df, 0, n_documents=4, n_independent_sources=2),  # documents <= mentions
     "expect_column_pair_values_a_to_be_greater_than_b:n_mentions,n_documents", (0,)),
    ("facts", lambda df: with_row(df, 0, n_claim_ids=2),  # every mention's claim id is listed
     "expect_column_pair_values_to_be_equal:n_claim_ids,n_mentions", (0,)),
    ("facts", lambda df: with_row(df, 1, unit="soldiers"),  # soldiers are unit person
     "expect_column_values_to_not_be_in_set:unit", (1,)),
    ("rejected_files", lambda df: with_row(df, 0, reason="Not Text"),  # reason is a snake_case code
     "expect_column_values_to_match_regex:reason", (0,)),
    ("rejected_files", lambda df: with_row(df, 1, detail=""),  # detail explains
     "expect_column_value_lengths_to_be_between:detail", (1,)),
]


@pytest.mark.parametrize(
    ("table", "edit", "check", "rows"), STRUCTURAL_CASES, ids=[f"{c[0]}-{c[2]}" for c in STRUCTURAL_CASES]
)
def test_structural_failure_blocks(suites, table, edit, check, rows):
    report = validate_frame(edit(CLEAN[table]()), suites[table])
    assert report.success is False
    assert [(r.check_name, r.failing_row_indices) for r in report.blocking_failures] == [(check, rows)]
    assert report.blocking_failures[0].level == "structural"
    assert report.failing_rows.height == 0


def test_singleton_cluster_must_be_exact_with_similarity_one(suites):
    # k1 is a singleton (n_passages == 1): a singleton cluster is exact, with min_similarity 1.0
    df = with_row(clean_clusters(), 0, match_kind="near", min_similarity=0.9)
    report = validate_frame(df, suites["passage_clusters"])
    assert [(r.check_name, r.failing_row_indices) for r in report.blocking_failures] == [
        ("expect_column_values_to_be_in_set:match_kind", (0,)),
        ("expect_column_values_to_be_between:min_similarity", (0,)),
    ]


def test_missing_required_column_raises_naming_the_suite(suites):
    with pytest.raises(ValidationRunError, match=r"suite 'claims': \d+ expectation\(s\) could not be evaluated: .*expect_column_values_to_not_be_null:unit: "):
        validate_frame(clean_claims().drop("unit"), suites["claims"])


# --- row-level rules: quarantine rows, block beyond `mostly` --------------------------------------

RANGE_CASES = [
    # (row overriding a clean claim, failing check) — each row breaks one plausible range
    ({"value_low": 50.0, "value_high": 50.0}, PAY_LOW),  # pay 100–20,000 USD a month
    ({"value_low": 2000.0, "value_high": 25000.0}, PAY_HIGH),  # pay 100–20,000 USD a month
    ({"measure": "bonus", "period": "one_time", "value_low": 2e6, "value_high": 2e6}, PAY_HIGH),  # bonus 100–1,000,000
    ({"measure": "worker_wages", "value_low": 0.5, "value_high": 0.5}, PAY_LOW),  # wages 1–20,000 USD a month
    ({"measure": "revenue", "period": "year", "value_low": 500.0, "value_high": 500.0}, PAY_LOW),  # revenue ≥ 1,000
    ({"measure": "revenue", "period": None, "value_low": 2e11, "value_high": 2e11}, PAY_HIGH),  # revenue ≤ 1e11
    ({"measure": "food_aid", "unit": "metric_ton", "period": None, "value_low": 500.0, "value_high": 500.0}, PAY_LOW),
    ({"measure": "grain_production", "unit": "metric_ton", "period": "year", "value_low": 1e6, "value_high": 2e7}, PAY_HIGH),
    ({"measure": "officers", "unit": "person", "period": None, "value_low": 0.0, "value_high": 0.0}, PAY_LOW),  # ≥ 1
    ({"measure": "troops_deployed", "unit": "person", "period": None, "value_low": 3e6, "value_high": 3e6}, PAY_HIGH),
    ({"measure": "other", "unit": "container", "value_low": -5.0, "value_high": 5.0}, PAY_LOW),  # value_low >= 0
    ({"value_low": 3000.0, "value_high": 2000.0}, LOW_LE_HIGH),  # value_low <= value_high
]


def test_each_implausible_row_is_quarantined_without_blocking(suites):
    # Each bad row sits among 19 plausible rows of its own kind, so at most 1 in 10 rows in any
    # rule's scope fails: within mostly = 0.9, nothing blocks. One frame keeps this to one GX run.
    rows, expected = [], []
    for bad_row, check in RANGE_CASES:
        plausible = {k: v for k, v in bad_row.items() if k not in ("value_low", "value_high")}
        if plausible.get("measure") == "other":
            plausible = {}
        elif "measure" in plausible:
            plausible |= {"value_low": 5000.0, "value_high": 5000.0}
        rows += [plausible] * 7
        expected.append((len(rows), check))
        rows += [bad_row] + [plausible] * 12
    report = validate_frame(claims_frame(rows), suites["claims"])
    assert report.success is True
    assert report.failing_rows.select("row_index", "failed_check").rows() == expected
    assert {r.level for r in report.results if r.n_failed} == {"row"}


def test_only_expectations_that_failed_rows_run_again_for_their_rows(suites, monkeypatch):
    # A suite runs once in Great Expectations' BASIC format (counts, a sample of values); the
    # expectations that found failing rows run again in COMPLETE for their row indices. The
    # report is the one a single COMPLETE run gives, and a clean frame runs once.
    calls = []
    run_suite = validation._run_suite

    def recorded(pdf, suite, indexes, result_format, *args):
        calls.append((indexes, result_format))
        return run_suite(pdf, suite, indexes, result_format, *args)

    monkeypatch.setattr(validation, "_run_suite", recorded)
    suite = suites["claims"]
    validate_frame(CLEAN["claims"](), suite)
    assert calls == [(tuple(range(len(suite.expectations))), "BASIC")]

    calls.clear()
    rows = [{}] * 20
    rows[3] = {"value_low": 50.0, "value_high": 50.0}  # monthly pay below 100: a row-level failure
    frame = with_row(claims_frame(rows), 6, claim_id="c00", char_end=1)  # a duplicate id, an end before its start
    report = validate_frame(frame, suite)
    failed = tuple(i for i, r in enumerate(report.results) if r.n_failed)
    assert [suite.expectations[i].check_name for i in failed] == [
        "expect_column_values_to_be_unique:claim_id",
        "expect_column_pair_values_a_to_be_greater_than_b:char_end,char_start",
        PAY_LOW,
    ]
    assert calls == [(tuple(range(len(suite.expectations))), "BASIC"), (failed, "COMPLETE")]
    complete = validation._collect_results(
        suite, run_suite(validation._gx_frame(frame, suite).to_pandas(), suite, calls[0][0], "COMPLETE")
    )
    assert report.results == complete
    assert [(r.failing_row_indices, r.failing_values) for r in report.results if r.n_failed] == [
        ((0, 6), ("c00", "c00")), ((6,), ([1, 10],)), ((3,), (50.0,)),
    ]


def _claims_with_failures_in_several_slices() -> pl.DataFrame:
    """45 claims: structural failures (a qualifier outside the vocabulary, a duplicate id, an
    end before its start, a missing column value) and row-level ones (pay out of range) spread
    over what slices of 10 rows make of them, several in one slice."""
    rows = [dict(CLEAN_CLAIM_ROWS[i % len(CLEAN_CLAIM_ROWS)]) for i in range(45)]
    for i in (3, 17, 18, 41):
        rows[i] = {"value_low": 50.0, "value_high": 50.0}  # monthly pay below 100
    rows[12] = {"qualifier": "roughly"}
    rows[29] = {"qualifier": "nearly"}
    frame = with_row(claims_frame(rows), 25, claim_id="c27", char_end=1)  # a duplicate within one slice
    return with_row(frame, 38, period="fortnight")


def _judged_over_the_table(suite) -> frozenset[int]:
    return frozenset(rule.index for rule in validation.table_wide_rules(suite))


def test_a_frame_validated_in_slices_gives_the_whole_frames_report_and_page(suites, tmp_path, monkeypatch):
    # The claims suite in a scoped check: its key and `mostly` rules are judged over the table
    # in SQL, every other rule is row-local or about the columns, so Great Expectations may see
    # the frame 10 rows at a time: the same results, failing rows (at their rows in the frame),
    # sample values and Data Docs page as the whole frame in one run.
    suite, frame = suites["claims"], _claims_with_failures_in_several_slices()
    judged = _judged_over_the_table(suite)
    assert validation.can_validate_in_slices(suite, judged) is True
    whole = validate_frame(frame, suite, data_docs_dir=tmp_path / "whole")
    seen, released = [], []
    run_suite = validation._run_suite

    def recorded(pdf, *args):
        seen.append(len(pdf))
        return run_suite(pdf, *args)

    monkeypatch.setattr(validation, "_run_suite", recorded)
    sliced = validate_frame(
        frame, suite, data_docs_dir=tmp_path / "sliced", slice_rows=10, judged_elsewhere=judged,
        between_slices=lambda: released.append(1),
    )
    assert sorted(set(seen)) == [5, 10] and len(released) == 5  # 45 rows: four slices of 10 and one of 5
    assert sliced.results == whole.results
    assert sliced.failing_rows.equals(whole.failing_rows)
    assert (sliced.success, sliced.n_rows) == (whole.success, whole.n_rows) == (False, 45)
    assert sliced.failing_rows["row_index"].to_list() == [3, 17, 18, 41]  # the row-level rules' rows
    qualifier = next(r for r in sliced.results if r.check_name == "expect_column_values_to_be_in_set:qualifier")
    assert (qualifier.n_checked, qualifier.n_failed, qualifier.failing_values) == (45, 2, ("roughly", "nearly"))
    pages = [sorted((tmp_path / side / "validations").rglob("*.html")) for side in ("whole", "sliced")]
    assert len(pages[0]) == len(pages[1]) == 1
    assert _page_without_ids(pages[1][0]) == _page_without_ids(pages[0][0])

    # A key's repeats in two slices are no slice's: that rule is judged over the table by the
    # caller (`merge_table_wide` replaces its counts), and only it differs.
    across = with_row(frame, 2, claim_id="c44")
    whole, sliced = validate_frame(across, suite), validate_frame(across, suite, slice_rows=10, judged_elsewhere=judged)
    differ = [i for i, (a, b) in enumerate(zip(whole.results, sliced.results)) if a != b]
    assert [suite.expectations[i].check_name for i in differ] == ["expect_column_values_to_be_unique:claim_id"]
    assert set(differ) <= judged
    assert (whole.results[differ[0]].n_failed, sliced.results[differ[0]].n_failed) == (4, 2)  # c27 twice in one slice


def test_a_page_merged_from_slices_states_the_whole_frames_counts_and_shares(suites):
    suite, frame = suites["claims"], _claims_with_failures_in_several_slices()
    every = tuple(range(len(suite.expectations)))

    def gx(part):
        return validation._run_suite_result(validation._gx_frame(part, suite).to_pandas(), suite, every, "BASIC")

    whole = gx(frame)
    slices = [gx(frame.slice(offset, 10)) for offset in range(0, 45, 10)]
    merged = validation._merged_gx_results(
        [validation._basic_copy({r.expectation_config.meta["claimwire_index"]: r for r in s.results}) for s in slices[:-1]],
        slices[-1],
    )
    assert [(r.success, r.result) for r in merged.results] == [(r.success, r.result) for r in whole.results]
    assert (merged.success, merged.statistics) == (whole.success, whole.statistics)
    assert [r.result["element_count"] for r in slices[-1].results if "element_count" in r.result][0] == 5  # not changed


def test_a_suite_whose_rules_need_every_row_is_validated_whole(suites, monkeypatch):
    # A `mostly` share or a key that the caller does not judge over the table needs every row
    # in one run: given slices, the frame is still validated in one.
    suite, frame = suites["claims"], _claims_with_failures_in_several_slices()
    assert validation.can_validate_in_slices(suite) is False
    # a key the database enforces is checked by GX on the scope's rows, all at once
    enforced = validation.table_wide_rules(suites["passages"], enforced_keys=frozenset({frozenset({"passage_id"})}))
    assert validation.can_validate_in_slices(suites["passages"], frozenset(r.index for r in enforced)) is False
    seen = []
    run_suite = validation._run_suite
    monkeypatch.setattr(validation, "_run_suite", lambda pdf, *args: seen.append(len(pdf)) or run_suite(pdf, *args))
    report = validate_frame(frame, suite, slice_rows=10, between_slices=lambda: pytest.fail("validated in slices"))
    assert set(seen) == {45}
    assert report.results == validate_frame(frame, suite).results


def test_a_frame_level_failure_found_in_slices_is_reported_once(tmp_path):
    suite = load_suite(write_suite(tmp_path, [
        structural("expect_table_columns_to_match_set", column_set=["a", "b"], exact_match=True),
        structural("expect_column_values_to_not_be_null", column="a"),
    ]))
    frame = pl.DataFrame({"a": [1, None, 3, 4, None], "c": ["x"] * 5})
    sliced = validate_frame(frame, suite, slice_rows=2, data_docs_dir=tmp_path / "sliced")
    assert sliced.results == validate_frame(frame, suite, data_docs_dir=tmp_path / "whole").results
    pages = [next((tmp_path / side / "validations").rglob("*.html")) for side in ("sliced", "whole")]
    assert _page_without_ids(pages[0]) == _page_without_ids(pages[1])
    # what the page is rendered from: GX's whole result, the column set's details included
    gx = [
        validation._run_suite_result(part.to_pandas(), suite, (0, 1), "BASIC")
        for part in (frame.slice(0, 2), frame.slice(2, 2), frame.slice(4, 2), frame)
    ]
    merged = validation._merged_gx_results(
        [validation._basic_copy({r.expectation_config.meta["claimwire_index"]: r for r in g.results}) for g in gx[:2]], gx[2]
    )
    stated = [json.dumps([(r.success, r.result) for r in g.results], default=str) for g in (merged, gx[3])]  # NaN as NaN
    assert stated[0] == stated[1]
    assert merged.results[0].result["details"] == {"mismatched": {"unexpected": ["c"], "missing": ["b"]}}
    columns, not_null = sliced.results
    assert (columns.success, columns.n_failed, len(columns.failing_values)) == (False, None, 1)
    assert (not_null.n_checked, not_null.n_failed, not_null.failing_row_indices) == (5, 2, (1, 4))


def _page_without_ids(path: Path) -> str:
    """A Data Docs page without its ids, run names and times: its counts and shares kept."""
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uuid>", text)
    text = re.sub(r"\d{8}T\d{6}\.\d+Z", "<run>", text)
    return re.sub(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(\+00:00|Z)?", "<time>", text)


def test_mostly_one_bad_pay_row_in_twenty_passes_fifteen_blocks(suites):
    one_bad = claims_frame([{}] * 19 + [{"value_low": 50.0, "value_high": 50.0}])  # pay >= 100 USD a month
    report = validate_frame(one_bad, suites["claims"])
    assert report.success is True
    assert report.failing_rows.rows() == [(19, PAY_LOW, "monthly pay per soldier in USD is at least 100 (plausible range 100–20,000)")]

    many_bad = claims_frame([{"value_low": 50.0, "value_high": 50.0}] * 15 + [{}] * 5)  # 75% break pay >= 100
    report = validate_frame(many_bad, suites["claims"])
    assert report.success is False
    assert [(r.check_name, r.n_checked, r.n_failed, r.success) for r in report.blocking_failures] == [(PAY_LOW, 20, 15, False)]
    assert report.failing_rows["row_index"].to_list() == list(range(15))


def test_ranges_apply_only_to_their_subset_and_indices_refer_to_the_frame(suites):
    rows = [{}] * 20
    rows[2] = {"unit": "KRW", "value_low": 50.0, "value_high": 50.0}  # not USD: the pay range does not apply
    rows[5] = {"period": "year", "value_low": 50.0, "value_high": 50.0}  # not monthly: does not apply
    rows[11] = {"period": None, "value_low": 50.0, "value_high": 50.0}  # null period: does not apply
    rows[17] = {"value_low": 50.0, "value_high": 50.0}  # monthly USD pay below 100: fails
    report = validate_frame(claims_frame(rows), suites["claims"])
    assert report.success is True
    assert report.failing_rows["row_index"].to_list() == [17]
    pay_low = next(r for r in report.results if r.rule.startswith("monthly pay per soldier in USD is at least"))
    assert (pay_low.n_checked, pay_low.n_failed, pay_low.failing_values) == (17, 1, (50.0,))


def test_split_rows_joins_several_failed_checks_per_row(suites):
    rows = [{}] * 20
    rows[4] = {"measure": "other", "unit": "shell", "value_low": -1.0, "value_high": -3.0}  # reversed AND negative
    rows[9] = {"value_low": 2000.0, "value_high": 90000.0}  # pay <= 20,000 USD a month
    df = claims_frame(rows)
    report = validate_frame(df, suites["claims"])
    assert report.success is True
    assert report.failing_rows.select("row_index", "failed_check").rows() == [
        (4, LOW_LE_HIGH), (4, PAY_LOW), (9, PAY_HIGH),
    ]
    passed, failed = split_rows(df, report)
    assert passed.columns == df.columns
    assert passed["claim_id"].to_list() == [f"c{i:02d}" for i in range(20) if i not in (4, 9)]
    assert failed.columns == [*df.columns, "failed_check", "reason"]
    assert failed.select("claim_id", "failed_check", "reason").rows() == [
        ("c04", f"{LOW_LE_HIGH}; {PAY_LOW}", "value_low <= value_high: a range is not reversed; a stated quantity is not negative"),
        ("c09", PAY_HIGH, "monthly pay per soldier in USD is at most 20,000 (plausible range 100–20,000)"),
    ]


def test_split_rows_refuses_a_report_for_another_frame(suites):
    report = validate_frame(clean_claims(), suites["claims"])
    with pytest.raises(ValueError, match="has 3 rows but the .claims. report is for 14"):
        split_rows(clean_claims().head(3), report)


def test_split_rows_of_a_clean_frame_keeps_every_row(suites):
    df = clean_claims()
    passed, failed = split_rows(df, validate_frame(df, suites["claims"]))
    assert passed.equals(df)
    assert (failed.height, failed.columns[-2:]) == (0, ["failed_check", "reason"])


def test_empty_frame_passes(suites):
    report = validate_frame(clean_claims().head(0), suites["claims"])
    assert (report.success, report.n_rows, report.failing_rows.height) == (True, 0, 0)


def test_metadata_rows_and_dict(suites):
    df = claims_frame([{}] * 19 + [{"value_low": 50.0, "value_high": 50.0}])
    report = validate_frame(df, suites["claims"])
    rows = report.to_metadata_rows()
    assert len(rows) == len(suites["claims"].expectations)
    assert rows[0] == {"expectation": "expect_table_columns_to_match_set", "level": "structural", "success": True, "n_failed": None}
    assert [r for r in rows if r["n_failed"]] == [{"expectation": PAY_LOW, "level": "row", "success": True, "n_failed": 1}]
    summary = json.loads(json.dumps(report.to_dict()))
    assert (summary["suite"], summary["success"], summary["n_rows"], summary["n_failed_rows"]) == ("claims", True, 20, 1)


def test_data_docs_site_is_written(suites, tmp_path):
    df = claims_frame([{}] * 19 + [{"value_low": 50.0, "value_high": 50.0}])
    report = validate_frame(df, suites["claims"], data_docs_dir=tmp_path / "docs")
    assert report.data_docs_index == (tmp_path / "docs" / "index.html").resolve()
    assert report.data_docs_index.is_file()
    pages = list((tmp_path / "docs" / "validations" / "claims").rglob("*.html"))
    assert len(pages) == 1
    assert "claims" in report.data_docs_index.read_text(encoding="utf-8")


def test_the_ephemeral_context_does_not_dump_its_config_and_renders_the_same_pages(suites, tmp_path, monkeypatch):
    """Adding a data source, asset, batch definition or Data Docs site to a GX context saves its
    project config; the ephemeral context's config stays in memory, where GX reads it: nothing
    is serialized, and the pages are those of a context that dumps it at every addition."""
    from great_expectations.data_context.data_context_variables import DataContextVariables

    df = claims_frame([{}] * 19 + [{"value_low": 50.0, "value_high": 50.0}])
    saved = []
    monkeypatch.setattr(DataContextVariables, "save", lambda self, save=DataContextVariables.save: saved.append(1) or save(self))
    quiet = validate_frame(df, suites["claims"], data_docs_dir=tmp_path / "quiet")
    assert saved == []
    monkeypatch.setattr(validation, "_without_config_dumps", lambda context: context)  # as GX is
    loud = validate_frame(df, suites["claims"], data_docs_dir=tmp_path / "loud")
    assert len(saved) >= 4
    assert quiet.results == loud.results
    for section in ("validations", "expectations"):
        pages = [sorted((tmp_path / side / section).rglob("*.html")) for side in ("quiet", "loud")]
        assert len(pages[0]) == len(pages[1]) == 1
        assert _page_text(pages[0][0]) == _page_text(pages[1][0])



def _page_text(path: Path) -> str:
    """A Data Docs page without what changes on every render: ids, timestamps, run names."""
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uuid>", text)
    return re.sub(r"\d+", "0", text)


def test_data_docs_pages_equal_gx_default_views(suites, tmp_path, monkeypatch):
    """Our views compile the templates once per process; the pages are GX's own."""
    df = claims_frame([{}] * 19 + [{"value_low": 50.0, "value_high": 50.0}])
    for _ in range(2):  # the second render comes from the shared environment
        ours = validate_frame(df, suites["claims"], data_docs_dir=tmp_path / "ours").data_docs_index
    default_site = {
        "class_name": "SiteBuilder",
        "store_backend": {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(tmp_path / "gx")},
        "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
    }
    monkeypatch.setattr(validation, "_data_docs_site", lambda docs_dir: default_site)
    for _ in range(2):
        theirs = validate_frame(df, suites["claims"], data_docs_dir=tmp_path / "gx").data_docs_index
    assert _page_text(ours) == _page_text(theirs)
    for section in ("validations", "expectations"):
        our_pages = sorted((tmp_path / "ours" / section).rglob("*.html"))
        their_pages = sorted((tmp_path / "gx" / section).rglob("*.html"))
        assert len(our_pages) == len(their_pages) >= 1
        for mine, gx_page in zip(our_pages, their_pages):
            assert _page_text(mine) == _page_text(gx_page)

# --- loading suites ---------------------------------------------------------------------------------


def write_suite(tmp_path: Path, expectations: list[dict], name: str = "t") -> Path:
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps({"name": name, "expectations": expectations}), encoding="utf-8")
    return path


def structural(type_: str, **kwargs) -> dict:
    return {"type": type_, "kwargs": kwargs, "meta": {"level": "structural", "rule": "a rule"}}


GOOD = structural("expect_column_values_to_not_be_null", column="a")


def test_all_shipped_suites_load_with_every_expectation(suites):
    for name, suite in suites.items():
        raw = json.loads((DEFAULT_SUITES_DIR / f"{name}.json").read_text(encoding="utf-8"))
        assert len(suite.expectations) == len(suite.gx_suite.expectations) == len(raw["expectations"])


BAD_SUITES = [
    # (the invalid expectation, what the error must say)
    (structural("expect_column_values_to_be_bogus", column="a"), r"expectation 1 \(expect_column_values_to_be_bogus:a\) is invalid: .*not found"),
    (structural("expect_column_values_to_be_in_set", column="a"), r"expectation 1 \(expect_column_values_to_be_in_set:a\) is invalid: .*value_set.*field required"),
    (structural("expect_column_values_to_be_in_set", column="a", value_set=["x"], colum="b"), r"expectation 1 .*colum.*extra fields not permitted"),
    (structural("expect_column_values_to_be_between", column="a"), r"expectation 1 .*min_value and max_value cannot both be None"),
    ({"type": "expect_column_values_to_be_unique", "kwargs": {"column": "a"}, "meta": {"rule": "r"}}, r"expectation 1 .*meta.level"),
    ({"type": "expect_column_values_to_be_unique", "kwargs": {"column": "a"}, "meta": {"level": "row", "rule": "r"}}, r"expectation 1 .*must set `mostly`"),
    (structural("expect_column_values_to_be_unique", column="a", mostly=0.5), r"expectation 1 .*must not set `mostly`"),
    ({"type": "expect_column_values_to_be_unique", "kwargs": {"column": "a"}, "meta": {"level": "structural"}}, r"expectation 1 .*meta.rule"),
    (structural("expect_column_values_to_not_be_null", column="a", row_condition="b ==", condition_parser="pandas"), r"expectation 1 .*row_condition 'b ==' does not parse"),
    ({"expectation_type": "expect_column_values_to_be_unique", "kwargs": {"column": "a"}}, r"expectation 1 .*unknown keys \['expectation_type'\]"),
]


@pytest.mark.parametrize(("bad", "message"), BAD_SUITES, ids=[m.split(" ")[2] + str(i) for i, (_, m) in enumerate(BAD_SUITES)])
def test_invalid_expectation_raises_suite_error_naming_it(tmp_path, bad, message):
    path = write_suite(tmp_path, [GOOD, bad])
    with pytest.raises(SuiteError, match=message) as err:
        load_suite(path)
    assert str(path) in str(err.value)


def test_suite_name_must_match_its_file(tmp_path):
    path = tmp_path / "claims.json"
    path.write_text(json.dumps({"name": "facts", "expectations": [GOOD]}), encoding="utf-8")
    with pytest.raises(SuiteError, match="name 'facts' must equal"):
        load_suite(path)


def test_unreadable_suite_raises(tmp_path):
    path = tmp_path / "t.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(SuiteError, match="cannot read JSON"):
        load_suite(path)


def test_row_condition_on_a_missing_column_cannot_pass(tmp_path):
    suite = load_suite(write_suite(tmp_path, [structural("expect_column_values_to_not_be_null", column="a", row_condition="nope == 1", condition_parser="pandas")]))
    with pytest.raises(ValidationRunError, match=r"suite 't': 1 expectation\(s\) could not be evaluated: expect_column_values_to_not_be_null:a: "):
        validate_frame(pl.DataFrame({"a": [1, 2]}), suite)


# --- cross-table rules ----------------------------------------------------------------------------

# Curly quotes and apostrophes are one character each but three bytes in UTF-8: a byte offset
# would point past them.
DOC_TEXT = "Kim’s “army” of 12,000 troops was paid “about $2,000” a month."
DOCS = pl.DataFrame({"doc_id": ["d1"], "text": [DOC_TEXT]})
PASSAGES = pl.DataFrame(
    {
        "passage_id": ["d1-p0001"],
        "doc_id": ["d1"],
        "char_start": [0],
        "char_end": [len(DOC_TEXT)],
        "text": [DOC_TEXT],
        "cluster_id": ["k1"],
    }
)


def span(text: str) -> tuple[int, int]:
    start = DOC_TEXT.index(text)
    return start, start + len(text)


def xclaims(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(
        rows,
        schema={"claim_id": pl.Utf8, "doc_id": pl.Utf8, "passage_id": pl.Utf8, "cluster_id": pl.Utf8,
                "char_start": pl.Int32, "char_end": pl.Int32, "quote": pl.Utf8},
        orient="row",
    )


TROOPS = ("c1", "d1", "d1-p0001", "k1", *span("12,000 troops"), "12,000 troops")
PAY = ("c2", "d1", "d1-p0001", "k1", *span("$2,000"), "$2,000")


def test_quote_offsets_count_characters_not_bytes():
    assert span("12,000 troops") == (16, 29)  # after ’ “ ” — 6 bytes more in UTF-8
    assert check_quote_offsets(xclaims([TROOPS, PAY]), DOCS).height == 0


def test_quote_offsets_report_mismatches_and_bounds():
    byte_start = len(DOC_TEXT[:16].encode("utf-8"))
    claims = xclaims([
        TROOPS,
        ("c2", "d1", "d1-p0001", "k1", byte_start, byte_start + 13, "12,000 troops"),  # byte offsets, not characters
        ("c3", "d1", "d1-p0001", "k1", 60, 70, "a month."),  # past the end of the text
        ("c4", "d9", "d9-p0001", "k1", 0, 3, "Kim"),  # no such document
        ("c5", "d1", "d1-p0001", "k1", -3, 2, "Ki"),  # negative offset (slice would count from the end)
    ])
    out = check_quote_offsets(claims, DOCS)
    assert out.select("claim_id", "failed_check", "found").rows() == [
        ("c2", "quote_offsets:quote", DOC_TEXT[byte_start:byte_start + 13]),
        ("c3", "quote_offsets:bounds", None),
        ("c4", "quote_offsets:doc_id", None),
        ("c5", "quote_offsets:bounds", None),
    ]
    assert out["reason"][1] == f"offsets [60, 70) are outside the document's {len(DOC_TEXT)} characters"


def test_passage_offsets_use_the_same_rule():
    assert check_passage_offsets(PASSAGES, DOCS).height == 0
    moved = PASSAGES.with_columns(char_start=pl.lit(1))  # text no longer matches the offsets
    assert check_passage_offsets(moved, DOCS).select("passage_id", "failed_check").rows() == [("d1-p0001", "passage_offsets:text")]


def test_claim_references_clean_and_dirty():
    assert check_claim_references(xclaims([TROOPS, PAY]), PASSAGES, DOCS).height == 0
    other_doc = pl.DataFrame({"doc_id": ["d2"], "text": ["“Hello”"]})
    passages = pl.concat([PASSAGES, pl.DataFrame({"passage_id": ["d2-p0001"], "doc_id": ["d2"], "char_start": [0], "char_end": [7], "text": ["“Hello”"], "cluster_id": ["k2"]})])
    claims = xclaims([
        TROOPS,
        ("c2", "d9", "d1-p0001", "k1", 16, 29, "12,000 troops"),  # document d9 does not exist (and passage is d1's)
        ("c3", "d1", "d1-p0099", "k1", 16, 29, "12,000 troops"),  # passage does not exist
        ("c4", "d1", "d2-p0001", "k2", 0, 5, "Hello"),  # passage d2-p0001 belongs to document d2
        ("c5", "d1", "d1-p0001", "k7", *span("$2,000"), "$2,000"),  # cluster is not the passage's
    ])
    out = check_claim_references(claims, passages, pl.concat([DOCS, other_doc]))
    assert out.select("claim_id", "failed_check").rows() == [
        ("c2", "claim_references:doc_id"),
        ("c2", "claim_references:passage_doc"),
        ("c3", "claim_references:passage_id"),
        ("c4", "claim_references:passage_doc"),
        ("c5", "claim_references:cluster_id"),
    ]
    assert out["reason"].to_list()[0] == "document d9 does not exist"
    assert out["reason"].to_list()[3] == "passage d2-p0001 belongs to document d2, not d1"


def test_release_suite_blocks_an_empty_table_with_a_non_empty_source_and_a_count_mismatch():
    """expectations/release.json: paired clean and dirty staged-release row counts."""
    from pipelines.lib.validation import load_suite

    suite = load_suite(DEFAULT_SUITES_DIR / "release.json")
    tables = ["documents", "rejected_files", "passages", "passage_clusters", "doc_syndication", "claims", "facts",
              "consistency", "quarantine"]
    clean = pl.DataFrame({
        "table_name": tables,
        "n_rows": [5, 0, 82, 81, 1, 33, 18, 8, 0],
        "n_rows_on_disk": [5, 0, 82, 81, 1, 33, 18, 8, 0],
        "n_upstream_rows": [5, 0, 5, 82, 0, 0, 33, 0, 0],
    })
    assert validate_frame(clean, suite).success
    dirty = clean.with_columns(
        # passages: empty although 5 documents exist (breaks "not empty when the source is not")
        n_rows=pl.when(pl.col("table_name") == "passages").then(0).otherwise(pl.col("n_rows")),
        # facts: the file holds 17 rows, the manifest says 18 (breaks "manifest equals files")
        n_rows_on_disk=pl.when(pl.col("table_name") == "facts").then(17)
        .when(pl.col("table_name") == "passages").then(0).otherwise(pl.col("n_rows_on_disk")),
    )
    report = validate_frame(dirty, suite)
    assert not report.success
    failed = {r["expectation"] for r in report.to_metadata_rows() if not r["success"]}
    assert failed == {"expect_column_values_to_be_between:n_rows", "expect_column_pair_values_to_be_equal:n_rows,n_rows_on_disk"}


def test_row_level_suite_screens_on_the_columns_it_reads_with_the_same_failures(suites):
    from pipelines.lib.validation import row_level_suite

    screening, columns = row_level_suite(suites["claims"])
    assert [s.level for s in screening.expectations] == ["row"] * 14
    assert columns == ("value_high", "value_low", "measure", "period", "unit")
    rows = [{}] * 20
    rows[3] = {"value_low": 50.0, "value_high": 50.0}  # pay below 100 USD a month
    rows[8] = {"measure": "other", "unit": "shell", "value_low": 5.0, "value_high": 4.0}  # reversed
    frame = with_row(claims_frame(rows), 5, quote="")  # structural: screening leaves it to the check
    whole = validate_frame(frame, suites["claims"])
    screened = validate_frame(frame.select(columns), screening)
    assert screened.failing_rows.equals(whole.failing_rows)
    assert screened.failing_rows["row_index"].to_list() == [3, 8]
    assert whole.success is False and screened.success is True


def _split_by_marks(frame: pl.DataFrame, marks: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(passed, failed) as the claims step writes them from `screen_marks`."""
    marked = frame.with_columns(marks)
    return (
        marked.filter(pl.col("failed_check").is_null()).drop("failed_check", "reason"),
        marked.filter(pl.col("failed_check").is_not_null()),
    )


def test_screening_distinct_values_splits_rows_as_screening_every_row(suites):
    from pipelines.lib.validation import row_level_suite, screen_marks, split_rows

    screening, columns = row_level_suite(suites["claims"])
    rows = [{}] * 30
    for i in (2, 9, 17, 25):  # one implausible value in four rows: validated once
        rows[i] = {"value_low": 50.0, "value_high": 50.0}
    rows[11] = {"measure": "other", "unit": "shell", "value_low": 5.0, "value_high": 4.0}  # reversed
    rows[12] = {"measure": "other", "unit": "shell", "value_low": 5.0, "value_high": None}  # nulls join as equal
    rows[13] = {"measure": "other", "unit": "shell", "value_low": 5.0, "value_high": None}
    frame = claims_frame(rows).with_columns(pl.int_range(pl.len()).alias("claim_id").cast(pl.Utf8))
    expected = split_rows(frame, validate_frame(frame.select(columns), screening))
    assert expected[1]["claim_id"].to_list() == ["2", "9", "11", "12", "13", "17", "25"]
    for slice_rows in (1, 4, 7, 1_000):
        marks = screen_marks(frame, screening, columns, slice_rows)
        assert marks.columns == ["failed_check", "reason"] and marks.height == frame.height
        passed, failed = _split_by_marks(frame, marks)
        assert passed.equals(expected[0]) and failed.equals(expected[1])
    assert screen_marks(frame.clear(), screening, columns, 4).height == 0


def test_known_verdicts_are_reused_and_only_new_values_are_validated(suites, monkeypatch):
    """The claims step screens the new mentions' values early (`screen_values`) and hands the
    verdicts to `screen_marks`: the rows split as without them, Great Expectations sees only the
    combinations the verdicts lack, and verdicts read from a frame of other dtypes still join."""
    import pipelines.lib.validation as validation
    from pipelines.lib.validation import row_level_suite, screen_marks, screen_values

    screening, columns = row_level_suite(suites["claims"])
    rows = [{}] * 12
    rows[2] = {"value_low": 50.0, "value_high": 50.0}  # pay below 100 USD a month
    rows[5] = {"measure": "other", "unit": "shell", "value_low": 5.0, "value_high": 4.0}  # reversed
    rows[7] = {"measure": "other", "unit": "shell", "value_low": 5.0, "value_high": None}
    rows[9] = {"measure": "other", "unit": "shell", "value_low": 7.0, "value_high": 7.0}
    frame = claims_frame(rows).with_columns(pl.int_range(pl.len()).alias("claim_id").cast(pl.Utf8))
    expected = _split_by_marks(frame, screen_marks(frame, screening, columns, 1_000))
    assert expected[1]["claim_id"].to_list() == ["2", "5", "7"]

    early = frame.head(6).select(columns).with_columns(pl.col("measure", "unit").cast(pl.Categorical))
    known = screen_values(early, screening, columns, 1_000)
    assert known.screened.height == 3 and known.failing.height == 2  # the plain row, rows 2 and 5

    validated = []
    real_validate = validation.validate_frame

    def counting(df, suite, **kwargs):
        validated.append(df.height)
        return real_validate(df, suite, **kwargs)

    monkeypatch.setattr(validation, "validate_frame", counting)
    for slice_rows in (4, 1_000):
        validated.clear()
        passed, failed = _split_by_marks(frame, screen_marks(frame, screening, columns, slice_rows, known))
        assert passed.equals(expected[0]) and failed.equals(expected[1])
        assert sum(validated) == 2  # rows 7 and 9: the combinations the early verdicts lack
    validated.clear()
    every = screen_values(frame.head(3), screening, columns, 1_000, known)
    assert validated == [] and every.screened.height == 3 and every.failing.height == 2
    assert screen_marks(frame.clear(), screening, columns, 4, known).height == 0


def test_narrow_numbers_reach_gx_widened_with_the_same_verdicts(suites, monkeypatch):
    """Int32 and Float32 columns are validated as Int64 and Float64 (GX compares only those in
    NumPy); a range rule on an Int32 column fails the same rows either way."""
    df = with_row(clean_clusters(), 1, n_passages=0).with_columns(pl.col("n_passages", "n_documents").cast(pl.Int32))
    assert validation._widened(df.with_columns(x=pl.lit(1.5, pl.Float32), y=pl.lit(1, pl.UInt8))).select(
        "n_passages", "n_documents", "x", "y"
    ).dtypes == [pl.Int64, pl.Int64, pl.Float64, pl.Int64]
    widened = validate_frame(df, suites["passage_clusters"])
    monkeypatch.setattr(validation, "_widened", lambda frame: frame)
    as_given = validate_frame(df, suites["passage_clusters"])
    assert [(r.check_name, r.failing_row_indices) for r in widened.blocking_failures] == [
        (r.check_name, r.failing_row_indices) for r in as_given.blocking_failures
    ]
    assert "expect_column_values_to_be_between:n_passages" in [r.check_name for r in widened.blocking_failures]


def test_a_large_frame_reads_its_condition_columns_as_categoricals_with_the_same_results(suites, monkeypatch):
    """From CATEGORICAL_MIN_ROWS rows on, the strings that row conditions read (measure, unit,
    period) reach GX as categoricals; the rules' results, failing rows included, are those of
    the plain strings."""
    clean = clean_claims()
    copies = validation.CATEGORICAL_MIN_ROWS // clean.height + 1
    big = pl.concat([clean] * copies).with_columns(claim_id=pl.format("c{}", pl.int_range(pl.len())))
    big = with_row(with_row(big, 5, value_low=50.0), 40_001, unit="soldiers")  # a low pay, a unit that is a noun
    frame = validation._gx_frame(big, suites["claims"])
    categorical = sorted(name for name, dtype in frame.schema.items() if dtype == pl.Categorical)
    assert categorical == ["measure", "period", "unit"]
    assert validation._gx_frame(clean, suites["claims"]).schema == validation._widened(clean).schema  # a small frame

    def results(report):
        return [(r.check_name, r.success, r.n_checked, r.n_failed, r.failing_row_indices) for r in report.results]

    as_categoricals = validate_frame(big, suites["claims"])
    monkeypatch.setattr(validation, "_gx_frame", lambda df, suite: validation._widened(df))
    as_strings = validate_frame(big, suites["claims"])
    assert results(as_categoricals) == results(as_strings)
    assert [(r.check_name, r.failing_row_indices) for r in as_categoricals.results if r.n_failed] == [
        ("expect_column_values_to_not_be_in_set:unit", (40_001,)),
        (PAY_LOW, (5,)),
    ]


def test_great_expectations_does_not_fingerprint_the_frames_it_validates(suites, monkeypatch):
    """GX's batch fingerprint (pandas' hash of every row, a third of the claims check at 100,000
    articles) is never computed: `_gx` sets the engine's size threshold for it to 0."""
    from great_expectations.execution_engine import pandas_execution_engine

    hashed = []
    monkeypatch.setattr(pandas_execution_engine, "hash_pandas_dataframe", lambda df: hashed.append(len(df)) or "")
    report = validate_frame(CLEAN["claims"](), suites["claims"])
    assert report.success and report.n_rows == CLEAN["claims"]().height
    assert hashed == []
    assert pandas_execution_engine.HASH_THRESHOLD == 0


def test_gx_builds_each_configuration_and_filters_each_row_condition_once_per_run_with_the_same_results(suites, monkeypatch):
    """While a suite runs, GX reads each expectation's configuration about fifty times and
    filters the frame by a row condition for every metric; `_gx` has each built once per run
    (`_once_per_suite_run`). Every table's suite, on frames that break each of its structural
    rules and on claims that break conditioned row-level rules, reports the same results as GX
    building and filtering at every read; and outside a run GX's own code answers."""
    from contextlib import nullcontext

    from great_expectations.expectations.expectation import Expectation

    validation._gx()
    once_per_run = validation._once_per_suite_run
    built, filtered = [], []
    monkeypatch.setattr(validation, "_gx_configuration", lambda e, build=validation._gx_configuration: built.append(e) or build(e))
    monkeypatch.setattr(
        validation, "_gx_row_condition_filter",
        lambda engine, data, condition, kwargs, run=validation._gx_row_condition_filter: filtered.append(condition) or run(engine, data, condition, kwargs),
    )

    def results(report):
        return [(r.check_name, r.success, r.n_checked, r.n_failed, r.failing_values, r.failing_row_indices) for r in report.results]

    frames = [(table, edit(CLEAN[table]())) for table, edit, _, _ in STRUCTURAL_CASES]
    implausible = [{}] * 20
    implausible[3] = {"value_low": 50.0, "value_high": 50.0}  # monthly pay below 100
    implausible[7] = {"value_low": 90_000.0, "value_high": 90_000.0}  # and far above the plausible range
    frames.append(("claims", claims_frame(implausible)))
    reports, counts = {}, {}
    for once in (True, False):
        if not once:
            monkeypatch.setattr(validation, "_once_per_suite_run", nullcontext)
        built.clear(), filtered.clear()
        reports[once] = [results(validate_frame(frame, suites[table])) for table, frame in frames]
        counts[once] = (len(built), len(filtered))
    assert reports[True] == reports[False]
    assert {r[0] for rs in reports[True][:-1] for r in rs if not r[1]} == {c[2] for c in STRUCTURAL_CASES}
    assert [(r[0], r[5]) for r in reports[True][-1] if r[3]] == [(PAY_LOW, (3,)), (PAY_HIGH, (7,))]
    # 83,191 against 9,970 configurations (GX makes several objects per expectation); each
    # condition evaluated once per run instead of for every metric
    assert counts[False][0] > 5 * counts[True][0] > 0
    assert counts[False][1] > 3 * counts[True][1] > 0
    # outside a run, every read builds a new configuration, as in GX
    expectation = validation._build_gx_suite("t", suites["facts"].expectations[:1], "t.json").expectations[0]
    assert isinstance(Expectation.__dict__["configuration"], property)
    assert expectation.configuration is not expectation.configuration
    with once_per_run():
        assert expectation.configuration is expectation.configuration
