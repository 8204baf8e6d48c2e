"""Unit tests for validating a scope of rows: Great Expectations on the rows a run wrote, keys and
row-level shares counted over the whole table in DuckDB SQL (pipelines.lib.validation).

The SQL forms are held to Great Expectations itself: with the whole table in scope, a merged
report must equal GX's own, expectation by expectation.
"""

import duckdb
import polars as pl
import pytest

from pipelines.lib.validation import (
    DEFAULT_SUITES_DIR,
    ValidationRunError,
    load_suites,
    merge_table_wide,
    row_condition_sql,
    table_wide_counts,
    table_wide_rules,
    validate_frame,
)
from tests.unit.test_validation import CLEAN_CLAIM_ROWS, PAY_HIGH, PAY_LOW, claims_frame, clean_passages, with_row

IN_SCOPE = "doc_id in (select doc_id from scope)"
CLAIMS_MUTABLE = frozenset({"cluster_id", "is_syndicated_copy"})


@pytest.fixture(scope="module")
def suites():
    return load_suites(DEFAULT_SUITES_DIR)


def scoped_report(frame: pl.DataFrame, suite, scope_docs: list[str], mutable=CLAIMS_MUTABLE, **count_options):
    """Validate the scope's rows of `frame` as the check does, against `frame` as the table
    (`count_options`: `table_wide_counts`' keyword arguments)."""
    rules = table_wide_rules(suite, mutable)
    assert rules is not None
    conn = duckdb.connect()
    conn.register("t", frame)
    conn.register("scope", pl.DataFrame({"doc_id": scope_docs}, schema={"doc_id": pl.Utf8}))
    scope_rows = frame.filter(pl.col("doc_id").is_in(scope_docs))
    report = validate_frame(scope_rows, suite)
    n_rows, counts = table_wide_counts(conn, "select * from t", rules, IN_SCOPE, **count_options)
    assert n_rows == frame.height
    return merge_table_wide(report, suite, rules, counts)


def outcomes(report) -> list[tuple]:
    return [(r.check_name, r.success, r.n_failed) for r in report.results]


# --- the SQL form of a row condition ----------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "sql"),
    [
        ("measure == 'pay'", '("measure" is not distinct from \'pay\')'),
        ("is_boilerplate == True", '("is_boilerplate" is not distinct from true)'),
        ("n_passages == 1", '("n_passages" is not distinct from 1)'),
        ("unit != 'USD'", '("unit" is distinct from \'USD\')'),
        ("n >= 2.5", 'coalesce("n" >= 2.5, false)'),
        ("measure in ['a', \"o'b\"]", "coalesce(\"measure\" in ('a', 'o''b'), false)"),
        ("measure not in ['a']", "not coalesce(\"measure\" in ('a'), false)"),
        (
            "measure == 'a' and unit == 'USD' or period == 'month'",
            '((("measure" is not distinct from \'a\') and ("unit" is not distinct from \'USD\'))'
            ' or ("period" is not distinct from \'month\'))',
        ),
    ],
)
def test_row_condition_sql(condition, sql):
    assert row_condition_sql(condition) == sql


@pytest.mark.parametrize(
    "condition",
    ["not measure == 'a'", "measure == unit", "measure.str.len() > 2", "measure in []", "1 == measure", "a < b < c", "m == None"],
)
def test_row_condition_without_an_sql_form_is_refused(condition):
    with pytest.raises(ValueError, match="has no SQL form|is not a literal|non-empty list"):
        row_condition_sql(condition)


@pytest.mark.parametrize(
    ("condition", "expected"),
    [
        ("measure == 'pay'", [True, False, False]),
        ("measure != 'pay'", [False, True, True]),  # pandas: a null is not equal to anything
        ("measure in ['pay', 'bonus']", [True, True, False]),
        ("measure not in ['pay']", [False, True, True]),
        ("n > 1", [True, False, False]),
        ("measure == 'pay' or n < 2", [True, True, False]),
    ],
)
def test_row_condition_sql_selects_the_rows_pandas_query_selects(condition, expected):
    frame = pl.DataFrame({"measure": ["pay", "bonus", None], "n": [2, 1, None]})
    assert frame.to_pandas().eval(condition).fillna(False).tolist() == expected
    conn = duckdb.connect()
    conn.register("t", frame)
    assert [r[0] for r in conn.sql(f"select {row_condition_sql(condition)} from t").fetchall()] == expected


