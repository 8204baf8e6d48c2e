"""Unit tests for pipelines.lib.facts: merging, independent sources, conflicts."""

from datetime import datetime

import polars as pl

from pipelines.lib.facts import build_facts, fact_id_for

CLAIMS = pl.DataFrame(
    {
        "claim_id": ["c1", "c2", "c3", "c4", "c5", "c6"],
        "doc_id": ["d1", "d2", "d3", "d3", "d4", "d4"],
        "cluster_id": ["k1", "k1", "k2", "k3", "k4", "k5"],
        "measure": ["pay_per_soldier"] * 3 + ["troops_deployed"] * 2 + ["other"],
        "unit": ["USD"] * 3 + ["person"] * 2 + ["percent"],
        "period": ["month"] * 3 + [None, None, None],
        "value_low": [2000.0, 2000.0, 2000.0, 10000.0, 12000.0, 5.0],
        "value_high": [2000.0, 2000.0, 2000.0, 10000.0, 12000.0, 5.0],
        "qualifier": ["approx", "exact", "approx", "at_least", "approx", "exact"],
        "attributed_to": ["NIS", None, "Wi Sung-lac", "Wi Sung-lac", None, None],
    }
)
DOCUMENTS = pl.DataFrame(
    {
        "doc_id": ["d1", "d2", "d3", "d4"],
        "outlet": [None, None, "Outlet X", "outlet x"],
        "published_at": [None, datetime(2024, 11, 4), None, None],
        "ingested_at": [datetime(2026, 1, 1)] * 4,
    }
)


def test_same_statement_is_one_fact_and_syndicated_copies_count_once():
    facts = build_facts(CLAIMS, DOCUMENTS)
    pay = facts.filter(pl.col("measure") == "pay_per_soldier").row(0, named=True)
    # c1 and c2 are one syndicated passage (cluster k1) in two documents: one source; c3 another
    assert (pay["n_mentions"], pay["n_documents"], pay["n_independent_sources"]) == (3, 3, 2)
    assert pay["attributed_to"] == ["NIS", "Wi Sung-lac"]
    assert pay["qualifiers"] == ["approx", "exact"]
    assert pay["claim_ids"] == ["c1", "c2", "c3"]
    assert pay["first_seen_at"] == datetime(2024, 11, 4)
    assert pay["fact_id"] == fact_id_for("pay_per_soldier", "USD", "month", 2000.0, 2000.0)


def test_one_outlet_counts_once_across_documents():
    claims = CLAIMS.with_columns(measure=pl.lit("troops_deployed"), unit=pl.lit("person"), period=pl.lit(None),
                                 value_low=pl.lit(1.0), value_high=pl.lit(1.0)).filter(pl.col("doc_id").is_in(["d3", "d4"]))
    facts = build_facts(claims, DOCUMENTS)
    # d3 and d4 are one outlet (case aside), in four different clusters
    assert facts["n_independent_sources"].to_list() == [1]


def test_different_values_of_one_measure_conflict():
    facts = build_facts(CLAIMS, DOCUMENTS)
    troops = facts.filter(pl.col("measure") == "troops_deployed")
    ids = troops["fact_id"].to_list()
    assert troops["conflicts_with"].to_list() == [[ids[1]], [ids[0]]]
    assert facts.filter(pl.col("measure") == "other")["conflicts_with"].to_list() == [[]]
    assert facts.filter(pl.col("measure") == "pay_per_soldier")["conflicts_with"].to_list() == [[]]


def test_no_claims_no_facts():
    assert build_facts(CLAIMS.clear(), DOCUMENTS).height == 0


def test_mentions_without_a_cluster_link_nothing():
    # c1, c2 (d1, d2: no outlet, so each document is its own source) lose their shared cluster
    claims = CLAIMS.with_columns(cluster_id=pl.when(pl.col("claim_id").is_in(["c1", "c2", "c3"])).then(None).otherwise(pl.col("cluster_id")))
    pay = build_facts(claims, DOCUMENTS).filter(pl.col("measure") == "pay_per_soldier").row(0, named=True)
    assert (pay["n_mentions"], pay["n_documents"], pay["n_independent_sources"]) == (3, 3, 3)


def test_a_mention_whose_document_is_missing_is_a_source_of_its_own():
    # c7 and c8 name documents that are not in `documents` (the reference checks rule that out
    # in a run): each counts as its own source, by its doc_id, unless a cluster links it
    extra = pl.DataFrame(
        {
            "claim_id": ["c7", "c8", "c9"], "doc_id": ["dX", "dY", "dZ"], "cluster_id": [None, "k9", "k9"],
            "measure": ["pay_per_soldier"] * 3, "unit": ["USD"] * 3, "period": ["month"] * 3,
            "value_low": [2000.0] * 3, "value_high": [2000.0] * 3, "qualifier": ["exact"] * 3, "attributed_to": [None] * 3,
        }
    )
    pay = build_facts(pl.concat([CLAIMS, extra]), DOCUMENTS).filter(pl.col("measure") == "pay_per_soldier").row(0, named=True)
    # k1 links d1 and d2; d3 (Outlet X); dX; dY and dZ linked by k9
    assert (pay["n_mentions"], pay["n_documents"], pay["n_independent_sources"]) == (6, 6, 4)
    assert pay["first_seen_at"] == datetime(2024, 11, 4)


