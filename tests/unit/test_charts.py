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


def test_the_chart_of_the_facts_input_is_the_chart_of_the_reported_values_query():
    # values_over_time_spec_of groups the frames the facts are built from as codes; it must
    # draw what select_reported_values.sql gives values_over_time_spec: a document without a
    # date is placed on its ingest date, one without an outlet is named by its path, a claim
    # without a document is left out, and a point names its first five sources in name order
    from datetime import datetime

    import duckdb

    from pipelines.defs.resources import sql_file
    from pipelines.lib.charts import values_over_time_spec_of

    documents = pl.DataFrame(
        [
            (f"d{i}", None if i % 4 == 0 else f"Outlet {chr(ord('Z') - i % 26)}{i}", f"raw/{i:02d}.txt",
             None if i % 3 == 0 else datetime(2024, 10, 1 + i % 2, 14, 30), datetime(2024, 11, 20, 8))
            for i in range(30)
        ],
        schema={"doc_id": pl.Utf8, "outlet": pl.Utf8, "source_path": pl.Utf8, "published_at": pl.Datetime("us"), "ingested_at": pl.Datetime("us")},
        orient="row",
    )
    claims = pl.DataFrame(
        [
            (f"d{i % 31}", measure, unit, period, low, low if i % 2 else low * 1.5)
            for i in range(120)
            for measure, unit, period, low in [("troops_deployed", "person", None, 10000.0), ("pay_per_soldier", "USD", "month", 2000.0 + i % 2),
                                               ("other", "count", None, 3.0)][: 1 + i % 3]
        ],
        schema={"doc_id": pl.Utf8, "measure": pl.Utf8, "unit": pl.Utf8, "period": pl.Utf8, "value_low": pl.Float64, "value_high": pl.Float64},
        orient="row",
    )
    with duckdb.connect() as conn:
        conn.register("claims_frame", claims)
        conn.register("documents_frame", documents)
        conn.execute("create table claims as select * from claims_frame")
        conn.execute("create table documents as select * from documents_frame")
        points = conn.sql(sql_file("select_reported_values")).pl()
    assert points.height < claims.height  # d30 is no document
    for max_points in (1_000, 12, 3):
        expected = values_over_time_spec(points, max_points=max_points)
        assert values_over_time_spec_of(claims, documents, max_points=max_points) == expected
    wide = values_over_time_spec_of(claims, documents)["data"]["values"]
    assert max(p["n_sources"] for p in wide) > 5
    named = next(p for p in wide if p["n_sources"] > 5)["sources"].split(", ")
    assert len(named) == 5 and named == sorted(named)