# --- which suites can be validated by scope ---------------------------------------------------


def test_every_document_table_suite_has_a_scoped_form(suites):
    for table in ("documents", "passages", "passage_clusters", "claims", "quarantine"):
        assert table_wide_rules(suites[table], CLAIMS_MUTABLE) is not None, table
    rules = table_wide_rules(suites["claims"], CLAIMS_MUTABLE)
    counted = sorted({r.spec.check_name for r in rules})
    assert counted == sorted(
        {
            "expect_column_values_to_be_unique:claim_id",
            "expect_column_values_to_not_be_null:cluster_id",
            "expect_column_values_to_not_be_null:is_syndicated_copy",
            "expect_column_pair_values_a_to_be_greater_than_b:value_high,value_low",
            "expect_column_values_to_be_between:value_low",
            "expect_column_values_to_be_between:value_high",
        }
    )
    assert sum(r.spec.level == "row" for r in rules) == 14


def test_a_suite_with_a_whole_table_expectation_is_validated_whole(suites):
    # the release suite counts the table's rows: no scope can answer that
    assert table_wide_rules(suites["release"]) is None


# --- a whole-table scope gives GX's own answer -------------------------------------------------


def mixed_claims() -> pl.DataFrame:
    """Claims of three documents where several rules fail, some beyond their `mostly`."""
    rows = [dict(r, doc_id="d1") for r in CLEAN_CLAIM_ROWS]
    rows += [{"doc_id": "d2", "value_low": 50.0, "value_high": 50.0}] * 3  # monthly pay < 100 USD
    rows += [{"doc_id": "d2", "value_low": 3000.0, "value_high": 30000.0}] * 2  # pay > 20,000
    rows += [{"doc_id": "d3", "measure": "bonus", "period": "one_time", "value_low": 10.0, "value_high": 10.0}] * 3
    rows += [{"doc_id": "d3", "measure": "other", "unit": "shell", "value_low": 5.0, "value_high": 4.0}]  # reversed
    return claims_frame(rows)


def test_scope_of_every_document_equals_great_expectations(suites):
    frame = with_row(mixed_claims(), 4, claim_id="c00")  # and a duplicate key
    whole = validate_frame(frame, suites["claims"])
    merged = scoped_report(frame, suites["claims"], ["d1", "d2", "d3"])
    assert outcomes(merged) == outcomes(whole)
    assert merged.success is whole.success is False
    failed = {r.check_name for r in merged.results if not r.success}
    # bonus: 3 of 3 below 100 USD; pay high: 2 of 20 monthly-USD pay rows... within 0.5
    assert failed == {"expect_column_values_to_be_unique:claim_id", "expect_column_values_to_be_between:value_low"}
    assert merged.failing_rows.equals(whole.failing_rows)


@pytest.mark.parametrize("n_bad", [9, 10, 11])
def test_mostly_threshold_is_judged_exactly_as_great_expectations_judges_it(suites, n_bad):
    # 20 monthly pay rows, mostly = 0.5: 10 bad passes, 11 blocks
    frame = claims_frame([{"doc_id": "d1"}] * (20 - n_bad) + [{"doc_id": "d2", "value_low": 50.0, "value_high": 50.0}] * n_bad)
    whole = validate_frame(frame, suites["claims"])
    merged = scoped_report(frame, suites["claims"], ["d1", "d2"])
    assert outcomes(merged) == outcomes(whole)
    assert merged.success is (n_bad <= 10)


# --- a scope of new documents -------------------------------------------------------------------


