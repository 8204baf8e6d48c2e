"""Claim assets: `claims` (+ `quarantine` for rows the row-level checks hold back) and `facts`."""

import hashlib
from concurrent.futures import ThreadPoolExecutor

import polars as pl
from dagster import AssetExecutionContext, AssetKey, AssetSpec, MaterializeResult, MetadataValue, asset, multi_asset

from pipelines.defs.common import (
    OWNERS,
    WAREHOUSE_KINDS,
    create_batch_rows,
    frame_metadata,
    mark_processed,
    markdown_table,
    record_table_version,
    reset_stage_if_changed,
    set_progress,
    unprocessed_doc_ids,
    utc_now,
)
from pipelines.defs.engine import Engine
from pipelines.defs.resources import Warehouse, append_table, read_frame, registered, replace_table, rows_where, sql_file, transaction
from pipelines.defs.validate import ValidationSettings
from pipelines.lib.claims import CLAIMS_SCHEMA, extract_claims_in_processes, load_aliases, load_taxonomy
from pipelines.lib.charts import values_over_time_spec, values_over_time_spec_of
from pipelines.lib.consistency import check_consistency, load_consistency_rules
from pipelines.lib.facts import FACT_KEY, FactState, build_facts_and_state, fact_rows, merge_facts, most_stated_values, source_name_of, with_fact_ids
from pipelines.lib.validation import row_level_suite, screen_marks, screen_values


