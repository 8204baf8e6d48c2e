"""Unit tests for pipelines.lib.consistency: derived totals against stated facts, and the rules file."""

import json

import polars as pl
import pytest

from pipelines.lib.consistency import CONSISTENCY_SCHEMA, check_consistency, load_consistency_rules
from pipelines.lib.facts import FACTS_SCHEMA

RULE = {
    "name": "pay_times_troops_vs_revenue",
    "product_of": [
        {"measure": "pay_per_soldier", "unit": "USD", "period": "month"},
        {"measure": "troops_deployed", "unit": "person"},
    ],
    "factor": 12,
    "compare_to": {"measure": "revenue", "unit": "USD", "period": "year"},
    "tolerance": 0.25,
}


def _facts(*rows: tuple) -> pl.DataFrame:
    """Facts from (fact_id, measure, unit, period, low, high, qualifiers); the other columns are empty."""
    records = [
        {"fact_id": f, "measure": m, "unit": u, "period": p, "value_low": lo, "value_high": hi, "qualifiers": q}
        for f, m, u, p, lo, hi, q in rows
    ]
    frame = pl.DataFrame(records, schema={k: FACTS_SCHEMA[k] for k in records[0]})
    return frame.with_columns(
        pl.lit(None, dtype=FACTS_SCHEMA[c]).alias(c) for c in FACTS_SCHEMA if c not in frame.columns
    ).select(list(FACTS_SCHEMA))


PAY = ("pay", "pay_per_soldier", "USD", "month", 2000.0, 2000.0, ["approx"])
TROOPS = ("troops", "troops_deployed", "person", None, 10000.0, 10000.0, ["at_least"])


def _result(frame: pl.DataFrame) -> list[tuple]:
    return frame.select(
        "rule", "input_fact_ids", "derived_low", "derived_high", "stated_fact_id", "stated_low", "stated_high", "ratio", "verdict"
    ).rows()


def test_derived_total_within_tolerance_is_consistent_and_tenfold_is_not():
    facts = _facts(
        PAY,
        TROOPS,
        # 2,000 × 10,000 × 12 = 240,000,000: 20% above 200,000,000, inside the 25% tolerance
        ("rev_200m", "revenue", "USD", "year", 2e8, 2e8, ["more_than"]),
        # ten times the derived total: inconsistent
        ("rev_2bn", "revenue", "USD", "year", 2e9, 2e9, ["exact"]),
    )
    assert _result(check_consistency(facts, [RULE])) == [
        ("pay_times_troops_vs_revenue", ["pay", "troops"], 2.4e8, 2.4e8, "rev_200m", 2e8, 2e8, 1.2, "consistent"),
        ("pay_times_troops_vs_revenue", ["pay", "troops"], 2.4e8, 2.4e8, "rev_2bn", 2e9, 2e9, 0.12, "inconsistent"),
    ]


def test_qualifiers_are_published_not_used_as_bounds():
    facts = _facts(PAY, TROOPS, ("rev_200m", "revenue", "USD", "year", 2e8, 2e8, ["more_than"]))
    exact = dict(RULE, tolerance=0)
    # "more than $200 million" is compared as $200 million: 240 million is outside without tolerance
    (row,) = check_consistency(facts, [exact]).to_dicts()
    assert (row["verdict"], row["stated_qualifiers"], row["tolerance"]) == ("inconsistent", ["more_than"], 0.0)


def test_ranges_propagate_and_overlap_decides():
    facts = _facts(
        ("pay_range", "pay_per_soldier", "USD", "month", 1200.0, 2400.0, ["exact"]),
        ("troops_range", "troops_deployed", "person", None, 10000.0, 12000.0, ["exact"]),
        # derived 144,000,000 to 345,600,000 overlaps 300-400 million even with no tolerance
        ("rev_range", "revenue", "USD", "year", 3e8, 4e8, ["exact"]),
    )
    rows = _result(check_consistency(facts, [dict(RULE, tolerance=0)]))
    assert rows == [
        ("pay_times_troops_vs_revenue", ["pay_range", "troops_range"], 1.44e8, 3.456e8, "rev_range", 3e8, 4e8,
         pytest.approx(244.8e6 / 350e6), "consistent"),
    ]


def test_every_combination_is_a_row_and_periods_must_match():
    facts = _facts(
        PAY,
        ("pay_week", "pay_per_soldier", "USD", "week", 500.0, 500.0, ["exact"]),  # wrong period: never an input
        TROOPS,
        ("troops_12k", "troops_deployed", "person", None, 12000.0, 12000.0, ["up_to"]),
        ("rev_year", "revenue", "USD", "year", 2e8, 2e8, ["exact"]),
        ("rev_none", "revenue", "USD", None, 2e8, 2e8, ["exact"]),  # no period: not a yearly revenue
        ("rev_krw", "revenue", "KRW", "year", 2e8, 2e8, ["exact"]),  # other unit
    )
    result = check_consistency(facts, [RULE])
    assert result.select("input_fact_ids", "stated_fact_id", "derived_low", "verdict").rows() == [
        (["pay", "troops"], "rev_year", 2.4e8, "consistent"),
        (["pay", "troops_12k"], "rev_year", 2.88e8, "inconsistent"),  # 44% above: outside 25%
    ]