def test_shares_count_the_rows_outside_the_scope(suites):
    # the new document's one monthly pay figure is implausible: 1 of 1 in the scope, 1 of 20 in
    # the table. The table's share decides: it passes, and the row is still found
    frame = claims_frame([{"doc_id": "old"}] * 19 + [{"doc_id": "new", "value_low": 50.0, "value_high": 50.0}])
    alone = validate_frame(frame.filter(pl.col("doc_id") == "new"), suites["claims"])
    assert alone.success is False
    merged = scoped_report(frame, suites["claims"], ["new"])
    assert merged.success is True
    assert merged.n_rows == 1
    assert merged.failing_rows.rows() == alone.failing_rows.rows() == [(0, PAY_LOW, alone.failing_rows["reason"][0])]
    pay_low = next(r for r in merged.results if r.check_name == PAY_LOW and r.rule.startswith("monthly pay"))
    assert (pay_low.n_checked, pay_low.n_failed) == (20, 1)


def test_a_bad_batch_blocks_even_when_the_old_rows_are_fine_if_it_tips_the_share(suites):
    frame = claims_frame([{"doc_id": "old"}] * 4 + [{"doc_id": "new", "value_low": 3000.0, "value_high": 90000.0}] * 5)
    merged = scoped_report(frame, suites["claims"], ["new"])
    assert merged.success is False
    assert [(r.check_name, r.n_checked, r.n_failed) for r in merged.blocking_failures] == [(PAY_HIGH, 9, 5)]


def test_a_new_key_that_repeats_an_old_one_fails(suites):
    frame = claims_frame([{"doc_id": "old"}, {"doc_id": "new"}])
    frame = with_row(frame, 1, claim_id="c00")
    merged = scoped_report(frame, suites["claims"], ["new"])
    unique = next(r for r in merged.results if r.check_name == "expect_column_values_to_be_unique:claim_id")
    assert (unique.success, unique.n_failed) == (False, 2)
    assert merged.success is False


def test_a_rewritten_column_is_checked_on_old_rows(suites):
    # a later stage sets cluster_id on old rows: its rule is counted over the table
    frame = with_row(claims_frame([{"doc_id": "old"}, {"doc_id": "new"}]), 0, cluster_id=None)
    merged = scoped_report(frame, suites["claims"], ["new"])
    cluster = next(r for r in merged.results if r.check_name == "expect_column_values_to_not_be_null:cluster_id")
    assert (cluster.success, cluster.n_failed) == (False, 1)
    # a row-local rule on a column nothing rewrites is the scope's alone
    frame = with_row(claims_frame([{"doc_id": "old"}, {"doc_id": "new"}]), 0, quote="")
    assert scoped_report(frame, suites["claims"], ["new"]).success is True


def test_a_rewritten_column_is_counted_over_the_changed_documents_only(suites):
    """With `changed_relation`, the null rules on rewritten columns are counted over the rows of
    the documents whose clusters changed since the table last passed (the scope's among them),
    and consider every row of the table; every other rule is counted as over the whole table."""
    docs = [{"doc_id": "old"}, {"doc_id": "relabelled"}, {"doc_id": "new"}]
    changed = "select * from t where doc_id in ('relabelled', 'new')"
    cluster, syndicated = "expect_column_values_to_not_be_null:cluster_id", "expect_column_values_to_not_be_null:is_syndicated_copy"

    def result(report, name):
        found = next(r for r in report.results if r.check_name == name)
        return found.success, found.n_checked, found.n_failed

    # a null cluster on a relabelled row fails; on the new row too, as Great Expectations found it
    for row in (1, 2):
        frame = with_row(claims_frame(docs), row, cluster_id=None)
        merged = scoped_report(frame, suites["claims"], ["new"], changed_relation=changed)
        assert result(merged, cluster) == (False, 3, 1)
        assert result(merged, syndicated) == (True, 3, 0)
        assert outcomes(merged) == outcomes(scoped_report(frame, suites["claims"], ["new"]))
    # an old row nothing rewrote passed before: it is not counted again (CLAIMWIRE_CHECK_SCOPE=all would)
    frame = with_row(claims_frame(docs), 0, cluster_id=None)
    assert result(scoped_report(frame, suites["claims"], ["new"]), cluster) == (False, 3, 1)
    assert result(scoped_report(frame, suites["claims"], ["new"], changed_relation=changed), cluster) == (True, 3, 0)
    # the passages' only table-wide rule: the table's rows come from the key relation, no pass over it
    passages = with_row(clean_passages(), 0, cluster_id=None)
    d0 = passages["doc_id"][0]
    rules = table_wide_rules(suites["passages"], frozenset({"cluster_id"}))
    conn = duckdb.connect()
    conn.register("t", passages)
    conn.register("scope", pl.DataFrame({"doc_id": ["d9"]}))
    index = next(r.index for r in rules if r.spec.check_name == cluster)
    for changed_docs, failed in (([d0], 1), (["d9"], 0)):
        n_rows, counts = table_wide_counts(
            conn, "select * from t", rules, IN_SCOPE, key_relation="select * from t",
            changed_relation=f"select * from t where doc_id in (select unnest({changed_docs!r}))",
        )
        assert (n_rows, counts[index]) == (passages.height, {"checked": passages.height, "failed": failed, "failed_in_scope": 0})