@multi_asset(
    specs=[
        AssetSpec(
            "claims",
            deps=["passage_clusters", "passages"],
            group_name="extract",
            owners=OWNERS,
            kinds=WAREHOUSE_KINDS,
            description=(
                "One row per number mention in the body text of a current document: value or range, "
                "unit, qualifier, period, measure, subject, who it is attributed to, the exact span, and "
                "the passage cluster (is_syndicated_copy marks reprints). Rows that fail a row-level "
                "expectation go to `quarantine` instead."
            ),
        ),
        AssetSpec(
            "quarantine",
            deps=["claims"],
            group_name="validate",
            owners=OWNERS,
            kinds=WAREHOUSE_KINDS,
            description="One row per claim mention held back by a row-level expectation (an implausible value), with the failed check and the reason.",
        ),
    ]
)
def extract_and_screen_claims(
    context: AssetExecutionContext, warehouse: Warehouse, validation: ValidationSettings, engine: Engine
):
    """Extract claims from new documents, join clusters, and screen rows with the claims suite."""
    taxonomy, aliases = load_taxonomy(), load_aliases()
    # what the stored mentions depend on: the rules, and the columns they are stored with
    version = hashlib.sha256(repr((taxonomy, aliases, MENTION_COLUMNS)).encode()).hexdigest()[:16]
    suite = validation.suite("claims")
    # boilerplate yields no claims and names no speakers (extract_claims drops it): not read
    new_passages = (
        f"select passage_id, doc_id, ordinal, char_start, text, is_boilerplate "
        f"from ({rows_where('passages', 'doc_id in (select unnest(?))')}) "
        "where not coalesce(is_boilerplate, false) order by doc_id, ordinal"
    )
    # Only the row-level rules decide kept or quarantined. They read a few columns and do not
    # depend on other rows, so Great Expectations screens the distinct values of those columns
    # (`screen_values`): its pandas copy holds no quotes or sentences. The new mentions' values
    # are screened on a thread of their own while DuckDB writes the mentions and relabels
    # (Great Expectations holds the GIL, DuckDB lets go of it).
    screening, columns = row_level_suite(suite)
    with warehouse.get_connection() as conn, ThreadPoolExecutor(1) as screener:
        early_verdicts, mentions = None, None
        with transaction(conn):
            reset = reset_stage_if_changed(conn, "claims", version)
            # what changes in `claims` is told to the facts step while its state is current
            # (else it builds the facts from every claim anyway)
            tell_facts = fact_state_is_current(conn)
            if reset:
                conn.execute("delete from claim_mentions")
                if tell_facts:
                    conn.execute(FACTS_REBUILD)
            todo = unprocessed_doc_ids(conn, "claims")
            if engine.is_spark and todo:
                from pipelines.spark.claims import extract_claim_mentions

                n_mentions = engine.run_stage(
                    conn, context.run.run_id, "claims", {"passages": (new_passages, [todo])},
                    lambda passages: extract_claim_mentions(passages, taxonomy, aliases).select(*MENTION_COLUMNS), "claim_mentions",
                ).n_rows
            else:
                mentions = extract_claims_in_processes(read_frame(conn, new_passages, [todo]), taxonomy, aliases, engine.n_workers)
                n_mentions = mentions.height
                early_verdicts = screener.submit(screen_values, mentions.select(columns), screening, columns, SCREEN_SLICE_ROWS)
                append_table(conn, "claim_mentions", mentions.select(MENTION_COLUMNS))
            mark_processed(conn, "claims", todo)

            # Screened rows stay where they are; only what changed is written. Rows of document
            # versions that are no longer current go (and, after the stage started over, rows
            # whose mention is gone), rows whose cluster changed (a new copy can make an old
            # passage a syndicated one) are relabelled, and the mentions not screened yet are
            # checked row by row and added to `claims` or `quarantine`. The labels are computed
            # once, for the mentions whose label may have changed (`compute_claim_labels`), and
            # read by the statements below and the unscreened rows' query.
            _compute_claim_labels(conn, todo)
            n_labelled = conn.sql("select count(*) from claim_labels_now").fetchall()[0][0]
            for table in ("claims", "quarantine"):
                # by the mention's document (a claim row's own doc_id is what the checks verify)
                (n_deleted,) = conn.execute(f"delete from {table} where claim_id in ({NOT_CURRENT_MENTIONS})").fetchall()[0]
                if reset:
                    n_deleted += conn.execute(f"delete from {table} where claim_id not in (select claim_id from claim_mentions)").fetchall()[0][0]
                if table == "claims" and tell_facts:
                    if n_deleted:
                        conn.execute(FACTS_REBUILD)
                    conn.execute(FACTS_RELABELLED)
                conn.execute(
                    f"""
                    update {table} as t set cluster_id = l.cluster_id, is_syndicated_copy = l.is_syndicated_copy
                    from claim_labels_now as l
                    where t.claim_id = l.claim_id
                      and (t.cluster_id <> l.cluster_id or t.is_syndicated_copy <> l.is_syndicated_copy)
                    """
                )
            # the mentions in neither table: on Spark, or any the new ones do not hold, are
            # screened here
            unscreened = _unscreened_claims(conn, mentions)
            del mentions
            known = early_verdicts.result() if early_verdicts is not None else None
            # each table's rows in one append (at 100,000 articles the 1.28 million claims in
            # 1.8-1.9 s, against 3.0-3.1 s in slices of 200,000 and 2.5 s filtered by DuckDB)
            screened = unscreened.with_columns(screen_marks(unscreened, screening, columns, SCREEN_SLICE_ROWS, known))
            passed = screened["failed_check"].is_null()
            append_table(conn, "claims", screened.filter(passed).drop("failed_check", "reason"))
            if tell_facts:
                append_table(conn, "fact_backlog", screened.filter(passed).select("claim_id", change=pl.lit("added")))
            append_table(conn, "quarantine", screened.filter(~passed))
            del screened, passed
            n_unscreened = unscreened.height
            del unscreened
            set_progress(conn, "claim_labels", "select doc_id from _clustered_docs")
            for table in ("claim_labels_now", "_label_scope", "_clustered_docs"):
                conn.execute(f"drop table if exists {table}")
            n_claims = record_table_version(conn, "claims", context.run.run_id)
            n_quarantined = record_table_version(conn, "quarantine", context.run.run_id)
            claims_preview = read_frame(conn, "select * from claims order by doc_id, char_start, claim_id limit 10")
            quarantine_preview = read_frame(conn, "select * from quarantine order by doc_id, char_start, claim_id limit 10")
            by_measure = read_frame(
                conn, "select measure, unit, count(*) as n_claims from claims group by all order by n_claims desc, measure, unit"
            )
    yield MaterializeResult(
        asset_key=AssetKey("claims"),
        metadata={
            **frame_metadata(claims_preview, n_rows=n_claims),
            "new_mentions": MetadataValue.int(n_mentions),
            "newly_screened": MetadataValue.int(n_unscreened),
            "labels_recomputed": MetadataValue.int(n_labelled),
            "engine": MetadataValue.text(engine.name),
            "by_measure": MetadataValue.md(markdown_table(by_measure)),
        },
    )
    yield MaterializeResult(
        asset_key=AssetKey("quarantine"),
        metadata={
            **frame_metadata(quarantine_preview, n_rows=n_quarantined),
            "quarantined_share": MetadataValue.float(n_quarantined / max(1, n_claims + n_quarantined)),
        },
    )