def test_dense_codes_are_numpys_distinct_keys_and_inverse():
    import numpy as np

    from pipelines.lib.facts import _dense_codes

    rng = np.random.default_rng(7)
    for keys in (np.array([], dtype=np.uint64), np.array([5], dtype=np.uint64),
                 rng.integers(0, 50, 1_000, dtype=np.uint64) << np.uint64(32) | rng.integers(0, 3, 1_000, dtype=np.uint64),
                 np.array([2**64 - 1, 0, 2**63, 0], dtype=np.uint64)):
        distinct, inverse = _dense_codes(pl.Series(keys))
        expected_distinct, expected_inverse = np.unique(keys, return_inverse=True)
        assert distinct.dtype == np.uint64
        assert distinct.tolist() == expected_distinct.tolist()
        assert inverse.tolist() == expected_inverse.tolist()


def test_the_most_stated_values_are_the_values_most_documents_state():
    """`most_stated_values` of the built facts gives the rows of the plain definition over the
    claims (one grouping of every claim, documents counted distinct), which the claims step used
    to compute in DuckDB: with nulls in the value's columns, values a document states more than
    once, ties broken by the value, and more than ten values."""
    import duckdb

    from pipelines.lib.facts import most_stated_values

    definition = """
        select measure, value_low, value_high, unit, period, count(*) as n_mentions, count(distinct doc_id) as n_documents,
               list_sort(coalesce(list(distinct attributed_to) filter (where attributed_to is not null), [])) as attributed_to
        from claims
        group by measure, value_low, value_high, unit, period
        order by n_documents desc, n_mentions desc, measure, value_low, value_high, unit, period
        limit 10
    """
    with duckdb.connect() as conn:
        conn.execute(
            """
            create table claims as
            select
                'c' || i || '-' || k as claim_id,
                'doc-' || ((i + k * (k - 1)) % 37) as doc_id,
                'cluster-' || (i % 17) as cluster_id,
                case when i % 7 = 0 then null else 'measure_' || (i % 5) end as measure,
                case when i % 3 = 0 then null else 'unit_' || (i % 2) end as unit,
                case when i % 2 = 0 then null else 'month' end as period,
                (i % 13)::double as value_low,
                case when i % 11 = 0 then null else (i % 13 + i % 2)::double end as value_high,
                'exact' as qualifier,
                case when i % 6 = 0 then null else 'source ' || ((i + k) % 4) end as attributed_to
            from range(2000) as r(i), range(3) as copies(k)
            """
        )
        expected = conn.sql(definition).fetchall()
        claims = conn.sql("select * from claims").pl()
    documents = pl.DataFrame(
        {"doc_id": [f"doc-{i}" for i in range(37)], "outlet": [f"outlet {i % 5}" for i in range(37)],
         "published_at": [datetime(2024, 10, 1 + i % 28) for i in range(37)], "ingested_at": [datetime(2024, 11, 1)] * 37},
    )
    assert len(expected) == 10 and any(None in row[:5] for row in expected)
    # a document states a value more than once (three copies, two documents)
    assert all(n_mentions > n_documents for *_, n_mentions, n_documents, _ in expected)
    rows = most_stated_values(build_facts(claims, documents)).rows()
    assert [(*row[:7], list(row[7])) for row in rows] == [(*row[:7], list(row[7])) for row in expected]
    # the tenth value ties with the eleventh on both counts: the value breaks the tie
    assert most_stated_values(build_facts(claims, documents), n=11).row(10)[5:7] == rows[9][5:7]
    assert most_stated_values(build_facts(claims.clear(), documents)).is_empty()


def test_the_most_stated_values_break_ties_by_the_value_with_nulls_last():
    from pipelines.lib.facts import FACTS_SCHEMA, most_stated_values

    def fact(measure, value_low, period, n_documents, n_mentions):
        return {"fact_id": f"{measure}{value_low}{period}", "measure": measure, "unit": "USD", "period": period,
                "value_low": value_low, "value_high": value_low, "qualifiers": [], "n_mentions": n_mentions,
                "n_documents": n_documents, "n_independent_sources": 1, "attributed_to": [], "first_seen_at": None,
                "claim_ids": [], "conflicts_with": []}

    built = pl.DataFrame(
        [fact(None, 1.0, None, 3, 3), fact("pay", 2.0, "month", 3, 3), fact("pay", 2.0, None, 3, 3),
         fact("pay", 1.0, None, 3, 4), fact("pay", 9.0, None, 5, 5), fact("aid", 1.0, None, 3, 3)],
        schema=FACTS_SCHEMA,
    )
    assert most_stated_values(built).select("measure", "value_low", "period").rows() == [
        ("pay", 9.0, None), ("pay", 1.0, None), ("aid", 1.0, None), ("pay", 2.0, "month"), ("pay", 2.0, None), (None, 1.0, None),
    ]
    assert most_stated_values(built, n=2).height == 2
