"""Unit tests for pipelines.lib.charts."""

from datetime import date, timedelta

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
        {"panel": "pay_per_soldier (USD per month)", "reported_on": "2024-11-04", "value_low": 2000.0, "value_high": 2000.0,
         "n_mentions": 1, "n_sources": 1, "sources": "doc-b"},
        {"panel": "troops_deployed (person)", "reported_on": "2024-10-25", "value_low": 10000.0, "value_high": 10000.0,
         "n_mentions": 1, "n_sources": 1, "sources": "Fakti"},
        {"panel": "troops_deployed (person)", "reported_on": "2024-11-04", "value_low": 12000.0, "value_high": 12000.0,
         "n_mentions": 1, "n_sources": 1, "sources": "doc-b"},
    ]
    assert spec["description"].endswith("per day (a range is a vertical rule)")
    assert spec["resolve"] == {"scale": {"y": "independent"}}


def test_values_over_time_spec_stays_small_however_many_claims():
    # the spec is asset metadata: repeated figures become one point with counts, and past
    # max_points the dates are coarsened, then only the most-reported points kept
    days = [date(2024, 1, 1) + timedelta(days=d) for d in range(60)]
    rows = [
        ("troops_deployed", "person", None, day, float(v), float(v), f"outlet-{i % 7}")
        for day in days for v in range(1000, 1010) for i in range(3)
    ]
    points = pl.DataFrame(rows, schema=["measure", "unit", "period", "reported_on", "value_low", "value_high", "source"], orient="row")
    by_day = values_over_time_spec(points, max_points=600)["data"]["values"]
    assert len(by_day) == 600 and {p["n_mentions"] for p in by_day} == {3}
    assert by_day[0]["sources"] == "outlet-0, outlet-1, outlet-2" and by_day[0]["n_sources"] == 3
    by_week = values_over_time_spec(points, max_points=100)
    assert by_week["description"].endswith("per week (a range is a vertical rule)")
    assert len(by_week["data"]["values"]) == 90  # 9 Monday-weeks × 10 values
    assert sum(p["n_mentions"] for p in by_week["data"]["values"]) == len(rows)
    capped = values_over_time_spec(points, max_points=5)
    assert len(capped["data"]["values"]) == 5
    assert capped["description"].endswith("; the 5 most-reported of 20 points")


def test_values_over_time_spec_does_not_depend_on_the_order_of_the_points():
    # the warehouse query is unordered: the spec must be the same for any order of its rows
    days = [date(2024, 1, 1) + timedelta(days=d) for d in range(40)]
    rows = [
        (measure, "person", None, day, float(v), float(v + (i % 2)), f"outlet-{(v + i) % 9}")
        for measure in ("troops_deployed", "casualties") for day in days for v in range(100, 104) for i in range(3)
    ]
    points = pl.DataFrame(rows, schema=["measure", "unit", "period", "reported_on", "value_low", "value_high", "source"], orient="row")
    expected = values_over_time_spec(points, max_points=300)
    assert expected["description"].endswith("per week (a range is a vertical rule)")
    for seed in range(3):
        assert values_over_time_spec(points.sample(fraction=1.0, shuffle=True, seed=seed), max_points=300) == expected