# The columns of `claim_mentions`: a mention's quote and sentence are not stored twice (`claims`
# and `quarantine` hold them); its own offsets and its sentence's say where they are in the
# document, and select_unscreened_claims.sql cuts them from its passage's text when it reads
# mentions back. At 100,000 articles, the full run's 1.28 million mentions are appended in
# 0.85-0.9 s instead of 1.8-2.1 s with their texts.
MENTION_COLUMNS = tuple(name for name in CLAIMS_SCHEMA if name not in ("quote", "sentence"))

# What `_unscreened_claims` counts and returns.
UNSCREENED_COUNT = (
    "select (select count(*) from claim_mentions) - (select count(*) from claims) - (select count(*) from quarantine)"
)
UNSCREENED_COLUMNS = (
    "claim_id", "doc_id", "passage_id", "cluster_id", "char_start", "char_end", "quote", "sentence", "value_low",
    "value_high", "unit", "qualifier", "period", "measure", "subject", "attributed_to", "is_syndicated_copy",
)


def _unscreened_claims(conn, new_mentions: pl.DataFrame | None) -> pl.DataFrame:
    """The rows to screen: the mentions in neither `claims` nor `quarantine`, with their labels
    from `claim_labels_now`, sorted by doc_id, char_start and claim_id
    (sql/transforms/select_unscreened_claims.sql).

    `new_mentions` are the mentions this run extracted and appended (None when they are not
    held here, on Spark). When the counts prove those are all the unscreened ones (every
    earlier mention was screened by the run that extracted it, as `COUNTS_PROVE_NEW` has it),
    they are joined to their labels here instead of read back from DuckDB, quotes and
    sentences and all: at 100,000 articles the full run's 1.28 million rows, 0.6 s against
    3.3 s to read them."""
    if new_mentions is not None and conn.sql(UNSCREENED_COUNT).fetchall()[0][0] == new_mentions.height:
        joined = _joined_to_labels(conn, new_mentions)
        if joined is not None:
            return joined
    return read_frame(conn, sql_file("select_unscreened_claims"))


def _joined_to_labels(conn, mentions: pl.DataFrame) -> pl.DataFrame | None:
    """`mentions` with their labels, as select_unscreened_claims.sql gives them: an inner join
    (a mention of a document version that is no longer current has no label, and no row), in
    doc_id, char_start, claim_id order; None when a mention has two labels (the caller leaves
    the join to DuckDB).

    Only the ids are joined and the labels set beside the mentions' columns, which are not
    copied; the mentions come sorted by doc_id, char_start and char_end (`extract_claims`), so
    they are sorted again only when two that start together are not in claim_id order. At
    100,000 articles: 0.4-0.6 s for the ids' join against 1.3-1.4 s for joining the whole rows,
    and 0.5 s for a sort that changes nothing."""
    labels = read_frame(conn, "select claim_id, cluster_id, is_syndicated_copy from claim_labels_now")
    aligned = mentions.select("claim_id").join(labels, on="claim_id", how="left", maintain_order="left")
    if aligned.height != mentions.height:
        return None
    joined = mentions.with_columns(aligned["cluster_id"], aligned["is_syndicated_copy"]).select(UNSCREENED_COLUMNS)
    if aligned["is_syndicated_copy"].null_count():  # never null in a label: those mentions have none
        joined = joined.filter(pl.col("is_syndicated_copy").is_not_null())
    previous = [pl.col(name).shift() for name in ("doc_id", "char_start", "claim_id")]
    out_of_order = (pl.col("doc_id") < previous[0]) | (
        (pl.col("doc_id") == previous[0])
        & ((pl.col("char_start") < previous[1]) | ((pl.col("char_start") == previous[1]) & (pl.col("claim_id") < previous[2])))
    )
    if joined.select(out_of_order.any()).item():
        joined = joined.sort("doc_id", "char_start", "claim_id")
    return joined


