"""Connected components of an undirected graph held as a Polars edge list.

Used twice: passages linked by verified copy pairs form syndication clusters, and claim
mentions linked by outlet or cluster form independent sources. Label propagation with
pointer jumping: every node takes the smallest label among itself and its neighbours, then
the label of its label, until nothing changes. Rounds grow with the log of the diameter, and
each round is two joins, so it stays vectorised at millions of edges.
"""

import polars as pl


def connected_components(nodes: pl.Series, edges: pl.DataFrame) -> pl.DataFrame:
    """`node`, `component` for every node; a component is named by its smallest node.

    `edges` has columns `a` and `b` of the same dtype as `nodes`; edges may name nodes that
    are not in `nodes` (they are added).
    """
    dtype = nodes.dtype
    both = pl.concat(
        [edges.select(pl.col("a").cast(dtype), pl.col("b").cast(dtype)),
         edges.select(pl.col("b").cast(dtype).alias("a"), pl.col("a").cast(dtype).alias("b"))]
    ).unique()
    all_nodes = pl.concat([nodes.rename("node").to_frame(), both.select(pl.col("a").alias("node"))]).unique()
    labels = all_nodes.with_columns(component=pl.col("node"))
    while True:
        from_neighbours = (
            both.join(labels, left_on="b", right_on="node")
            .group_by("a")
            .agg(pl.col("component").min().alias("neighbour"))
        )
        stepped = (
            labels.join(from_neighbours, left_on="node", right_on="a", how="left")
            .with_columns(component=pl.min_horizontal("component", "neighbour"))
            .drop("neighbour")
        )
        # pointer jumping: adopt the label of my label, which shortens long chains quickly
        jumped = stepped.join(
            stepped.rename({"node": "component", "component": "grand"}), on="component", how="left"
        ).with_columns(component=pl.min_horizontal("component", "grand")).drop("grand")
        changed = jumped.join(labels, on="node", suffix="_old").filter(
            pl.col("component") != pl.col("component_old")
        ).height
        labels = jumped
        if changed == 0:
            return labels.sort("node")
