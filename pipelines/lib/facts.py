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
from dataclasses import dataclass

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

# What adding claims to built facts needs besides the facts (`merge_facts`), kept beside them:
# per fact and source, the component of the fact's sources the source is in (named by its
# smallest source), and per fact the earliest publication and ingest dates of its documents
# (first_seen_at is the first, else the second).
SOURCES_STATE_SCHEMA = {"fact_id": pl.Utf8, "source": pl.Utf8, "component": pl.Utf8}
DATES_STATE_SCHEMA = {"fact_id": pl.Utf8, "min_published_at": pl.Datetime("us"), "min_ingested_at": pl.Datetime("us")}


@dataclass(frozen=True)
class FactState:
    sources: pl.DataFrame  # SOURCES_STATE_SCHEMA
    dates: pl.DataFrame  # DATES_STATE_SCHEMA

    @staticmethod
    def empty() -> "FactState":
        return FactState(pl.DataFrame(schema=SOURCES_STATE_SCHEMA), pl.DataFrame(schema=DATES_STATE_SCHEMA))


@dataclass(frozen=True)
class FactChanges:
    """What `merge_facts` changes in the stored state."""

    sources: pl.DataFrame  # SOURCES_STATE_SCHEMA rows of sources new to their fact
    renamed: pl.DataFrame  # fact_id, component, renamed_to: every row of the component is renamed
    dates: pl.DataFrame  # DATES_STATE_SCHEMA rows replacing those of the facts merged


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
    return build_facts_and_state(claims, documents, keyed, with_state=False)[0]


def build_facts_and_state(
    claims: pl.DataFrame,
    documents: pl.DataFrame,
    keyed: tuple[pl.DataFrame, pl.Series] | None = None,
    with_state: bool = True,
) -> tuple[pl.DataFrame, FactState | None]:
    """`build_facts`, and (`with_state`) what `merge_facts` needs to add claims to them later."""
    if claims.is_empty():
        return pl.DataFrame(schema=FACTS_SCHEMA), (FactState.empty() if with_state else None)
    # ids are hashed once per distinct fact, not per mention; a fact is carried as its row
    # number in `keys` (an integer) until the rows are built
    keys, fact = keyed if keyed is not None else fact_rows(claims)
    keys = with_fact_ids(keys).with_row_index("fact")
    # a document's source is named once per document, as an integer code, not once per mention,
    # and so is the document (`doc`: its documents are counted as integers, 0.03 against 0.16 s
    # for 1.3 million ids at 100,000 articles)
    sources = _sources(documents)
    mentions = claims.with_columns(fact).join(sources.drop("source_name"), on="doc_id", how="left")
    if mentions["doc"].null_count():
        # a claim whose document is missing (which the reference checks rule out) is a source of
        # its own: the documents' codes are made again with those ids among them
        missing = claims.select("doc_id").unique().join(documents, on="doc_id", how="anti")
        sources = _sources(pl.concat([documents, missing], how="diagonal"))
        mentions = claims.with_columns(fact).join(sources.drop("source_name"), on="doc_id", how="left")
    facts = mentions.group_by("fact").agg(
        qualifiers=pl.col("qualifier").unique().sort(),
        n_mentions=pl.len(),
        n_documents=pl.col("doc").n_unique(),
        attributed_to=pl.col("attributed_to").drop_nulls().unique().sort(),
        min_published_at=pl.col("published_at").min(),
        min_ingested_at=pl.col("ingested_at").min(),
        claim_ids=pl.col("claim_id").sort(),
    ).with_columns(first_seen_at=pl.coalesce("min_published_at", "min_ingested_at"))
    components = _source_components(mentions)
    n_sources = components.group_by("fact").agg(n_independent_sources=pl.col("component").n_unique())
    facts = keys.join(facts, on="fact").join(n_sources, on="fact", how="left")
    conflicts = _conflicts(facts)
    built = (
        facts.join(conflicts, on="fact_id", how="left")
        .with_columns(pl.col("conflicts_with").fill_null(pl.lit([], dtype=pl.List(pl.Utf8))))
        .select(list(FACTS_SCHEMA))
        .cast(FACTS_SCHEMA)
        .sort("measure", "unit", "value_low", "value_high", "fact_id", nulls_last=True)
    )
    if not with_state:
        return built, None
    # the state names its sources and components: codes are this build's own
    names = sources.select(pl.col("source").alias("code"), pl.col("source_name")).unique("code")
    state_sources = (
        components.join(keys.select("fact", "fact_id"), on="fact")
        .join(names, left_on="source", right_on="code")
        .select("fact_id", pl.col("source_name").alias("source"), "component")
    )
    state = FactState(
        sources=_named_components(state_sources),
        dates=facts.select(list(DATES_STATE_SCHEMA)).cast(DATES_STATE_SCHEMA),
    )
    return built, state