# mentions whose document version is no longer current (or gone)
NOT_CURRENT_MENTIONS = "select claim_id from claim_mentions where doc_id not in (select doc_id from documents where is_current)"


def _compute_claim_labels(conn, new_doc_ids: list[str]) -> None:
    """`claim_labels_now`, with `_clustered_docs`: the labels of the mentions whose label may
    have changed (sql/transforms/compute_claim_labels.sql). When every document was clustered
    since, they are the whole view: the scope would be every mention, found at twice the cost.
    `new_doc_ids` are the documents whose mentions this run extracted."""
    conn.execute(f"create or replace temp table _clustered_docs as {sql_file('select_docs_clustered_since_labels')}")
    n_clustered, n_documents = conn.sql("select (select count(*) from _clustered_docs), (select count(*) from documents)").fetchall()[0]
    if n_clustered >= n_documents:
        conn.execute("create or replace temp table claim_labels_now as select * from current_claim_labels")
        return
    create_batch_rows(conn, "_unscreened_mentions", new_doc_ids, NEW_MENTIONS, COUNTS_PROVE_NEW, UNSCREENED_ANYWHERE)
    conn.execute(sql_file("compute_claim_labels"))
    conn.execute("drop table _unscreened_mentions")


# The mentions in neither `claims` nor `quarantine`: those this run extracted (`_batch_docs`' ones).
# Every earlier mention was screened into one of the two in the run that extracted it, and
# their rows are deleted with their mentions, so the counts prove it: when the mentions
# outnumber the claims and quarantined rows by exactly the new ones, those are the ones, found
# without comparing 1.3 million mention ids with as many claims (0.01 against 0.14-0.18 s at 100,000
# articles). Otherwise (the stage started over, a claim row whose mention is gone) the tables
# are compared whole.
NEW_MENTIONS = "select claim_id from claim_mentions where doc_id in (select doc_id from _batch_docs)"
UNSCREENED_ANYWHERE = "select claim_id from claim_mentions anti join claims using (claim_id) anti join quarantine using (claim_id)"
COUNTS_PROVE_NEW = f"""
    select (select count(*) from claim_mentions) - (select count(*) from claims) - (select count(*) from quarantine)
         = (select count(*) from ({NEW_MENTIONS}))
"""


# The facts' state (`fact_sources`, `fact_dates`) is current when the facts step wrote it with
# the facts' last version; the claims step then writes what changes to `fact_backlog`.
FACT_STATE_STAGE = "fact_state"
FACT_STATE_IS_CURRENT = f"""
    select coalesce(
        (select version from stage_state where stage = '{FACT_STATE_STAGE}')
            = (select run_id from table_versions where table_name = 'facts'),
        false)
"""
FACTS_REBUILD = "insert into fact_backlog values (null, 'rebuild', null)"
# the claims whose cluster the update below changes, with the one the facts saw: a claim already
# in the backlog keeps its row (an added one is read with its cluster then; a relabelled one keeps
# its first cluster)
FACTS_RELABELLED = """
    insert into fact_backlog
    select t.claim_id, 'relabelled', t.cluster_id
    from claims as t join claim_labels_now as l using (claim_id)
    where t.cluster_id <> l.cluster_id
      and t.claim_id not in (select claim_id from fact_backlog where claim_id is not null)
"""


def fact_state_is_current(conn) -> bool:
    return conn.sql(FACT_STATE_IS_CURRENT).fetchall()[0][0]


# Distinct values per Great Expectations run while screening (bounds its pandas copy).
SCREEN_SLICE_ROWS = 200_000

# what facts are built from: no texts (quotes and sentences stay in the warehouse)
FACT_INPUT_CLAIMS = (
    "select claim_id, doc_id, cluster_id, measure, unit, period, value_low, value_high, qualifier, attributed_to from claims"
)
FACT_INPUT_DOCUMENTS = "select doc_id, outlet, source_path, published_at, ingested_at from documents"


