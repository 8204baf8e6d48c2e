"""Charts as data: Vega-Lite specifications built from Polars frames.

A Vega-Lite spec is plain JSON: the Dagster UI shows it in the asset's metadata, and any
Vega-Lite viewer (the Vega editor, a notebook, `vl-convert`) renders it, with the data inlined.
"""

import polars as pl

from pipelines.lib.facts import fact_rows

VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"


def values_over_time_spec(points: pl.DataFrame, max_measures: int = 6, max_points: int = 2_000) -> dict:
    """How the reported figures of each measure moved over publication dates.

    `points` has one row per claim: `measure`, `unit`, `period`, `reported_on` (date),
    `value_low`, `value_high`, `source` (outlet or document). One panel per measure and unit
    (independent y scales), a rule from low to high for ranges, a point at each end sized by
    how often it was reported. The measures with the most claims come first; `other` is left out.

    A point is one (panel, date, value range) with `n_mentions`, `n_sources` and up to five
    `sources`: the spec goes into the asset's metadata, so its size must not grow with the
    warehouse. Past `max_points`, dates are coarsened to weeks, then months; if still too
    many, the most-mentioned points are kept and the description says how many were left out.
    """
    codes, names = _source_codes(points["source"])
    keys, value = fact_rows(points)
    rows = pl.DataFrame({"value": value, "reported_on": points["reported_on"], "source": codes})
    return _spec(keys, rows, names, max_measures, max_points)


def values_over_time_spec_of(
    claims: pl.DataFrame,
    documents: pl.DataFrame,
    max_measures: int = 6,
    max_points: int = 2_000,
    keyed: tuple[pl.DataFrame, pl.Series] | None = None,
) -> dict:
    """`values_over_time_spec` of the claims (`doc_id`, `measure`, `unit`, `period`,
    `value_low`, `value_high`) placed on their documents' dates (`documents`: `doc_id`,
    `outlet`, `source_path`, `published_at`, `ingested_at`): a claim is reported on the date
    its document was published (the ingest date when the text states none) by its outlet (its
    document when none is known), as sql/transforms/select_reported_values.sql has it. A claim
    whose document is missing is left out.

    The frames the facts are built from, without a second read of every claim joined to its
    document's names: the values, dates and sources are grouped as integer codes, and only the
    points kept are named (at 100,000 articles 0.24-0.26 s against 0.44-0.47 s for the per-claim rows
    read from DuckDB and grouped by their strings). `keyed` is `fact_rows(claims)` when the
    caller has it (the facts step shares it with `build_facts`)."""
    dated = documents.select(
        "doc_id",
        reported_on=pl.coalesce("published_at", "ingested_at").dt.date(),
        source=pl.coalesce("outlet", "source_path"),
    )
    codes, names = _source_codes(dated["source"])
    keys, value = keyed if keyed is not None else fact_rows(claims)
    rows = (
        pl.DataFrame({"value": value, "doc_id": claims["doc_id"]})
        .join(dated.select("doc_id", "reported_on").with_columns(source=codes), on="doc_id", how="inner")
        .drop("doc_id")
    )
    return _spec(keys, rows, names, max_measures, max_points)


def _source_codes(sources: pl.Series) -> tuple[pl.Series, pl.Series]:
    """Each source's code (UInt32) and the distinct sources by code: codes follow the names'
    sort order, so the first codes of a point are its alphabetically first sources."""
    codes = (sources.rank("dense") - 1).cast(pl.UInt32)
    names = pl.DataFrame({"code": codes, "source": sources}).drop_nulls("code").unique("code").sort("code")["source"]
    return codes, names