def merge_facts(old: pl.DataFrame, added: pl.DataFrame, links: pl.DataFrame, state: FactState) -> tuple[pl.DataFrame, FactChanges]:
    """Built facts with the claims added since, and the cluster links those claims and relabelled
    ones (whose cluster changed by merging with another) bring: the rows `build_facts` gives
    over every claim, computed from the facts they change, not from every claim.

    - `old`: the stored rows (`FACTS_SCHEMA`) of every fact `added` or `links` names, and of
      every fact sharing a measure, unit and period with one they create (its conflicts change).
    - `added`: the claims added (claim_id, doc_id, `FACT_KEY`, qualifier, attributed_to), with
      their document's published_at and ingested_at, and `doc_counted`: the fact already
      counts the document (another of its claims is in the fact and was not added now).
    - `links`: (`FACT_KEY`, `source`: the `source_name_of` the claim's document, `cluster_id`)
      for every added or relabelled claim, and for every claim not added already in their
      clusters with the same fact.
    - `state`: the stored state rows: `sources` of the (fact, source) pairs of `links`, `dates`
      of the facts in `old`.

    Returns the rows that replace `old` (and the new facts), and the changes to the stored
    state: `sources` to add, components `renamed`, `dates` replacing those of `old`.
    """
    empty_list = pl.lit([], dtype=pl.List(pl.Utf8))
    added = with_fact_ids(added)
    links = with_fact_ids(links)
    grown = added.group_by("fact_id").agg(
        add_qualifiers=pl.col("qualifier").unique(),
        add_mentions=pl.len(),
        add_documents=pl.col("doc_id").filter(~pl.col("doc_counted")).n_unique(),
        add_attributed=pl.col("attributed_to").drop_nulls().unique(),
        add_published=pl.col("published_at").min(),
        add_ingested=pl.col("ingested_at").min(),
        add_claim_ids=pl.col("claim_id"),
    )
    new_sources, renamed, delta = _merged_components(links, state.sources)
    keys = pl.concat([added.select("fact_id", *FACT_KEY), links.select("fact_id", *FACT_KEY)]).unique("fact_id")
    created = keys.join(old, on="fact_id", how="anti").with_columns(
        qualifiers=empty_list, n_mentions=pl.lit(0), n_documents=pl.lit(0), n_independent_sources=pl.lit(0),
        attributed_to=empty_list, first_seen_at=pl.lit(None), claim_ids=empty_list, conflicts_with=empty_list,
    ).select(list(FACTS_SCHEMA)).cast(FACTS_SCHEMA)
    merged = (
        pl.concat([old.select(list(FACTS_SCHEMA)).cast(FACTS_SCHEMA), created])
        .join(state.dates, on="fact_id", how="left")
        .join(grown, on="fact_id", how="left")
        .join(delta, on="fact_id", how="left")
        .with_columns(
            qualifiers=pl.concat_list("qualifiers", pl.col("add_qualifiers").fill_null(empty_list)).list.unique().list.sort(),
            n_mentions=pl.col("n_mentions") + pl.col("add_mentions").fill_null(0),
            n_documents=pl.col("n_documents") + pl.col("add_documents").fill_null(0),
            n_independent_sources=pl.col("n_independent_sources") + pl.col("delta").fill_null(0),
            attributed_to=pl.concat_list("attributed_to", pl.col("add_attributed").fill_null(empty_list)).list.unique().list.sort(),
            min_published_at=pl.min_horizontal("min_published_at", "add_published"),
            min_ingested_at=pl.min_horizontal("min_ingested_at", "add_ingested"),
            claim_ids=pl.concat_list("claim_ids", pl.col("add_claim_ids").fill_null(empty_list)).list.sort(),
        )
        .with_columns(first_seen_at=pl.coalesce("min_published_at", "min_ingested_at"))
    )
    if created.height:
        # a new fact conflicts with the others of its measure, unit and period, and they with it
        groups = created.select("measure", "unit", "period").unique()
        scoped = merged.join(groups, on=["measure", "unit", "period"], how="semi", nulls_equal=True)
        conflicts = scoped.select("fact_id").join(_conflicts(scoped), on="fact_id", how="left")
        merged = merged.join(conflicts.rename({"conflicts_with": "recomputed"}), on="fact_id", how="left").with_columns(
            conflicts_with=pl.when(pl.col("fact_id").is_in(scoped["fact_id"].implode()))
            .then(pl.col("recomputed").fill_null(empty_list))
            .otherwise(pl.col("conflicts_with"))
        )
    rows = (
        merged.select(list(FACTS_SCHEMA))
        .cast(FACTS_SCHEMA)
        .sort("measure", "unit", "value_low", "value_high", "fact_id", nulls_last=True)
    )
    dates = merged.select(list(DATES_STATE_SCHEMA)).cast(DATES_STATE_SCHEMA)
    return rows, FactChanges(sources=new_sources, renamed=renamed, dates=dates)