@asset(
    deps=["claims", "documents"],
    group_name="extract",
    owners=OWNERS,
    kinds=WAREHOUSE_KINDS,
    description=(
        "One row per distinct claim (measure, unit, period, value range): mentions, documents, "
        "independent sources (syndicated copies and one outlet's repeats count once), who said it, "
        "first seen, and the other facts of the same measure it conflicts with."
    ),
)
def facts(context: AssetExecutionContext, warehouse: Warehouse, engine: Engine) -> MaterializeResult:
    """Merge claim mentions into facts and flag conflicts: the claims added or relabelled since
    the last run merged into the facts they touch when the facts' state allows it, else every
    claim grouped again."""
    with warehouse.get_connection() as conn, ThreadPoolExecutor(1) as charting:
        # The chart is drawn on a thread of its own while the facts are built and written: from
        # the frames the facts are built from when every claim is read, else from the claims
        # and documents read through a cursor (this step does not write them).
        chart = None
        with transaction(conn):
            mode = _facts_mode(conn, engine)
            if mode == "merged":
                chart = charting.submit(_values_over_time_from_frames, conn.cursor())
                n_rewritten = _merge_new_claims(conn)
            elif engine.is_spark:
                chart = charting.submit(_values_over_time, conn.cursor())
                from pipelines.spark.facts import build_facts as build_facts_on_spark

                engine.run_stage(
                    conn, context.run.run_id, "facts",
                    {
                        "claims": (FACT_INPUT_CLAIMS, None),
                        "documents": (FACT_INPUT_DOCUMENTS, None),
                    },
                    build_facts_on_spark, "facts", replace=True,
                )
                # Spark keeps no state: the next run builds every fact again
                for table in ("fact_sources", "fact_dates"):
                    conn.execute(f"delete from {table}")
                n_rewritten = None
            else:
                claims, documents = read_frame(conn, FACT_INPUT_CLAIMS), read_frame(conn, FACT_INPUT_DOCUMENTS)
                # the claims' fact keys (a grouping of every claim) serve the facts and the chart
                keyed = fact_rows(claims)
                chart = charting.submit(values_over_time_spec_of, claims, documents, keyed=keyed)
                built, state = build_facts_and_state(claims, documents, keyed)
                del claims, documents, keyed
                # every fact is written: rewritten whole in 0.16-0.25 s at 100,000 articles,
                # against 0.45-0.56 s to find the changed ones
                replace_table(conn, "facts", built, compare_rows=False)
                replace_table(conn, "fact_sources", state.sources)
                replace_table(conn, "fact_dates", state.dates)
                n_rewritten = built.height
                del built, state
            conn.execute("delete from fact_backlog")
            n_rows = record_table_version(conn, "facts", context.run.run_id)
            if not engine.is_spark:
                conn.execute(
                    "insert or replace into stage_state values (?, ?, ?)", [FACT_STATE_STAGE, context.run.run_id, utc_now()]
                )
            # what the metadata shows: every fact without its claim ids (1.3 million at 100,000
            # articles), and the preview's first rows with their first five
            order = "order by measure, unit, value_low, value_high, fact_id nulls last"
            built = read_frame(conn, f"select * exclude (claim_ids) from facts {order}")
            preview = read_frame(conn, f"select * replace (claim_ids[1:5] as claim_ids) from facts {order} limit 10")
        values_over_time = chart.result()
    top = built.sort("n_independent_sources", "n_mentions", descending=True).head(10).select(
        "measure", "value_low", "value_high", "unit", "period", "n_independent_sources", "attributed_to",
        pl.col("conflicts_with").list.len().alias("n_conflicts"),
    )
    most_stated = most_stated_values(built)
    return MaterializeResult(
        metadata={
            **frame_metadata(preview, n_rows=n_rows),
            "top_facts": MetadataValue.md(markdown_table(top)),
            "most_stated_values": MetadataValue.md(markdown_table(most_stated)),
            "facts_in_conflict": MetadataValue.int(built.filter(pl.col("conflicts_with").list.len() > 0).height),
            "engine": MetadataValue.text(engine.name),
            "mode": MetadataValue.text(mode),
            **({"facts_written": MetadataValue.int(n_rewritten)} if n_rewritten is not None else {}),
            "values_over_time_vega_lite": MetadataValue.json(values_over_time),
        }
    )


