"""Unit tests for pipelines.lib.graph."""

import polars as pl

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