def test_selector_without_period_takes_any_and_signs_are_handled():
    rule = {"name": "net", "product_of": [{"measure": "change", "unit": "percent"}], "factor": 2,
            "compare_to": {"measure": "total", "unit": "percent"}, "tolerance": 0}
    facts = _facts(
        ("chg", "change", "percent", "year", -3.0, 1.0, ["exact"]),
        ("tot", "total", "percent", None, -7.0, -6.0, ["exact"]),
        ("zero", "total", "percent", "month", 0.0, 0.0, ["exact"]),
    )
    assert _result(check_consistency(facts, [rule])) == [
        ("net", ["chg"], -6.0, 2.0, "tot", -7.0, -6.0, pytest.approx(-2 / -6.5), "consistent"),
        ("net", ["chg"], -6.0, 2.0, "zero", 0.0, 0.0, None, "consistent"),
    ]


def test_a_fact_is_never_compared_with_itself_or_used_twice():
    rule = {"name": "double", "product_of": [{"measure": "x", "unit": "u"}, {"measure": "x", "unit": "u"}],
            "compare_to": {"measure": "x", "unit": "u"}}
    facts = _facts(("a", "x", "u", None, 2.0, 2.0, []), ("b", "x", "u", None, 4.0, 4.0, []))
    assert check_consistency(facts, [rule]).height == 0


def test_no_matching_facts_gives_empty_frame_with_schema():
    result = check_consistency(_facts(PAY), [RULE])
    assert result.height == 0
    assert result.schema == pl.Schema(CONSISTENCY_SCHEMA)


def test_missing_columns_are_refused():
    with pytest.raises(ValueError, match="value_high"):
        check_consistency(_facts(PAY).drop("value_high"), [RULE])


def test_default_rules_file_loads():
    rules = load_consistency_rules()
    assert [r.name for r in rules] == ["pay_times_troops_vs_revenue", "pay_times_troops_vs_revenue_unstated_period"]
    assert (rules[0].factor, rules[0].tolerance, rules[0].compare_to.period) == (12.0, 0.25, "year")
    assert rules[1].compare_to.period is None


@pytest.mark.parametrize(
    ("rule", "fault"),
    [
        ({"product_of": [{"measure": "a", "unit": "u"}], "compare_to": {"measure": "b", "unit": "u"}}, "snake_case `name`"),
        ({"name": "r", "product_of": [], "compare_to": {"measure": "b", "unit": "u"}}, "non-empty `product_of`"),
        ({"name": "r", "product_of": [{"measure": "a"}], "compare_to": {"measure": "b", "unit": "u"}}, "`unit`"),
        ({"name": "r", "product_of": [{"measure": "a", "unit": "u", "period": "fortnight"}],
          "compare_to": {"measure": "b", "unit": "u"}}, "period 'fortnight'"),
        ({"name": "r", "product_of": [{"measure": "a", "unit": "u"}], "compare_to": {"measure": "b", "unit": "u"},
          "factor": 0}, "`factor`"),
        ({"name": "r", "product_of": [{"measure": "a", "unit": "u"}], "compare_to": {"measure": "b", "unit": "u"},
          "tolerance": -1}, "`tolerance`"),
        ({"name": "r", "product_of": [{"measure": "a", "unit": "u"}], "compare_to": {"measure": "b", "unit": "u"},
          "scale": 2}, "unknown keys"),
    ],
)
def test_invalid_rules_name_path_and_fault(tmp_path, rule, fault):
    path = tmp_path / "rules.json"
    path.write_text(json.dumps({"rules": [rule]}))
    with pytest.raises(ValueError, match=fault) as err:
        load_consistency_rules(path)
    assert str(path) in str(err.value)


def test_each_side_is_cut_to_its_best_sourced_facts():
    import polars as pl

    from pipelines.lib.consistency import MAX_FACTS_PER_SIDE, check_consistency, load_consistency_rules

    n = MAX_FACTS_PER_SIDE + 5
    facts = pl.DataFrame(
        {
            "fact_id": [f"t{i:02d}" for i in range(n)] + ["pay", "rev"],
            "measure": ["troops_deployed"] * n + ["pay_per_soldier", "revenue"],
            "unit": ["person"] * n + ["USD", "USD"],
            "period": [None] * n + ["month", "year"],
            "value_low": [1000.0 * (i + 1) for i in range(n)] + [2000.0, 2e8],
            "value_high": [1000.0 * (i + 1) for i in range(n)] + [2000.0, 2e8],
            "n_independent_sources": list(range(n)) + [1, 1],
            "n_mentions": [1] * n + [1, 1],
        }
    )
    rows = check_consistency(facts, load_consistency_rules())
    troops_used = {ids[1] for ids in rows["input_fact_ids"].to_list()}
    # the best-sourced troop figures are t14 … t05: the rest are never multiplied
    assert troops_used == {f"t{i:02d}" for i in range(n - MAX_FACTS_PER_SIDE, n)}