# A backlog past this share of the claims is merged at more cost than every claim is grouped.
MERGE_MAX_SHARE = 0.25


def _facts_mode(conn, engine: Engine) -> str:
    """`merged` when the claims added and relabelled since the facts were built (`fact_backlog`)
    can be merged into them: the state is current, no claim was deleted or extracted again, no
    cluster the facts saw was split (its claims now in two clusters: a batch only grows and
    merges clusters, history keeping older versions' passages, but clustering everything again
    after the passage rules or signatures changed can split one), and the backlog is a small
    share of the claims. Else `rebuilt` from every claim."""
    if engine.is_spark or not fact_state_is_current(conn):
        return "rebuilt"
    n_backlog, n_rebuild, n_claims = conn.sql(
        "select count(*), count(*) filter (where change = 'rebuild'), (select count(*) from claims) from fact_backlog"
    ).fetchall()[0]
    if n_rebuild or n_backlog > MERGE_MAX_SHARE * n_claims:
        return "rebuilt"
    (n_split,) = conn.sql(SPLIT_CLUSTERS).fetchall()[0]
    return "rebuilt" if n_split else "merged"


# The clusters the facts saw whose claims are no longer in one cluster: the claims relabelled
# from each, and the claims still in it that were not added since.
SPLIT_CLUSTERS = """
    with relabelled as (
        select b.cluster_before as before, c.cluster_id as now
        from fact_backlog as b join claims as c using (claim_id)
        where b.change = 'relabelled' and b.cluster_before is not null
    ),
    stayed as (
        select cluster_id as before, cluster_id as now from claims
        where cluster_id in (select before from relabelled)
          and claim_id not in (select claim_id from fact_backlog where change = 'added')
    )
    select count(*) from (
        select before from (select * from relabelled union all select * from stayed)
        group by before having count(distinct now) > 1
    )
"""

# The backlog's claims: the added ones and those relabelled since (`_fact_changes`).
_CHANGE_COLUMNS = ('claim_id', 'doc_id', 'cluster_id', *FACT_KEY, 'qualifier', 'attributed_to')
FACT_CHANGES = f"""
    create or replace temp table _fact_changes as
    select b.change, {', '.join('c.' + name for name in _CHANGE_COLUMNS)}
    from (select distinct claim_id, change from fact_backlog where change in ('added', 'relabelled')) as b
    join claims as c using (claim_id)
"""
_SAME_FACT = " and ".join(
    f"a.{name} is not distinct from c.{name}" if name == "period" else f"a.{name} = c.{name}" for name in FACT_KEY
)
# the added claims, with their document's dates and whether the fact counts their document
# already (one of its claims is in the fact and was not added now)
FACT_ADDED = f"""
    with not_added as (
        select * from claims
        where doc_id in (select doc_id from _fact_changes where change = 'added')
          and claim_id not in (select claim_id from _fact_changes where change = 'added')
    )
    select a.claim_id, a.doc_id, {', '.join('a.' + name for name in FACT_KEY)}, a.qualifier, a.attributed_to,
           d.published_at, d.ingested_at,
           exists (select 1 from not_added as c where c.doc_id = a.doc_id and {_SAME_FACT}) as doc_counted
    from _fact_changes as a left join documents as d using (doc_id)
    where a.change = 'added'
"""
# every added or relabelled claim, and every claim not added in their clusters with the same
# fact: its fact, its document's outlet and its cluster
FACT_LINKS = f"""
    with linked as (
        select * from _fact_changes
        union all
        select null, {', '.join('c.' + name for name in _CHANGE_COLUMNS)}
        from claims as c
        where c.cluster_id in (select cluster_id from _fact_changes)
          and c.claim_id not in (select claim_id from _fact_changes where change = 'added')
          and exists (select 1 from _fact_changes as a where a.cluster_id = c.cluster_id and {_SAME_FACT})
    )
    select {', '.join('l.' + name for name in FACT_KEY)}, l.doc_id, d.outlet, l.cluster_id
    from linked as l left join documents as d using (doc_id)
"""


