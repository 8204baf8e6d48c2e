"""Unit tests for `merge_facts`: facts built from some claims, then merged with the claims added
since (and the clusters that merged since), equal the facts built from every claim."""

from datetime import datetime, timedelta

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.lib.facts import FACT_KEY, FactChanges, FactState, build_facts, build_facts_and_state, merge_facts, source_name_of, with_fact_ids

CLAIM_COLUMNS = ["claim_id", "doc_id", "cluster_id", *FACT_KEY, "qualifier", "attributed_to"]


def _merge_inputs(facts: pl.DataFrame, state: FactState, before: pl.DataFrame, after: pl.DataFrame, documents: pl.DataFrame):
    """What the facts step reads from the warehouse for `merge_facts`, computed here from the
    claims the facts were built from (`before`) and the claims now (`after`)."""
    added = after.join(before, on="claim_id", how="anti")
    relabelled = after.join(before.select("claim_id", before_cluster="cluster_id"), on="claim_id").filter(
        pl.col("cluster_id").ne_missing(pl.col("before_cluster"))
    )
    changed = pl.concat([added.select(CLAIM_COLUMNS), relabelled.select(CLAIM_COLUMNS)])
    not_added = after.join(added, on="claim_id", how="anti")
    mates = not_added.join(
        changed.filter(pl.col("cluster_id").is_not_null()).select(*FACT_KEY, "cluster_id").unique(),
        on=[*FACT_KEY, "cluster_id"], how="semi", nulls_equal=True,
    )
    sourced = documents.select("doc_id", "published_at", "ingested_at", source=source_name_of(pl.col("outlet"), pl.col("doc_id")))
    links = pl.concat([changed, mates.select(CLAIM_COLUMNS)]).join(sourced, on="doc_id", how="left").select(
        *FACT_KEY, source=pl.coalesce("source", pl.concat_str(pl.lit("outlet:"), "doc_id")), cluster_id="cluster_id"
    )
    counted = not_added.select(*FACT_KEY, "doc_id").unique()
    added = added.join(sourced, on="doc_id", how="left").join(
        counted.with_columns(doc_counted=pl.lit(True)), on=[*FACT_KEY, "doc_id"], how="left", nulls_equal=True
    ).with_columns(pl.col("doc_counted").fill_null(False))
    touched = pl.concat([with_fact_ids(added.select(FACT_KEY)), with_fact_ids(links.select(FACT_KEY))]).unique("fact_id")
    created = touched.join(facts, on="fact_id", how="anti")
    old = facts.filter(
        pl.col("fact_id").is_in(touched["fact_id"].implode())
        | pl.struct("measure", "unit", "period").is_in(created.select(pl.struct("measure", "unit", "period")).to_series().implode())
    )
    stored = FactState(
        sources=state.sources.join(with_fact_ids(links).select("fact_id", "source").unique(), on=["fact_id", "source"], how="semi"),
        dates=state.dates.join(old.select("fact_id"), on="fact_id", how="semi"),
    )
    return old, added, links, stored


def _apply(facts: pl.DataFrame, state: FactState, rows: pl.DataFrame, changed: FactChanges) -> tuple[pl.DataFrame, FactState]:
    """The stored facts and state with the merge's rows written as the facts step writes them."""
    facts = pl.concat([facts.join(rows, on="fact_id", how="anti"), rows])
    renamed = state.sources.join(changed.renamed, on=["fact_id", "component"], how="left").select(
        "fact_id", "source", component=pl.coalesce("renamed_to", "component")
    )
    sources = pl.concat([renamed, changed.sources])
    dates = pl.concat([state.dates.join(changed.dates, on="fact_id", how="anti"), changed.dates])
    return facts, FactState(sources, dates)


def _same(a: pl.DataFrame, b: pl.DataFrame) -> None:
    order = ["fact_id"]
    assert a.sort(order).to_dicts() == b.sort(order).to_dicts()


def _state_equal(a: FactState, b: FactState) -> None:
    assert sorted(a.sources.rows()) == sorted(b.sources.rows())
    assert sorted(a.dates.rows()) == sorted(b.dates.rows())


