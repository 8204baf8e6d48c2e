"""Consistency: where a fact set allows it, derive a total from other facts and compare it with the stated one.

A rule (data, `pipelines/data/consistency_rules.json`) names the facts to multiply and the fact
to compare with, e.g. pay per soldier (USD a month) × troops deployed × 12 against the revenue
stated per year. Every combination of matching facts is compared and the comparison is
published, one row each, with its verdict: a table a reader can check, not an assertion the
pipeline makes. Nothing is dropped for being inconsistent, and nothing is corrected.

Decisions that shape the rows:

- A fact matches a selector when its measure and unit are equal and, if the selector names a
  `period` (null included), its period is too; a selector without `period` takes any period.
- Ranges propagate: the derived range is the interval product of the inputs' ranges times the
  rule's `factor` (the product of every choice of ends, so signs are handled too).
- Qualifiers are not turned into open bounds: "more than $200 million" is compared as
  $200 million, since an open bound would make almost every comparison pass. They are
  published (`stated_qualifiers`) so the reader can weigh them.
- Verdict: `consistent` when the derived range overlaps the stated range widened by the rule's
  relative `tolerance` (each end moved by tolerance × its magnitude), else `inconsistent`.
- `ratio` is the derived midpoint over the stated midpoint; null when the stated midpoint is 0.
- A fact is never compared with itself, and one combination never uses a fact twice.
"""

import itertools
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

__all__ = [
    "CONSISTENCY_SCHEMA",
    "ConsistencyRule",
    "FactSelector",
    "check_consistency",
    "load_consistency_rules",
    "parse_consistency_rules",
]

DEFAULT_RULES_PATH = Path(__file__).resolve().parent.parent / "data" / "consistency_rules.json"
PERIODS = ("day", "week", "month", "year", "one_time")
VERDICTS = ("consistent", "inconsistent")
_ANY_PERIOD = object()

CONSISTENCY_SCHEMA = {
    "rule": pl.Utf8,
    "input_fact_ids": pl.List(pl.Utf8),
    "derived_low": pl.Float64,
    "derived_high": pl.Float64,
    "stated_fact_id": pl.Utf8,
    "stated_low": pl.Float64,
    "stated_high": pl.Float64,
    "stated_qualifiers": pl.List(pl.Utf8),
    "ratio": pl.Float64,
    "tolerance": pl.Float64,
    "verdict": pl.Utf8,
}
# facts per input and per compared side of a rule, the best-sourced first (independent sources, then mentions)
MAX_FACTS_PER_SIDE = 10
FACT_COLUMNS = ("fact_id", "measure", "unit", "period", "value_low", "value_high")


@dataclass(frozen=True)
class FactSelector:
    """Which facts a rule reads: measure and unit, and the period when `period` is not `_ANY_PERIOD`."""

    measure: str
    unit: str
    period: object = _ANY_PERIOD

    def matches(self, fact: Mapping) -> bool:
        if fact["measure"] != self.measure or fact["unit"] != self.unit:
            return False
        return self.period is _ANY_PERIOD or fact["period"] == self.period


@dataclass(frozen=True)
class ConsistencyRule:
    """factor × product of `product_of` facts, compared with each `compare_to` fact."""

    name: str
    product_of: tuple[FactSelector, ...]
    compare_to: FactSelector
    factor: float = 1.0
    tolerance: float = 0.0


def _selector(raw, where: str) -> FactSelector:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where} must be an object")
    unknown = set(raw) - {"measure", "unit", "period"}
    if unknown:
        raise ValueError(f"{where} has unknown keys {sorted(unknown)}")
    for key in ("measure", "unit"):
        if not isinstance(raw.get(key), str) or not raw[key]:
            raise ValueError(f"{where} needs a non-empty `{key}`")
    if "period" not in raw:
        return FactSelector(raw["measure"], raw["unit"])
    if raw["period"] is not None and raw["period"] not in PERIODS:
        raise ValueError(f"{where} has period {raw['period']!r}, not one of {PERIODS} or null")
    return FactSelector(raw["measure"], raw["unit"], raw["period"])


def parse_consistency_rules(raw_rules: Iterable, where: str = "consistency rules") -> tuple[ConsistencyRule, ...]:
    """Validate rules given as data (a list of objects); a bad rule raises ValueError naming it and the fault."""
    rules, names = [], set()
    for i, raw in enumerate(raw_rules):
        name = raw.get("name") if isinstance(raw, Mapping) else None
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", name):
            raise ValueError(f"{where}: rule {i} needs a snake_case `name`")
        if name in names:
            raise ValueError(f"{where}: rule {name!r} is listed twice")
        names.add(name)
        unknown = set(raw) - {"name", "product_of", "factor", "compare_to", "tolerance", "_doc"}
        if unknown:
            raise ValueError(f"{where}: rule {name!r} has unknown keys {sorted(unknown)}")
        inputs = raw.get("product_of")
        if not isinstance(inputs, list) or not inputs:
            raise ValueError(f"{where}: rule {name!r} needs a non-empty `product_of` list")
        factor, tolerance = raw.get("factor", 1), raw.get("tolerance", 0)
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not math.isfinite(factor) or factor == 0:
            raise ValueError(f"{where}: rule {name!r} `factor` must be a non-zero number")
        if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not 0 <= tolerance < 10:
            raise ValueError(f"{where}: rule {name!r} `tolerance` must be a number from 0 (exact) to below 10")
        rules.append(
            ConsistencyRule(
                name=name,
                product_of=tuple(_selector(s, f"{where}: rule {name!r} product_of[{j}]") for j, s in enumerate(inputs)),
                compare_to=_selector(raw.get("compare_to"), f"{where}: rule {name!r} `compare_to`"),
                factor=float(factor),
                tolerance=float(tolerance),
            )
        )
    return tuple(rules)


