"""Connected components on Spark: the same labels as the Polars version (smallest node names a component)."""

import polars as pl
import pytest

from pipelines.lib.graph import connected_components as components_in_polars

pytestmark = pytest.mark.spark


def _labels(frame) -> dict[str, str]:
    return dict(frame.select("node", "component").collect())


@pytest.mark.parametrize(
    ("edges", "expected"),
    [
        # a chain written from its far end needs several rounds (and the pointer jump) to settle
        ([("e", "d"), ("d", "c"), ("c", "b"), ("b", "a")], dict.fromkeys("abcde", "a")),
        # two components; a self-loop; a node whose only edge has no other end
        ([("b", "c"), ("x", "y"), ("z", "z"), ("q", None)],
         {"b": "b", "c": "b", "x": "x", "y": "x", "z": "z", "q": "q"}),
        # a star whose centre is not the smallest node, and a cycle
        ([("m", "k"), ("m", "n"), ("m", "a"), ("p", "r"), ("r", "s"), ("s", "p")],
         {"m": "a", "k": "a", "n": "a", "a": "a", "p": "p", "r": "p", "s": "p"}),
    ],
)
def test_components_are_named_by_their_smallest_node(spark, edges, expected):
    from pipelines.spark.graph import connected_components

    frame = spark.createDataFrame(edges, "src string, dst string")
    assert _labels(connected_components(frame, "src", "dst")) == expected


def test_no_edges_no_nodes(spark):
    from pipelines.spark.graph import connected_components

    assert connected_components(spark.createDataFrame([], "src string, dst string"), "src", "dst").count() == 0


def test_random_graph_equals_the_polars_components(spark):
    from pipelines.spark.graph import connected_components

    edges = pl.DataFrame({
        "a": [f"n{(i * 7919) % 997:03d}" for i in range(600)],
        "b": [f"n{(i * 104729 + 13) % 997:03d}" for i in range(600)],
    })
    expected = components_in_polars(edges["a"], edges)
    got = connected_components(spark.createDataFrame(edges.to_arrow()), "a", "b")
    assert _labels(got) == dict(expected.iter_rows())
    assert expected["component"].n_unique() > 1
