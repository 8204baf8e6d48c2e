"""Charts as data: Vega-Lite specifications built from Polars frames.

A Vega-Lite spec is plain JSON: the Dagster UI shows it in the asset's metadata, and any
Vega-Lite viewer (the Vega editor, a notebook, `vl-convert`) renders it, with the data inlined.
"""

import polars as pl

VEGA_LITE_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"


def values_over_time_spec(points: pl.DataFrame, max_measures: int = 6) -> dict:
    """How the reported figures of each measure moved over publication dates.

    `points` has one row per claim: `measure`, `unit`, `period`, `reported_on` (date),
    `value_low`, `value_high`, `source` (outlet or document). One panel per measure and unit
    (independent y scales), a rule from low to high for ranges, a point at each end. The
    measures with the most claims come first; `other` is left out.
    """
    scoped = points.filter(pl.col("measure") != "other").with_columns(
        panel=pl.concat_str(
            "measure", pl.lit(" ("), "unit", pl.when(pl.col("period").is_not_null()).then(pl.lit(" per ") + pl.col("period")).otherwise(pl.lit("")), pl.lit(")")
        ),
        reported_on=pl.col("reported_on").cast(pl.Utf8),
    )
    top = scoped.group_by("panel").len().sort(["len", "panel"], descending=[True, False]).head(max_measures)["panel"]
    data = scoped.filter(pl.col("panel").is_in(top.implode())).select(
        "panel", "reported_on", "value_low", "value_high", "source"
    ).sort("panel", "reported_on", "value_low")
    encoding_x = {"field": "reported_on", "type": "temporal", "title": "publication date"}
    return {
        "$schema": VEGA_LITE_SCHEMA,
        "description": "Reported figures per measure over publication dates (a range is a vertical rule)",
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
                        "color": {"field": "source", "type": "nominal"},
                        "tooltip": [{"field": f} for f in ("source", "reported_on", "value_low", "value_high")],
                    },
                },
            ],
        },
    }