def load_consistency_rules(path: Path | str | None = None) -> tuple[ConsistencyRule, ...]:
    """Read and validate the rules file (`{"rules": [...]}`); a bad file raises ValueError naming the path."""
    path = Path(path or DEFAULT_RULES_PATH)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as err:
        raise ValueError(f"consistency rules {path}: cannot read JSON ({err})") from None
    if not isinstance(data, dict) or not isinstance(data.get("rules"), list):
        raise ValueError(f"consistency rules {path}: the top level must be an object with a `rules` list")
    return parse_consistency_rules(data["rules"], f"consistency rules {path}")


def _interval_product(ranges: list[tuple[float, float]], factor: float) -> tuple[float, float]:
    low, high = factor, factor
    for a, b in ranges:
        ends = (low * a, low * b, high * a, high * b)
        low, high = min(ends), max(ends)
    return low, high


def _compare(derived: tuple[float, float], stated: tuple[float, float], tolerance: float) -> tuple[float | None, str]:
    stated_low = stated[0] - tolerance * abs(stated[0])
    stated_high = stated[1] + tolerance * abs(stated[1])
    verdict = "consistent" if derived[0] <= stated_high and stated_low <= derived[1] else "inconsistent"
    stated_mid = (stated[0] + stated[1]) / 2
    ratio = (derived[0] + derived[1]) / 2 / stated_mid if stated_mid else None
    return ratio, verdict


def check_consistency(facts: pl.DataFrame, rules: Iterable[ConsistencyRule] | Iterable[Mapping]) -> pl.DataFrame:
    """One row per (rule, combination of input facts, compared fact), sorted by rule, stated fact and inputs.

    `facts` has the facts columns (at least fact_id, measure, unit, period, value_low,
    value_high; `qualifiers` when present is copied as `stated_qualifiers`). `rules` are
    `ConsistencyRule`s or the same rules as plain data (dicts, as in the rules file).
    """
    rules = tuple(rules)
    if rules and not all(isinstance(r, ConsistencyRule) for r in rules):
        rules = parse_consistency_rules(rules)
    missing = [c for c in FACT_COLUMNS if c not in facts.columns]
    if missing:
        raise ValueError(f"check_consistency: facts lack columns {missing}")
    # The comparisons multiply: each side is cut to its best-sourced facts, so a corpus with
    # hundreds of troop figures costs a few hundred comparisons, not millions.
    rank = [c for c in ("n_independent_sources", "n_mentions") if c in facts.columns]
    ordered = facts.sort([*rank, "fact_id"], descending=[True] * len(rank) + [False]) if rank else facts.sort("fact_id")
    # only what the rules read and the rows copy (a fact's claim ids are every mention of it)
    records = ordered.select(c for c in facts.columns if c in (*FACT_COLUMNS, "qualifiers")).to_dicts()
    rows = []
    for rule in rules:
        candidates = [[f for f in records if selector.matches(f)][:MAX_FACTS_PER_SIDE] for selector in rule.product_of]
        stated_facts = [f for f in records if rule.compare_to.matches(f)][:MAX_FACTS_PER_SIDE]
        for combination in itertools.product(*candidates):
            input_ids = [f["fact_id"] for f in combination]
            if len(set(input_ids)) < len(input_ids):
                continue
            derived = _interval_product([(f["value_low"], f["value_high"]) for f in combination], rule.factor)
            for stated in stated_facts:
                if stated["fact_id"] in input_ids:
                    continue
                ratio, verdict = _compare(derived, (stated["value_low"], stated["value_high"]), rule.tolerance)
                rows.append(
                    {
                        "rule": rule.name,
                        "input_fact_ids": input_ids,
                        "derived_low": derived[0],
                        "derived_high": derived[1],
                        "stated_fact_id": stated["fact_id"],
                        "stated_low": stated["value_low"],
                        "stated_high": stated["value_high"],
                        "stated_qualifiers": stated.get("qualifiers"),
                        "ratio": ratio,
                        "tolerance": rule.tolerance,
                        "verdict": verdict,
                    }
                )
    return pl.DataFrame(rows, schema=CONSISTENCY_SCHEMA).sort("rule", "stated_fact_id", "input_fact_ids")