def _spec(keys: pl.DataFrame, rows: pl.DataFrame, names: pl.Series, max_measures: int, max_points: int) -> dict:
    """The spec from the distinct values `keys` (`measure`, `unit`, `period`, `value_low`,
    `value_high`, in the order `value` counts them) and one row per claim in `rows`: `value`,
    `reported_on`, `source` (a code into `names`)."""
    panel = pl.concat_str(
        "measure", pl.lit(" ("), "unit", pl.when(pl.col("period").is_not_null()).then(pl.lit(" per ") + pl.col("period")).otherwise(pl.lit("")), pl.lit(")")
    )
    counted = keys.with_row_index("value").join(rows.group_by("value").len(), on="value").filter(pl.col("measure") != "other")
    # panels are named once per (measure, unit, period), not once per claim
    panels = (
        counted.group_by("measure", "unit", "period").agg(pl.col("len").sum()).with_columns(panel=panel)
        .sort(["len", "panel"], descending=[True, False]).head(max_measures)
    )
    top = panels["panel"]
    values = counted.join(panels.select("measure", "unit", "period", "panel"), on=["measure", "unit", "period"], nulls_equal=True)
    scoped = rows.join(values.select("value"), on="value", how="semi")
    # the finest dates that fit: counting the points is cheaper than building them
    levels = ((None, "day"), ("1w", "week"), ("1mo", "month"))
    for every, label in levels:
        day = pl.col("reported_on") if every is None else pl.col("reported_on").dt.truncate(every)
        if every == levels[-1][0] or scoped.select(pl.struct("value", day).n_unique()).item() <= max_points:
            break
    grouped = scoped.group_by("value", day.alias("reported_on")).agg(
        n_mentions=pl.len(),
        n_sources=pl.col("source").n_unique(),
        first_sources=pl.col("source").unique().sort().head(5),
    )
    n_points = grouped.height
    kept = (
        grouped.join(values.select("value", "panel", "value_low", "value_high"), on="value")
        .sort(["n_mentions", "panel", "reported_on", "value_low", "value_high"], descending=[True, False, False, False, False])
        .head(max_points)
        .with_row_index("point")
    )
    # only the points kept are named: their first sources, joined in code (name) order
    named = kept.select("point", "first_sources").explode("first_sources").drop_nulls("first_sources")
    named = (
        named.with_columns(name=names.gather(named["first_sources"]))
        .group_by("point", maintain_order=True)
        .agg(sources=pl.col("name").str.join(", "))
    )
    data = (
        kept.join(named, on="point", how="left")
        .sort("panel", "reported_on", "value_low", "value_high")
        .with_columns(pl.col("reported_on").cast(pl.Utf8))
        .select("panel", "reported_on", "value_low", "value_high", "n_mentions", "n_sources", "sources")
    )
    description = f"Reported figures per measure over publication dates, per {label} (a range is a vertical rule)"
    if n_points > data.height:
        description += f"; the {data.height:,} most-reported of {n_points:,} points"
    encoding_x = {"field": "reported_on", "type": "temporal", "title": "publication date"}
    return {
        "$schema": VEGA_LITE_SCHEMA,
        "description": description,
        "data": {"values": data.to_dicts()},
        "facet": {"row": {"field": "panel", "type": "nominal", "title": None, "sort": top.to_list()}},
        "resolve": {"scale": {"y": "independent"}},
        "spec": {
            "width": 480,
            "height": 120,
            "layer": [
                {
                    "mark": {"type": "rule", "strokeWidth": 2},
                    "encoding": {
                        "x": encoding_x,
                        "y": {"field": "value_low", "type": "quantitative", "title": "value"},
                        "y2": {"field": "value_high"},
                    },
                },
                {
                    "mark": {"type": "point", "filled": True},
                    "encoding": {
                        "x": encoding_x,
                        "y": {"field": "value_high", "type": "quantitative"},
                        "size": {"field": "n_mentions", "type": "quantitative", "title": "mentions"},
                        "tooltip": [
                            {"field": f} for f in ("reported_on", "value_low", "value_high", "n_mentions", "n_sources", "sources")
                        ],
                    },
                },
            ],
        },
    }
