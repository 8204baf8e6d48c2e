"""Facts: claim mentions that state the same thing, merged, with sources counted honestly.

A fact is one (measure, unit, period, value_low, value_high). The qualifier is not part of
the key: "about $2,000" and "$2,000" state the same figure, and the fact lists the
qualifiers it was stated with.

Independent sources: two mentions are one source when they come from the same outlet (the
same document when the outlet is unknown) or from the same passage cluster (a syndicated
copy). That is the number of connected components of the graph linking each mention's
outlet to its cluster, per fact — so one wire paragraph reprinted by five outlets counts
once, and one outlet repeating a figure in two paragraphs counts once.

Conflicts: facts of the same measure, unit and period whose ranges differ — overlapping or
disjoint — flag each other (10,000 vs 12,000 troops). `other` is not a measure, so its
facts never conflict.
"""

import hashlib

import numpy as np
import polars as pl

from pipelines.lib.graph import component_labels

FACTS_SCHEMA = {
    "fact_id": pl.Utf8,
    "measure": pl.Utf8,
    "unit": pl.Utf8,
    "period": pl.Utf8,
    "value_low": pl.Float64,
    "value_high": pl.Float64,
    "qualifiers": pl.List(pl.Utf8),
    "n_mentions": pl.Int32,
    "n_documents": pl.Int32,
    "n_independent_sources": pl.Int32,
    "attributed_to": pl.List(pl.Utf8),
    "first_seen_at": pl.Datetime("us"),
    "claim_ids": pl.List(pl.Utf8),
    "conflicts_with": pl.List(pl.Utf8),
}
FACT_KEY = ["measure", "unit", "period", "value_low", "value_high"]
UNCONFLICTED_MEASURES = ("other",)


# The values the most documents state, from the facts as built: a fact's key is a value (measure,
# unit, period, range) and it counts its documents, mentions and speakers over every claim.
# (The claims step computed the same table over every claim in DuckDB, 0.18-0.34 s of each +1%
# run at 100,000 articles; from the built facts it costs a sort of a few thousand rows.)
MOST_STATED_COLUMNS = ("measure", "value_low", "value_high", "unit", "period", "n_mentions", "n_documents", "attributed_to")


def most_stated_values(built: pl.DataFrame, n: int = 10) -> pl.DataFrame:
    """The `n` facts stated by the most documents, then mentions, ties broken by the value
    (nulls last): their value, counts and who said them."""
    order = ["n_documents", "n_mentions", "measure", "value_low", "value_high", "unit", "period"]
    return (
        built.sort(order, descending=[True, True, False, False, False, False, False], nulls_last=True)
        .head(n)
        .select(MOST_STATED_COLUMNS)
    )


def fact_id_for(measure: str, unit: str, period: str | None, value_low: float, value_high: float) -> str:
    key = f"{measure}|{unit}|{period or ''}|{value_low!r}|{value_high!r}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def build_facts(
    claims: pl.DataFrame, documents: pl.DataFrame, keyed: tuple[pl.DataFrame, pl.Series] | None = None
) -> pl.DataFrame:
    """One row per distinct claim.

    `claims` has the published claim columns (at least claim_id, doc_id, cluster_id, measure,
    unit, period, value_low, value_high, qualifier, attributed_to); `documents` has doc_id,
    outlet, published_at, ingested_at. `keyed` is `fact_rows(claims)` when the caller has it.
    """
    if claims.is_empty():
        return pl.DataFrame(schema=FACTS_SCHEMA)
    # ids are hashed once per distinct fact, not per mention; a fact is carried as its row
    # number in `keys` (an integer) until the rows are built
    keys, fact = keyed if keyed is not None else fact_rows(claims)
    keys = keys.with_columns(
        fact_id=pl.struct(FACT_KEY).map_elements(lambda k: fact_id_for(**k), return_dtype=pl.Utf8)
    ).with_row_index("fact")
    # a document's source is named once per document, as an integer code, not once per mention,
    # and so is the document (`doc`: its documents are counted as integers, 0.03 against 0.16 s
    # for 1.3 million ids at 100,000 articles)
    mentions = claims.with_columns(fact).join(_sources(documents), on="doc_id", how="left")
    if mentions["doc"].null_count():
        # a claim whose document is missing (which the reference checks rule out) is a source of
        # its own: the documents' codes are made again with those ids among them
        missing = claims.select("doc_id").unique().join(documents, on="doc_id", how="anti")
        mentions = claims.with_columns(fact).join(_sources(pl.concat([documents, missing], how="diagonal")), on="doc_id", how="left")
    facts = mentions.group_by("fact").agg(
        qualifiers=pl.col("qualifier").unique().sort(),
        n_mentions=pl.len(),
        n_documents=pl.col("doc").n_unique(),
        attributed_to=pl.col("attributed_to").drop_nulls().unique().sort(),
        first_seen_at=pl.coalesce(pl.col("published_at").min(), pl.col("ingested_at").min()),
        claim_ids=pl.col("claim_id").sort(),
    )
    facts = keys.join(facts, on="fact").join(_independent_sources(mentions), on="fact", how="left")
    conflicts = _conflicts(facts)
    return (
        facts.join(conflicts, on="fact_id", how="left")
        .with_columns(pl.col("conflicts_with").fill_null(pl.lit([], dtype=pl.List(pl.Utf8))))
        .select(list(FACTS_SCHEMA))
        .cast(FACTS_SCHEMA)
        .sort("measure", "unit", "value_low", "value_high", "fact_id", nulls_last=True)
    )


