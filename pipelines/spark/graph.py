"""Connected components of an undirected graph held as a Spark edge list.

The Spark twin of `pipelines.lib.graph`, with the same convention: every node's component is
named by the smallest node id in it. Min-label propagation with pointer jumping: each round
every node takes the smallest label among itself and its neighbours, then the label of its
label; rounds stop at the fixed point (no label changed). Each round's labels are
checkpointed locally so the query plan does not grow with the number of rounds.
"""

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

MAX_ROUNDS = 100


def connected_components(edges: DataFrame, src: str, dst: str) -> DataFrame:
    """`node`, `component` for every node named by an edge; a component is its smallest node.

    `edges` holds one undirected edge per row in columns `src` and `dst` (same type); an edge
    whose `dst` is null only adds its `src` node. Raises RuntimeError if the labels have not
    settled after MAX_ROUNDS rounds (each round at least halves the longest label chain, so
    that means a graph far beyond anything we process).
    """
    pairs = edges.select(F.col(src).alias("a"), F.coalesce(F.col(dst), F.col(src)).alias("b")).where(
        F.col("a").isNotNull()
    )
    both = pairs.unionByName(pairs.select(F.col("b").alias("a"), F.col("a").alias("b"))).distinct()
    both = both.localCheckpoint(eager=True)
    labels = both.select(F.col("a").alias("node")).distinct().withColumn("component", F.col("node"))
    labels = labels.localCheckpoint(eager=True)
    for _ in range(MAX_ROUNDS):
        neighbour = (
            both.join(labels.withColumnRenamed("node", "b"), on="b")
            .groupBy("a")
            .agg(F.min("component").alias("neighbour"))
            .withColumnRenamed("a", "node")
        )
        stepped = labels.join(neighbour, on="node", how="left").select(
            "node", F.least("component", F.coalesce("neighbour", "component")).alias("component")
        )
        # pointer jumping: adopt the label of my label, which shortens long chains quickly
        grand = stepped.select(F.col("node").alias("component"), F.col("component").alias("grand"))
        jumped = stepped.join(grand, on="component", how="left").select(
            "node", F.least("component", F.coalesce("grand", "component")).alias("component")
        )
        jumped = jumped.localCheckpoint(eager=True)
        changed = (
            jumped.join(labels.withColumnRenamed("component", "previous"), on="node")
            .where(F.col("component") != F.col("previous"))
            .limit(1)
            .count()
        )
        labels = jumped
        if changed == 0:
            return labels
    raise RuntimeError(f"connected components did not settle in {MAX_ROUNDS} rounds")
