"""Charts as data: Vega-Lite specifications built from Polars frames.

A Vega-Lite spec is plain JSON: the Dagster UI shows it in the asset's metadata, and any
Vega-Lite viewer (the Vega editor, a notebook, `vl-convert`) renders it, with the data inlined.
"""

import polars as pl

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
    panel = pl.concat_str(
        "measure", pl.lit(" ("), "unit", pl.when(pl.col("period").is_not_null()).then(pl.lit(" per ") + pl.col("period")).otherwise(pl.lit("")), pl.lit(")")
    )
    scoped = points.filter(pl.col("measure") != "other")
    # panels are named once per (measure, unit, period), not once per claim
    panels = (
        scoped.group_by("measure", "unit", "period").len().with_columns(panel=panel)
        .sort(["len", "panel"], descending=[True, False]).head(max_measures)
    )
    top = panels["panel"]
    scoped = scoped.join(panels.select("measure", "unit", "period", "panel"), on=["measure", "unit", "period"], nulls_equal=True)
    # the finest dates that fit: counting the points is cheaper than building them
    levels = ((None, "day"), ("1w", "week"), ("1mo", "month"))
    for every, label in levels:
        day = pl.col("reported_on") if every is None else pl.col("reported_on").dt.truncate(every)
        if every == levels[-1][0] or scoped.select(pl.struct("panel", day, "value_low", "value_high").n_unique()).item() <= max_points:
            break
    data = scoped.group_by(pl.col("panel"), day.alias("reported_on"), "value_low", "value_high").agg(
        n_mentions=pl.len(),
        n_sources=pl.col("source").n_unique(),
        sources=pl.col("source").unique().sort().head(5).str.join(", "),
    )
    n_points = data.height
    data = (
        data.sort(["n_mentions", "panel", "reported_on", "value_low", "value_high"], descending=[True, False, False, False, False])
        .head(max_points)
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
