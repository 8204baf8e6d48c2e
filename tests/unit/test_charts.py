"""Unit tests for pipelines.lib.charts."""

from datetime import date

import polars as pl

from pipelines.lib.charts import values_over_time_spec


def test_values_over_time_spec_has_one_panel_per_measure_and_inlines_the_points():
    points = pl.DataFrame(
        {
            "measure": ["troops_deployed", "troops_deployed", "pay_per_soldier", "other"],
            "unit": ["person", "person", "USD", "count"],
            "period": [None, None, "month", None],
            "reported_on": [date(2024, 10, 25), date(2024, 11, 4), date(2024, 11, 4), date(2024, 11, 4)],
            "value_low": [10000.0, 12000.0, 2000.0, 1.0],
            "value_high": [10000.0, 12000.0, 2000.0, 1.0],
            "source": ["Fakti", "doc-b", "doc-b", "doc-b"],
        }
    )
    spec = values_over_time_spec(points)
    assert spec["facet"]["row"]["sort"] == ["troops_deployed (person)", "pay_per_soldier (USD per month)"]
    assert spec["data"]["values"] == [
        {"panel": "pay_per_soldier (USD per month)", "reported_on": "2024-11-04", "value_low": 2000.0, "value_high": 2000.0, "source": "doc-b"},
        {"panel": "troops_deployed (person)", "reported_on": "2024-10-25", "value_low": 10000.0, "value_high": 10000.0, "source": "Fakti"},
        {"panel": "troops_deployed (person)", "reported_on": "2024-11-04", "value_low": 12000.0, "value_high": 12000.0, "source": "doc-b"},
    ]
    assert spec["resolve"] == {"scale": {"y": "independent"}}