def _merged_components(links: pl.DataFrame, reached: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """The components of the facts' sources after `links` (fact_id, source, cluster_id) joined
    them. `reached` are the stored state rows (`SOURCES_STATE_SCHEMA`) of the links' (fact,
    source) pairs: a linked source is its stored component, or a new node when the fact has no
    such source yet. A component stays one (a cluster only grows or merges with another), so
    only the components the links reach are looked at, as whole nodes: their other sources are
    not read.

    Returns the new sources' state rows, the components renamed (`fact_id`, `component`,
    `renamed_to`: merged into one whose smallest source is another's), and per fact the change
    in its number of components (`delta`)."""
    sep = "\x1f"
    nodes = links.join(reached, on=["fact_id", "source"], how="left").with_columns(
        node=pl.when(pl.col("component").is_not_null())
        .then(pl.concat_str("fact_id", pl.lit(sep + "k"), "component"))
        .otherwise(pl.concat_str("fact_id", pl.lit(sep + "s"), "source"))
    )
    linked = nodes.filter(pl.col("cluster_id").is_not_null())
    a = linked["node"]
    b = linked.select(pl.concat_str("fact_id", pl.lit(sep + "c"), "cluster_id"))["fact_id"]
    distinct = nodes.unique("node").select("fact_id", "source", "component", "node")
    every = pl.concat([distinct["node"], a, b])
    codes = (every.rank("dense") - 1).cast(pl.Int64).to_numpy()
    n_nodes, n_edges = distinct.height, len(a)
    label = component_labels(int(codes.max()) + 1 if len(codes) else 0, codes[n_nodes : n_nodes + n_edges], codes[n_nodes + n_edges :])
    # a stored component is named by its smallest source already; merged ones take the smallest name
    labelled = distinct.with_columns(label=pl.Series(label[codes[:n_nodes]]), name=pl.coalesce("component", "source")).with_columns(
        renamed_to=pl.col("name").min().over("label")
    )
    delta = labelled.group_by("fact_id").agg(
        delta=pl.col("label").n_unique().cast(pl.Int32) - pl.col("component").drop_nulls().n_unique().cast(pl.Int32)
    )
    added = labelled.filter(pl.col("component").is_null()).select("fact_id", "source", component="renamed_to").cast(SOURCES_STATE_SCHEMA)
    renamed = labelled.filter(pl.col("component").is_not_null() & (pl.col("component") != pl.col("renamed_to"))).select(
        "fact_id", "component", "renamed_to"
    )
    return added, renamed, delta


def with_fact_ids(keys: pl.DataFrame) -> pl.DataFrame:
    """`keys` (`FACT_KEY` columns) with `fact_id`, hashed once per distinct key (as they are
    when they have it)."""
    if "fact_id" in keys.columns:
        return keys
    distinct = keys.select(FACT_KEY).unique()
    named = distinct.with_columns(
        fact_id=pl.struct(FACT_KEY).map_elements(lambda k: fact_id_for(**k), return_dtype=pl.Utf8)
    )
    return keys.join(named, on=FACT_KEY, how="left", nulls_equal=True, maintain_order="left")


def _sources(documents: pl.DataFrame) -> pl.DataFrame:
    """Per document (`doc_id`): its dates, `source_name` ("outlet:" and the lower-cased outlet,
    or the doc_id when it has none), `source` (that name's code: densely ranked) and `doc` (its
    own code, its row)."""
    return documents.select(
        "doc_id", "published_at", "ingested_at",
        source_name=source_name_of(pl.col("outlet"), pl.col("doc_id")),
    ).with_columns(
        source=pl.col("source_name").rank("dense").cast(pl.UInt32),
        doc=pl.int_range(pl.len(), dtype=pl.UInt32),
    )


def source_name_of(outlet: pl.Expr, doc_id: pl.Expr) -> pl.Expr:
    """A mention's source: its document's outlet, lower-cased, or the document itself."""
    return pl.concat_str(pl.lit("outlet:"), pl.coalesce(outlet.str.to_lowercase(), doc_id))


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


def _source_components(mentions: pl.DataFrame) -> pl.DataFrame:
    """Per fact (`fact`) and source (`source`, an outlet's code), its `component`: the
    connected components of the fact's mentions' sources and clusters, so that an outlet
    repeating itself, and copies of one passage, count once. A node is a (fact, source) or
    (fact, cluster) pair packed into one integer, so the graph of every fact is built at once
    without string keys, and labelled by SciPy (labels are integers, unique across facts)."""
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
    return pl.DataFrame(
        {
            "fact": (source_nodes >> np.uint64(32)).astype(np.uint32),
            "source": (source_nodes & np.uint64(0xFFFFFFFF)).astype(np.uint32),
            "component": label[: len(source_nodes)],
        }
    )


def _named_components(sources: pl.DataFrame) -> pl.DataFrame:
    """`sources` (`fact_id`, `source` name, `component`: any label, unique across facts) with
    each component named by its smallest source, as `SOURCES_STATE_SCHEMA` stores it."""
    return sources.with_columns(component=pl.col("source").min().over("fact_id", "component")).select(
        list(SOURCES_STATE_SCHEMA)
    ).cast(SOURCES_STATE_SCHEMA)


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