DOCUMENTS = pl.DataFrame(
    {
        "doc_id": [f"d{i}" for i in range(8)],
        "outlet": ["Wire", "wire", None, None, "Daily", None, "Daily", None],
        "published_at": [None, datetime(2024, 11, 4), None, datetime(2024, 10, 1), None, None, datetime(2024, 12, 1), None],
        "ingested_at": [datetime(2026, 1, 1) + timedelta(days=i) for i in range(8)],
    }
)


def _claim(i: int, doc: int, cluster: int | None, value: float, qualifier: str = "exact", speaker: str | None = None) -> dict:
    return {
        "claim_id": f"c{i:03d}", "doc_id": f"d{doc}", "cluster_id": None if cluster is None else f"k{cluster}",
        "measure": "troops_deployed", "unit": "person", "period": None, "value_low": value, "value_high": value,
        "qualifier": qualifier, "attributed_to": speaker,
    }


def _frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema={
        "claim_id": pl.Utf8, "doc_id": pl.Utf8, "cluster_id": pl.Utf8, "measure": pl.Utf8, "unit": pl.Utf8, "period": pl.Utf8,
        "value_low": pl.Float64, "value_high": pl.Float64, "qualifier": pl.Utf8, "attributed_to": pl.Utf8,
    })


def _merged(before: pl.DataFrame, after: pl.DataFrame, documents: pl.DataFrame = DOCUMENTS) -> tuple[pl.DataFrame, FactState]:
    facts, state = build_facts_and_state(before, documents)
    old, added, links, stored = _merge_inputs(facts, state, before, after, documents)
    rows, changed = merge_facts(old, added, links, stored)
    return _apply(facts, state, rows, changed)


def test_a_claim_in_an_existing_cluster_of_another_source_joins_its_component():
    # 10,000 troops: d2 and d3 (no outlet) in clusters k1 and k2: two sources
    before = _frame([_claim(1, 2, 1, 10_000.0), _claim(2, 3, 2, 10_000.0)])
    # d5 copies k1 (one source with d2 still) and d4, a new outlet, copies k2 and k1: one source in all
    after = pl.concat([before, _frame([_claim(3, 5, 1, 10_000.0, "approx", "NIS"), _claim(4, 4, 2, 10_000.0), _claim(5, 4, 1, 10_000.0)])])
    assert build_facts(before, DOCUMENTS)["n_independent_sources"].to_list() == [2]
    facts, state = _merged(before, after)
    expected, expected_state = build_facts_and_state(after, DOCUMENTS)
    assert facts["n_independent_sources"].to_list() == [1]
    assert facts["n_documents"].to_list() == [4] and facts["n_mentions"].to_list() == [5]
    assert facts["qualifiers"].to_list() == [["approx", "exact"]] and facts["attributed_to"].to_list() == [["NIS"]]
    _same(facts, expected)
    _state_equal(state, expected_state)


def test_a_new_value_conflicts_with_the_old_ones_and_they_with_it():
    before = _frame([_claim(1, 0, 1, 10_000.0), _claim(2, 1, 2, 12_000.0)])
    after = pl.concat([before, _frame([_claim(3, 2, 3, 11_000.0)])])
    facts, state = _merged(before, after)
    expected, expected_state = build_facts_and_state(after, DOCUMENTS)
    assert facts["conflicts_with"].list.len().to_list() == [2, 2, 2]
    _same(facts, expected)
    _state_equal(state, expected_state)


def test_clusters_that_merge_join_their_sources():
    # k1 (d2) and k2 (d3) merge into k1: d3's claim is relabelled, nothing is added
    before = _frame([_claim(1, 2, 1, 10_000.0), _claim(2, 3, 2, 10_000.0), _claim(3, 3, 2, 5.0)])
    after = before.with_columns(cluster_id=pl.when(pl.col("cluster_id") == "k2").then(pl.lit("k1")).otherwise("cluster_id"))
    facts, state = _merged(before, after)
    expected, expected_state = build_facts_and_state(after, DOCUMENTS)
    assert facts.filter(pl.col("value_low") == 10_000.0)["n_independent_sources"].to_list() == [1]
    _same(facts, expected)
    _state_equal(state, expected_state)


