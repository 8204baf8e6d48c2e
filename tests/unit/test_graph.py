"""Unit tests for pipelines.lib.graph."""

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from pipelines.lib.graph import connected_components


def test_components_are_named_by_their_smallest_node():
    edges = pl.DataFrame({"a": ["d", "c", "x"], "b": ["c", "b", "y"]})
    labels = connected_components(pl.Series(["a", "b", "c", "d"]), edges)
    assert labels.rows() == [("a", "a"), ("b", "b"), ("c", "b"), ("d", "b"), ("x", "x"), ("y", "x")]


def test_long_chain_collapses_to_one_component():
    n = 1000
    edges = pl.DataFrame({"a": list(range(1, n)), "b": list(range(n - 1))})
    labels = connected_components(pl.Series(list(range(n))), edges)
    assert labels["component"].unique().to_list() == [0]


@settings(max_examples=200, deadline=None)
@given(
    nodes=st.lists(st.integers(0, 30), max_size=20),
    edges=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30)), max_size=40),
)
def test_components_equal_a_union_find_reference(nodes, edges):
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for x in nodes:
        find(x)
    for a, b in edges:
        ra, rb = find(a), find(b)
        parent[max(ra, rb)] = min(ra, rb)  # the smaller root wins, so a root is its set's minimum
    expected = sorted((x, find(x)) for x in parent)
    frame = pl.DataFrame({"a": [a for a, _ in edges], "b": [b for _, b in edges]}, schema={"a": pl.Int64, "b": pl.Int64})
    assert connected_components(pl.Series(nodes, dtype=pl.Int64), frame).rows() == expected