def _merge_new_claims(conn) -> int:
    """Merge the backlog's claims into the facts (`merge_facts`): the facts they touch, and the
    others of a measure, unit and period they add a fact to, are written again with the state
    rows that changed. Returns how many facts were written."""
    conn.execute(FACT_CHANGES)
    added = with_fact_ids(read_frame(conn, FACT_ADDED))
    links = with_fact_ids(
        read_frame(conn, FACT_LINKS).select(
            *FACT_KEY, source=source_name_of(pl.col("outlet"), pl.col("doc_id")), cluster_id=pl.col("cluster_id")
        )
    )
    conn.execute("drop table _fact_changes")
    touched = pl.concat([added.select("fact_id", *FACT_KEY), links.select("fact_id", *FACT_KEY)]).unique("fact_id")
    with registered(conn, "_touched", touched), registered(conn, "_link_sources", links.select("fact_id", "source").unique()):
        old = read_frame(
            conn,
            """
            with created as (select * from _touched where fact_id not in (select fact_id from facts))
            select * from facts
            where fact_id in (select fact_id from _touched)
               or (measure, unit, coalesce(period, '')) in (select (measure, unit, coalesce(period, '')) from created)
            """,
        )
        with registered(conn, "_old", old.select("fact_id")):
            state = FactState(
                sources=read_frame(conn, "select s.* from fact_sources as s join _link_sources using (fact_id, source)"),
                dates=read_frame(conn, "select * from fact_dates where fact_id in (select fact_id from _old)"),
            )
    rows, changed = merge_facts(old, added, links, state)
    for table, frame in (("facts", rows), ("fact_dates", changed.dates)):
        with registered(conn, "_rows", frame):
            conn.execute(f"delete from {table} where fact_id in (select fact_id from _rows)")
            conn.execute(f"insert into {table} by name select * from _rows")
    if changed.renamed.height:
        with registered(conn, "_renamed", changed.renamed):
            conn.execute(
                "update fact_sources as s set component = r.renamed_to from _renamed as r "
                "where s.fact_id = r.fact_id and s.component = r.component"
            )
    append_table(conn, "fact_sources", changed.sources)
    return rows.height


# what the chart reads of every claim when the facts step does not read them all itself
CHART_INPUT_CLAIMS = "select doc_id, measure, unit, period, value_low, value_high from claims"


def _values_over_time_from_frames(cursor) -> dict:
    """The chart of the reported figures over time from the claims' values and documents read
    through `cursor` (closed after), grouped as integer codes (`values_over_time_spec_of`): at
    100,000 articles 0.28 s against 0.64-0.73 s for the per-claim rows of
    select_reported_values.sql grouped by their strings."""
    with cursor:
        return values_over_time_spec_of(read_frame(cursor, CHART_INPUT_CLAIMS), read_frame(cursor, FACT_INPUT_DOCUMENTS))


def _values_over_time(cursor) -> dict:
    """The Vega-Lite chart of the reported figures over time, read through `cursor` (closed
    after): on Spark, where the facts' input is not held here."""
    with cursor:
        return values_over_time_spec(read_frame(cursor, sql_file("select_reported_values")))


@asset(
    deps=["facts"],
    group_name="extract",
    owners=OWNERS,
    kinds=WAREHOUSE_KINDS,
    description=(
        "One row per cross-check of derived against stated figures (pay per soldier × troops × 12 "
        "vs the stated yearly revenue, …; rules in pipelines/data/consistency_rules.json): the derived "
        "and stated ranges, their ratio and a verdict. Published, never asserted."
    ),
)
def consistency(context: AssetExecutionContext, warehouse: Warehouse) -> MaterializeResult:
    """Compare figures derived from facts with the figures stated for the same quantity."""
    rules = load_consistency_rules()
    with warehouse.get_connection() as conn:
        with transaction(conn):
            # every column the rules read, not the facts' claim ids (1.3 million at 100,000 articles)
            checked = check_consistency(read_frame(conn, "select * exclude (claim_ids) from facts"), rules)
            replace_table(conn, "consistency", checked)
            n_rows = record_table_version(conn, "consistency", context.run.run_id)
    return MaterializeResult(
        metadata={
            **frame_metadata(checked, n_rows=n_rows),
            "by_verdict": MetadataValue.md(markdown_table(checked.group_by("rule", "verdict").len("n").sort("rule", "verdict"))),
        }
    )