def test_a_rewritten_column_the_schema_keeps_from_null_is_checked_in_the_scope_only(suites):
    cluster = "expect_column_values_to_not_be_null:cluster_id"
    counted = table_wide_rules(suites["passages"], frozenset({"cluster_id"}))
    kept = table_wide_rules(suites["passages"], frozenset({"cluster_id"}), frozenset({"cluster_id"}))
    assert [r.spec.check_name for r in counted if r.mutable] == [cluster]
    assert [r.index for r in kept] == [r.index for r in counted if not r.mutable]
    # a null cluster in the scope still fails: Great Expectations checks the scope's rows
    passages = with_row(clean_passages(), 0, cluster_id=None)
    d0 = passages["doc_id"][0]
    conn = duckdb.connect()
    conn.register("t", passages)
    conn.register("scope", pl.DataFrame({"doc_id": [d0]}))
    report = validate_frame(passages.filter(pl.col("doc_id") == d0), suites["passages"])
    merged = merge_table_wide(report, suites["passages"], kept, table_wide_counts(conn, "select * from t", kept, IN_SCOPE)[1])
    failed = [(r.check_name, r.n_failed) for r in merged.results if not r.success]
    assert failed == [(cluster, 1)]


def test_the_published_cluster_is_never_null_while_the_passage_id_is_the_primary_key():
    from pipelines.defs.validate import _never_null_columns

    keyed, loose = duckdb.connect(), duckdb.connect()
    keyed.execute("create table passages (passage_id varchar primary key, doc_id varchar)")
    loose.execute("create table passages (passage_id varchar, doc_id varchar not null)")
    assert _never_null_columns(keyed, "passages") == frozenset({"cluster_id"})
    assert _never_null_columns(loose, "passages") == frozenset()
    assert _never_null_columns(keyed, "claims") == frozenset()


def test_compound_keys_across_the_scope(suites):
    passages = with_row(clean_passages(), 2, doc_id="d1", ordinal=2, passage_id="d1-p0003")
    merged = scoped_report(passages, suites["passages"], ["d9"], frozenset({"cluster_id"}))
    compound = next(r for r in merged.results if r.check_name == "expect_compound_columns_to_be_unique:doc_id,ordinal")
    assert (compound.success, compound.n_failed, merged.n_rows) == (False, 2, 0)


def _unique(report, name="expect_column_values_to_be_unique:claim_id"):
    result = next(r for r in report.results if r.check_name == name)
    return result.success, result.n_failed


def test_keys_near_the_scope_count_the_key_groups_the_scope_touches(suites):
    # c00 twice between an old row and a new one; c01 twice between two old rows (which a
    # passing check could not have left: the premise of looking keys up near the scope)
    frame = claims_frame([{"doc_id": "old"}] * 3 + [{"doc_id": "new"}] * 2)
    frame = with_row(with_row(with_row(frame, 3, claim_id="c00"), 1, claim_id="c01"), 2, claim_id="c01")
    assert _unique(scoped_report(frame, suites["claims"], ["new"])) == (False, 4)
    near = scoped_report(frame, suites["claims"], ["new"], keys_near_scope=True)
    assert _unique(near) == (False, 2)
    # with no repeat near the scope the rule passes; every other rule is counted as before
    clean = with_row(frame, 3, claim_id="c09")
    whole = scoped_report(clean, suites["claims"], ["new"])
    near = scoped_report(clean, suites["claims"], ["new"], keys_near_scope=True)
    assert _unique(near) == (True, 0)
    assert [r for r in near.results if "unique" not in r.check_name] == [r for r in whole.results if "unique" not in r.check_name]


