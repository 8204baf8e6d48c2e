"""Connected components of an undirected graph held as a Polars edge list.

Used twice: passages linked by verified copy pairs form syndication clusters, and claim
mentions linked by outlet or cluster form independent sources. Nodes become integer codes
(their rank), SciPy's `csgraph.connected_components` labels the sparse graph (a native
union-find pass: linear in the edges), and each component is named by its smallest node.
"""

import numpy as np
import polars as pl
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components as _label_components


def connected_components(nodes: pl.Series, edges: pl.DataFrame) -> pl.DataFrame:
    """`node`, `component` for every node; a component is named by its smallest node.

    `edges` has columns `a` and `b` of the same dtype as `nodes`; edges may name nodes that
    are not in `nodes` (they are added).
    """
    dtype = nodes.dtype
    ends = edges.select(pl.col("a").cast(dtype), pl.col("b").cast(dtype))
    # sorted, so a code's order is the node's order and the smallest code names the component
    all_nodes = pl.concat([nodes.rename("node"), ends["a"].rename("node"), ends["b"].rename("node")]).unique().sort()
    codes = pl.DataFrame({"node": all_nodes, "code": np.arange(len(all_nodes), dtype=np.int64)})
    coded = ends.join(codes.rename({"node": "a", "code": "i"}), on="a").join(
        codes.rename({"node": "b", "code": "j"}), on="b"
    )
    n = len(all_nodes)
    label = component_labels(n, coded["i"].to_numpy(), coded["j"].to_numpy())
    # the smallest code carrying each label: codes run in order, so its first occurrence
    first = np.full(label.max() + 1 if n else 0, n, dtype=np.int64)
    np.minimum.at(first, label, np.arange(n, dtype=np.int64))
    return pl.DataFrame({"node": all_nodes, "component": all_nodes.gather(first[label])})


def component_labels(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """A component label for each of `n` integer nodes 0..n-1 linked by the edges (a[k], b[k])."""
    graph = coo_matrix((np.ones(len(a), dtype=np.int8), (a, b)), shape=(n, n)).tocsr()
    _, label = _label_components(graph, directed=False)
    return label