def _sources(documents: pl.DataFrame) -> pl.DataFrame:
    """Per document (`doc_id`): its dates, `source` (its outlet's code, or its own when it has
    none: "outlet:" and the lower-cased outlet or the doc_id, densely ranked) and `doc` (its own
    code, its row)."""
    return documents.select(
        "doc_id", "published_at", "ingested_at",
        source=pl.concat_str(pl.lit("outlet:"), pl.coalesce(pl.col("outlet").str.to_lowercase(), "doc_id"))
        .rank("dense").cast(pl.UInt32),
        doc=pl.int_range(pl.len(), dtype=pl.UInt32),
    )


def fact_rows(claims: pl.DataFrame) -> tuple[pl.DataFrame, pl.Series]:
    """The distinct fact keys of `claims` (`FACT_KEY`), and each claim's row in them (`fact`,
    UInt32; the facts' chart groups its points by it too). One
    grouping that keeps each key's claim rows, scattered back by row number: at 100,000
    articles 0.14-0.36 s, against 0.45-0.71 s for the distinct keys joined back to every claim."""
    grouped = claims.select(FACT_KEY).with_row_index("row").group_by(FACT_KEY).agg("row")
    fact = np.empty(claims.height, dtype=np.uint32)
    fact[grouped["row"].explode().to_numpy()] = np.repeat(
        np.arange(grouped.height, dtype=np.uint32), grouped["row"].list.len().to_numpy()
    )
    return grouped.drop("row"), pl.Series("fact", fact)


def _independent_sources(mentions: pl.DataFrame) -> pl.DataFrame:
    """Per fact (`fact`), the connected components of its mentions' sources (`source`, an
    outlet's code) and clusters: an outlet repeating itself, and copies of one passage, count
    once. A node is a (fact, source) or (fact, cluster) pair packed into one integer, so the
    graph of every fact is built at once without string keys, and labelled by SciPy."""
    high = pl.col("fact").cast(pl.UInt64) * (1 << 32)
    packed = mentions.select(
        source=high + pl.col("source").cast(pl.UInt64),
        # a mention without a cluster links nothing: its source still counts on its own
        cluster=high + pl.col("cluster_id").cast(pl.Categorical).to_physical().cast(pl.UInt64),
    )
    source_nodes, a = _dense_codes(packed["source"])
    linked = packed.filter(pl.col("cluster").is_not_null())
    cluster_nodes, b = _dense_codes(linked["cluster"])
    a_linked = a[packed["cluster"].is_not_null().to_numpy()]
    label = component_labels(len(source_nodes) + len(cluster_nodes), a_linked.astype(np.int64), b.astype(np.int64) + len(source_nodes))
    return (
        pl.DataFrame({"fact": source_nodes >> np.uint64(32), "component": label[: len(source_nodes)]})
        .group_by("fact")
        .agg(n_independent_sources=pl.col("component").n_unique())
        .cast({"fact": pl.UInt32})
    )


def _dense_codes(keys: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """`np.unique(keys, return_inverse=True)`: the distinct keys in order and each key's row in
    them, from Polars' dense rank (a parallel sort: at 100,000 articles 0.05-0.09 s for 1.3
    million keys against 0.21-0.23 s for NumPy's)."""
    values = keys.to_numpy()
    codes = keys.rank("dense").to_numpy().astype(np.int64) - 1
    distinct = np.empty(codes.max() + 1 if len(codes) else 0, dtype=values.dtype)
    distinct[codes] = values
    return distinct, codes


def _conflicts(facts: pl.DataFrame) -> pl.DataFrame:
    scoped = facts.filter(~pl.col("measure").is_in(UNCONFLICTED_MEASURES)).select(
        "fact_id", "measure", "unit", pl.col("period").fill_null("")
    )
    return (
        scoped.join(scoped, on=["measure", "unit", "period"], suffix="_other")
        .filter(pl.col("fact_id") != pl.col("fact_id_other"))
        .group_by("fact_id")
        .agg(conflicts_with=pl.col("fact_id_other").sort())
    )