def test_compound_keys_near_the_scope_match_nulls_as_great_expectations_groups_them(suites):
    # (d1, null) twice: GX groups nulls together and skips a row only when both are null
    passages = with_row(with_row(clean_passages(), 0, ordinal=None), 2, doc_id="d1", ordinal=None, passage_id="d1-p0009")
    compound = "expect_compound_columns_to_be_unique:doc_id,ordinal"
    for scope in (["d1"], ["d9"]):
        whole = scoped_report(passages, suites["passages"], scope, frozenset({"cluster_id"}))
        assert _unique(whole, compound) == (False, 2)
    near = scoped_report(passages, suites["passages"], ["d1"], frozenset({"cluster_id"}), keys_near_scope=True)
    assert _unique(near, compound) == (False, 2)
    far = scoped_report(passages, suites["passages"], ["d9"], frozenset({"cluster_id"}), keys_near_scope=True)
    assert _unique(far, compound) == (True, 0)


def test_keys_are_read_from_the_key_relation(suites):
    frame = claims_frame([{"doc_id": "old"}, {"doc_id": "new"}])
    rules = table_wide_rules(suites["claims"], CLAIMS_MUTABLE)
    conn = duckdb.connect()
    conn.register("t", frame)
    conn.register("base", with_row(frame, 0, claim_id=frame["claim_id"][1]))  # a repeat only the key relation has
    conn.register("scope", pl.DataFrame({"doc_id": ["new"]}))
    unique = next(r.index for r in rules if r.spec.check_name == "expect_column_values_to_be_unique:claim_id")
    for near in (False, True):
        plain = table_wide_counts(conn, "select * from t", rules, IN_SCOPE, keys_near_scope=near)[1]
        based = table_wide_counts(conn, "select * from t", rules, IN_SCOPE, keys_near_scope=near, key_relation="select * from base")[1]
        assert (plain[unique]["failed"], based[unique]["failed"]) == (0, 2)


def test_sql_that_disagrees_with_great_expectations_raises(suites):
    frame = claims_frame([{"doc_id": "new", "value_low": 50.0, "value_high": 50.0}])
    suite = suites["claims"]
    rules = table_wide_rules(suite, CLAIMS_MUTABLE)
    report = validate_frame(frame, suite)
    conn = duckdb.connect()
    conn.register("t", frame.with_columns(value_low=pl.lit(500.0), value_high=pl.lit(500.0)))  # the table SQL sees differs
    conn.register("scope", pl.DataFrame({"doc_id": ["new"]}))
    with pytest.raises(ValidationRunError, match="fails 1 rows of the scope in Great Expectations but 0 in its SQL form"):
        merge_table_wide(report, suite, rules, table_wide_counts(conn, "select * from t", rules, IN_SCOPE)[1])