def test_first_seen_moves_to_a_publication_date_when_the_fact_had_none():
    # d2 has no publication date (first seen when ingested); d3, added, was published before
    before = _frame([_claim(1, 2, 1, 10_000.0)])
    after = pl.concat([before, _frame([_claim(2, 3, 2, 10_000.0)])])
    facts, _ = _merged(before, after)
    assert facts["first_seen_at"].to_list() == [datetime(2024, 10, 1)]
    _same(facts, build_facts(after, DOCUMENTS))


@st.composite
def _histories(draw):
    """Claims over the documents, a split into those the facts were built from and those added,
    and cluster merges between the two builds (a cluster is named by its smallest member)."""
    n = draw(st.integers(1, 40))
    rows = [
        _claim(
            i,
            draw(st.integers(0, 7)),
            draw(st.one_of(st.none(), st.integers(0, 9))),
            draw(st.sampled_from([10_000.0, 12_000.0, 2_000.0])),
            draw(st.sampled_from(["exact", "approx", "at_least"])),
            draw(st.sampled_from([None, "NIS", "Wi Sung-lac"])),
        )
        | {"measure": draw(st.sampled_from(["troops_deployed", "pay_per_soldier", "other"]))}
        for i in range(n)
    ]
    claims = _frame(rows)
    n_before = draw(st.integers(0, n))
    # a merge renames cluster b to a (a < b) for every claim, old or new
    merges = draw(st.lists(st.tuples(st.integers(0, 9), st.integers(0, 9)).filter(lambda p: p[0] < p[1]), max_size=3))
    after = claims
    for a, b in merges:
        after = after.with_columns(cluster_id=pl.when(pl.col("cluster_id") == f"k{b}").then(pl.lit(f"k{a}")).otherwise("cluster_id"))
    before = claims.head(n_before)
    return before, after


@settings(max_examples=300, deadline=None)
@given(_histories())
def test_merging_equals_building_from_every_claim(history):
    before, after = history
    facts, state = _merged(before, after)
    expected, expected_state = build_facts_and_state(after, DOCUMENTS)
    _same(facts, expected)
    _state_equal(state, expected_state)


def _split_clusters(claims: list[tuple[str, str]], backlog: list[tuple[str, str, str | None]]) -> int:
    """`SPLIT_CLUSTERS` over claims (claim_id, cluster_id) and backlog rows (claim_id, change,
    cluster_before)."""
    import duckdb

    from pipelines.defs.extract import SPLIT_CLUSTERS

    with duckdb.connect() as conn:
        conn.execute("create table claims (claim_id varchar, cluster_id varchar)")
        conn.execute("create table fact_backlog (claim_id varchar, change varchar, cluster_before varchar)")
        if claims:
            conn.executemany("insert into claims values (?, ?)", claims)
        if backlog:
            conn.executemany("insert into fact_backlog values (?, ?, ?)", backlog)
        return conn.sql(SPLIT_CLUSTERS).fetchall()[0][0]


def test_a_cluster_whose_claims_went_two_ways_is_a_split_and_a_merge_is_not():
    # k2's claim joined k1 (a merge): one cluster for everything k2 held
    assert _split_clusters([("x", "k1"), ("y", "k1"), ("z", "k1")], [("z", "relabelled", "k2")]) == 0
    # k1's y went to k3 while x stayed: k1 split
    assert _split_clusters([("x", "k1"), ("y", "k3")], [("y", "relabelled", "k1")]) == 1
    # both went to k3: renamed whole, not split
    assert _split_clusters([("x", "k3"), ("y", "k3")], [("x", "relabelled", "k1"), ("y", "relabelled", "k1")]) == 0
    # a claim added to k1 since was never in the k1 the facts saw
    assert _split_clusters([("x", "k3"), ("w", "k1")], [("x", "relabelled", "k1"), ("w", "added", None)]) == 0