def test_counts_over_grouped_rows_are_the_counts_row_by_row(suites):
    """The shares are counted over the rows grouped by what the rules read; the counts are the
    ones each rule's SQL gives row by row, with repeated rows, null values, null clusters (a
    column tested for null only, grouped as true or null) and rows in and out of the scope."""
    rows = [
        *CLEAN_CLAIM_ROWS,
        *CLEAN_CLAIM_ROWS,  # every value combination twice
        {"doc_id": "d2", "cluster_id": None},
        {"doc_id": "d2", "cluster_id": None, "value_low": 50.0, "value_high": 50.0},
        {"doc_id": "d3", "value_low": 50.0, "value_high": 40.0},
        {"doc_id": "d3", "is_syndicated_copy": None, "value_low": -5.0, "value_high": None},
        {"doc_id": "d3", "measure": None, "unit": None, "period": None},
        {"doc_id": "d4", "cluster_id": "k9", "value_low": 90000.0, "value_high": 90000.0},
    ]
    frame = claims_frame(rows)
    rules = table_wide_rules(suites["claims"], CLAIMS_MUTABLE)
    conn = duckdb.connect()
    conn.register("t", frame)
    for scope in (["d1"], ["d2", "d3"], ["d4"], []):
        conn.register("scope", pl.DataFrame({"doc_id": scope}, schema={"doc_id": pl.Utf8}))
        n_rows, counts = table_wide_counts(conn, "select * from t", rules, IN_SCOPE)
        assert n_rows == frame.height
        shares = [r for r in rules if r.checked]
        assert len(shares) == 16
        for r in shares:
            row_by_row = conn.sql(
                f"select count(*) filter (where {r.checked}), count(*) filter (where {r.failed}), "
                f"count(*) filter (where ({IN_SCOPE}) and {r.failed}) from t"
            ).fetchall()[0]
            got = counts[r.index]
            assert (got["checked"], got["failed"], got["failed_in_scope"]) == row_by_row, r.spec.check_name
        nulls = {r.spec.check_name: counts[r.index]["failed"] for r in shares if r.nulls}
        assert nulls == {
            "expect_column_values_to_not_be_null:cluster_id": 2,
            "expect_column_values_to_not_be_null:is_syndicated_copy": 1,
        }
    # a scope decided by a column the rules only test for null (a cluster) reads its values
    by_cluster = "cluster_id in ('k9', 'k1')"
    counts = table_wide_counts(conn, "select * from t", rules, by_cluster)[1]
    for r in (r for r in rules if r.checked):
        expected = conn.sql(f"select count(*) filter (where ({by_cluster}) and {r.failed}) from t").fetchall()[0][0]
        assert counts[r.index]["failed_in_scope"] == expected, r.spec.check_name
    assert sum(counts[r.index]["failed_in_scope"] for r in rules if r.checked) > 0


def test_a_key_the_database_enforces_is_checked_in_the_scope_only(suites):
    unique_id = "expect_column_values_to_be_unique:passage_id"
    counted = table_wide_rules(suites["passages"], frozenset({"cluster_id"}))
    kept = table_wide_rules(suites["passages"], frozenset({"cluster_id"}), enforced_keys=frozenset({frozenset({"passage_id"})}))
    assert [r.spec.check_name for r in counted if not r.checked] == [unique_id, "expect_compound_columns_to_be_unique:doc_id,ordinal"]
    assert [r.spec.check_name for r in kept if not r.checked] == ["expect_compound_columns_to_be_unique:doc_id,ordinal"]
    # a repeat in the scope still fails, in Great Expectations
    passages = with_row(clean_passages(), 1, passage_id=clean_passages()["passage_id"][0])
    report = validate_frame(passages, suites["passages"])
    conn = duckdb.connect()
    conn.register("t", passages)
    conn.register("scope", pl.DataFrame({"doc_id": passages["doc_id"].unique().to_list()}))
    merged = merge_table_wide(report, suites["passages"], kept, table_wide_counts(conn, "select * from t", kept, IN_SCOPE)[1])
    assert [(r.check_name, r.n_failed) for r in merged.results if not r.success] == [(unique_id, 2)]


def test_the_keys_the_warehouse_enforces_are_its_primary_keys():
    from pipelines.defs.resources import SCHEMA_DIR
    from pipelines.defs.validate import _enforced_keys

    conn = duckdb.connect()
    for ddl in sorted(SCHEMA_DIR.glob("*.sql")):
        conn.execute(ddl.read_text(encoding="utf-8"))
    assert {t: _enforced_keys(conn, t) for t in ("documents", "passages", "passage_clusters", "claims", "quarantine")} == {
        "documents": {frozenset({"doc_id"})}, "passages": {frozenset({"passage_id"})},
        "passage_clusters": {frozenset({"cluster_id"})}, "claims": frozenset(), "quarantine": frozenset(),
    }
    # a unique constraint lets rows with a null repeat, as GX's compound rule does not: not a key here
    other = duckdb.connect()
    other.execute("create table passages (passage_id varchar unique, doc_id varchar, ordinal int, unique (doc_id, ordinal))")
    assert _enforced_keys(other, "passages") == frozenset()
