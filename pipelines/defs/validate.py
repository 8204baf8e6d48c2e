"""Great Expectations checks, one per published table, that stop publication.

Each check loads its table from the warehouse, runs the table's suite from `expectations/`
(Great Expectations 1.x, called directly), records the result in `validation_results`, renders
Data Docs, and fails when a structural expectation fails or a row-level one fails for more than
its `mostly` share. A failed check stops publication: the release refuses every table written
since its check last passed. In the `claimwire` job a table's check runs on a thread of its own
beside the steps after its asset (`BackgroundChecks`, `start_checks`); the assets downstream do
not wait for it, the release waits for every check.
"""

import hashlib
import json
import os
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from pathlib import Path

import duckdb
import polars as pl
from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetChecksDefinition,
    DagsterEventType,
    ConfigurableResource,
    HookContext,
    InitResourceContext,
    MetadataValue,
    asset_check,
    success_hook,
)
from pydantic import PrivateAttr

from pipelines.defs.common import RECLUSTERED_STAGE, markdown_table, reset_stage_if_changed, set_progress, utc_now
from pipelines.defs.memory import release_freed_memory
from pipelines.defs.resources import PROJECT_ROOT, Warehouse, read_frame, rows_where, setting_path, sql_file, transaction
from pipelines.lib.validation import (
    Suite,
    check_claim_references,
    check_passage_offsets,
    check_quote_offsets,
    load_suite,
    merge_table_wide,
    table_wide_counts,
    table_wide_rules,
    validate_frame,
)

EXPECTATIONS_DIR = PROJECT_ROOT / "expectations"

# table → the asset that writes it
CHECKED_TABLES = {
    "documents": "documents",
    "rejected_files": "rejected_files",
    "passages": "passages",
    "passage_clusters": "passage_clusters",
    "claims": "claims",
    "quarantine": "quarantine",
    "facts": "facts",
}


class ValidationSettings(ConfigurableResource):
    """Where the suites are read from and where Data Docs are written (beside the warehouse)."""

    expectations_dir: str = ""
    data_docs_dir: str = ""
    # which rows the checks of document tables validate: "new" (rows written since the table
    # last passed; keys and row-level shares still over the whole table) or "all"; empty reads
    # CLAIMWIRE_CHECK_SCOPE at run time, default "new"
    scope: str = ""

    def scope_mode(self) -> str:
        mode = self.scope or os.environ.get("CLAIMWIRE_CHECK_SCOPE") or "new"
        if mode not in SCOPE_MODES:
            raise ValueError(f"check scope {mode!r} is not one of {SCOPE_MODES} (validation.scope or CLAIMWIRE_CHECK_SCOPE)")
        return mode

    def suite(self, table: str) -> Suite:
        return load_suite(Path(self.expectations_dir or EXPECTATIONS_DIR) / f"{table}.json")

    def all_suites(self) -> dict[str, Suite]:
        """Every suite, loaded and verified: a broken one is found before a run does any work."""
        return {table: self.suite(table) for table in (*CHECKED_TABLES, "release")}

    def docs_dir(self, table: str) -> Path:
        base = Path(self.data_docs_dir) if self.data_docs_dir else setting_path("CLAIMWIRE_WAREHOUSE").parent / "data_docs"
        return base / table


# The relation each suite validates, as SQL. Texts are checked by their length here (and against
# the document text, chunk by chunk, in the cross-table rules): loading every text would cost the
# corpus's size. With `predicate`, the rows of the base tables where it holds, picked by row id
# (`rows_where`: a scope's texts are read, not the table's).
def _relation(table: str, predicate: str | None = None) -> str:
    def base(name: str) -> str:
        return f'"{name}"' if predicate is None else f"({rows_where(name, predicate)})"

    if table == "claims":
        # The share that row-level rules allow to fail is a share of every extracted claim:
        # validate kept and quarantined rows together.
        return f"select * from {base('claims')} union all by name select * exclude (failed_check, reason) from {base('quarantine')}"
    if table == "passages":
        return f"select * exclude (text), length(text) as text_length from ({published_passages(predicate)})"
    if table == "documents":
        return f"select * exclude (text), length(text) as text_length from {base('documents')}"
    if table == "facts":
        # a fact's claim ids (every mention of it) are checked by their count
        return f"select * exclude (claim_ids), len(claim_ids) as n_claim_ids from {base('facts')}"
    return f"select * from {base(table)}"


PUBLISHED_PASSAGES_SOURCE = "from passages as p"
# a published passage's cluster, over `passages as p` and `passage_cluster_members as members`
PUBLISHED_CLUSTER = "coalesce(members.cluster_id, p.passage_id)"


def _published_cluster() -> str:
    """`PUBLISHED_CLUSTER`, once select_published_passages.sql is seen to name clusters so."""
    if f"{PUBLISHED_CLUSTER} as cluster_id" not in sql_file("select_published_passages"):
        raise RuntimeError(f"select_published_passages.sql no longer names a passage's cluster `{PUBLISHED_CLUSTER}`")
    return PUBLISHED_CLUSTER


def _never_null_columns(conn, table: str) -> frozenset[str]:
    """The rewritten columns of `table` (`MUTABLE_COLUMNS`) that no row can hold null, by the
    warehouse's schema as it is now: a published passage's cluster, `PUBLISHED_CLUSTER`, falls
    back on the passage's id while that is the passages' primary key (`_enforced_keys`: unique
    and not null). Whatever the dedup step writes, no passage's cluster is then null, so the
    passages' not-null rule on it needs no count over the documents the dedup step reclustered;
    that count was the whole table's after a run that clustered everything (the passages check
    runs before the dedup step): 0.2 s alone, 0.3-0.5 s beside Great Expectations, in the first
    +1% run at 100,000 articles."""
    if table != "passages":
        return frozenset()
    _published_cluster()
    return frozenset({"cluster_id"}) if frozenset({"passage_id"}) in _enforced_keys(conn, "passages") else frozenset()


# The checked relations with one row per row of a base table and its key columns as they are
# there (a published passage is a passage with its cluster joined on the members' primary key).
KEYED_BASE_TABLES = {"documents": "documents", "passages": "passages", "passage_clusters": "passage_clusters"}


def _enforced_keys(conn, table: str) -> frozenset[frozenset[str]]:
    """The key of `table`'s rows that DuckDB itself keeps unique and not null, by the schema as
    it is now: the primary key of `KEYED_BASE_TABLES[table]` (not a UNIQUE constraint, which lets
    rows with a null repeat, as Great Expectations' compound rule does not). A uniqueness rule
    on it cannot fail, so it is checked on the scope's rows only, not counted over the table
    (the passages' and the clusters' ids: about 0.05 s each at 100,000 articles, 1.6 and 1.1
    million keys)."""
    base = KEYED_BASE_TABLES.get(table)
    if base is None:
        return frozenset()
    declared = conn.sql(
        "select constraint_column_names from duckdb_constraints() where database_name = current_database() "
        "and schema_name = 'main' and table_name = $table and constraint_type = 'PRIMARY KEY'",
        params={"table": base},
    ).fetchall()
    return frozenset(frozenset(columns) for (columns,) in declared)


def published_passages(predicate: str | None = None) -> str:
    """The published passages (sql/transforms/select_published_passages.sql); with `predicate`,
    those of the passages where it holds, picked by row id before their clusters are joined."""
    query = sql_file("select_published_passages")
    if predicate is None:
        return query
    if query.count(PUBLISHED_PASSAGES_SOURCE) != 1:
        raise RuntimeError(f"select_published_passages.sql no longer reads passages as `{PUBLISHED_PASSAGES_SOURCE}`")
    return query.replace(PUBLISHED_PASSAGES_SOURCE, f"from ({rows_where('passages', predicate)}) as p")


# Tables validated by scope: the stage whose per-document progress says which rows it (re)wrote
# (None: rows are written once, at ingest). A cluster belongs to the documents of its passages:
# the dedup stage rewrites a cluster only when a new document's passage joins it, and touches
# every document's progress when it clusters everything again. Other tables are small or
# rewritten whole.
SCOPED_TABLES = {
    "documents": None, "passages": "passages", "passage_clusters": "dedup", "claims": "claims", "quarantine": "claims",
}
# columns later stages rewrite on earlier documents' rows (a passage's cluster, set again when a
# new copy joins it, and the claims' labels made from it): their rules are counted over the rows
# of the documents whose clusters changed since the table last passed (`_open_changed_scope`),
# unless the schema keeps them from failing (`_never_null_columns`: the passages' cluster)
MUTABLE_COLUMNS = {
    "claims": frozenset({"cluster_id", "is_syndicated_copy"}),
    "quarantine": frozenset({"cluster_id", "is_syndicated_copy"}),
    "passages": frozenset({"cluster_id"}),
}
# The stages whose progress says a document's rows in these tables may have changed outside the
# writer's scope: the dedup step renamed a cluster of one of its passages (`RECLUSTERED_STAGE`),
# or its passages were written again (then a claim's passage, offsets and cluster may differ).
CHANGED_BY_STAGES = (RECLUSTERED_STAGE, "passages")
IN_SCOPE = "doc_id in (select doc_id from _check_scope)"
IN_CHANGED_SCOPE = "doc_id in (select doc_id from _changed_scope)"
# What the checks compute beyond the suites: a new version validates every document once (the
# check stage's progress starts over), e.g. when what is counted outside the scope changes.
# 2: the rewritten columns and the claims' references counted over the documents reclustered
# since the table last passed, not the whole table.
CHECK_LOGIC_VERSION = "2"
# Where a table's keys are read from when its checked relation adds columns by a join: the
# published passages are the passages with their cluster, joined on the members' primary key
# (one row per passage, the same keys).
KEY_RELATIONS = {"passages": "select * from passages"}


def _scope_is_small(conn, n_documents: int) -> bool:
    """Look the scope's keys up in the table (`table_wide_counts`' `keys_near_scope`), and count
    the rewritten columns over the changed documents' rows (`changed_relation`), rather than
    read the whole table's: worth it while the documents are under half the table's."""
    return n_documents < 0.5 * conn.sql("select count(*) from documents").fetchall()[0][0]


def _in_scope(table: str) -> str:
    """The SQL predicate that picks the scope's rows of `table`."""
    if table == "passage_clusters":
        return (
            "cluster_id in (select m.cluster_id from passage_cluster_members m join passages p using (passage_id) "
            "where p.doc_id in (select doc_id from _check_scope))"
        )
    return IN_SCOPE


SCOPE_MODES = ("new", "all")


def _check_stage(table: str) -> str:
    return f"check:{table}"


def _open_scope(conn, table: str, suite: Suite, mode: str) -> int:
    """Fill the temporary table `_check_scope` with the documents whose rows in `table` the check
    validates, and return how many. `new`: those the writer stage (re)wrote since the check last
    passed on them, all of them after the suite changed; `all`: every document."""
    stage = _check_stage(table)
    reset_stage_if_changed(conn, stage, _suite_version(suite))
    writer = SCOPED_TABLES[table]
    if mode == "all":
        # a row whose document is missing is in scope too, to be reported
        rows = "passages" if table == "passage_clusters" else f"({_relation(table)})"
        query = f"select doc_id from documents union select distinct doc_id from {rows}"
    elif writer is None:
        query = f"select doc_id from documents anti join (select doc_id from stage_progress where stage = '{stage}') using (doc_id)"
    else:
        query = f"""
            select w.doc_id from stage_progress as w
            left join stage_progress as c on c.stage = '{stage}' and c.doc_id = w.doc_id
            where w.stage = '{writer}' and (c.processed_at is null or c.processed_at < w.processed_at)"""
    conn.execute(f"create or replace temp table _check_scope as {query}")
    return conn.sql("select count(*) from _check_scope").fetchall()[0][0]


def _open_changed_scope(conn, table: str) -> int:
    """Fill `_changed_scope` with the documents whose rows in `table` the rules on rewritten
    columns (and, for the claims, the references) are counted over: the scope's, and those
    reclustered or split into passages again since the check last passed on them. Every other
    document's rows passed these rules and nothing rewrote them since. Returns how many."""
    stages = ", ".join(f"'{stage}'" for stage in CHANGED_BY_STAGES)
    conn.execute(
        f"""
        create or replace temp table _changed_scope as
        select doc_id from _check_scope
        union
        select w.doc_id from stage_progress as w
        left join stage_progress as c on c.stage = '{_check_stage(table)}' and c.doc_id = w.doc_id
        where w.stage in ({stages}) and (c.processed_at is null or c.processed_at < w.processed_at)
        """
    )
    return conn.sql("select count(*) from _changed_scope").fetchall()[0][0]


def _suite_version(suite: Suite) -> str:
    return hashlib.sha256(CHECK_LOGIC_VERSION.encode() + b"\0" + Path(suite.path).read_bytes()).hexdigest()[:16]


def _record_scope_passed(conn, table: str, scope: str = "_check_scope") -> None:
    """The documents of `scope` passed: the next check starts after them."""
    set_progress(conn, _check_stage(table), f"select doc_id from {scope}")


def _frame_for(conn, table: str, scoped: bool) -> pl.DataFrame:
    return read_frame(conn, _relation(table, _in_scope(table) if scoped else None))


def _scope_rows(conn, table: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A small scope's rows read once: (the frame Great Expectations validates, the same rows'
    spans for the span rule, sorted by doc_id and char_start). For the passages, the published
    passages with their texts (each read joins every passage's cluster: one read instead of two
    saved 0.2-0.3 s of the passages check at 100,000 articles); for the claims, the kept claims,
    whose quotes are the spans, then the quarantined ones (`_relation`'s union, by name)."""
    if table == "passages":
        rows = read_frame(conn, f"select *, length(text) as text_length from ({published_passages(IN_SCOPE)})")
        frame, id_column, span = rows.drop("text"), "passage_id", "text"
    else:
        rows = read_frame(conn, rows_where("claims", IN_SCOPE))
        held = read_frame(conn, f"select * exclude (failed_check, reason) from ({rows_where('quarantine', IN_SCOPE)})")
        frame, id_column, span = pl.concat([rows, held], how="diagonal_relaxed"), "claim_id", "quote"
    spans = rows.select(id_column, "doc_id", "char_start", "char_end", span)
    return frame, spans.sort("doc_id", "char_start", maintain_order=True)


# Rows Great Expectations validates at once when a scope's result follows from its slices'
# (`can_validate_in_slices`: the claims and quarantine suites in a scoped check; a key on
# `passages` or `passage_clusters` that the database enforces is checked by GX over the whole
# scope, so those are validated whole). At
# 100,000 articles the full run's 1.28 million claims held 0.93 GB more while validated whole,
# 0.39 GB in slices of 200,000 with freed memory given back after each, in 2.7 against 3.2 s.
CHECK_SLICE_ROWS = 200_000
# Documents whose texts are held at once while spans are compared with them.
SPAN_CHECK_DOCUMENTS = 20_000
# DuckDB's cached blocks kept while a check of more documents than that compares their spans.
LARGE_CHECK_CACHE = "256MB"


def _document_ranges(conn, size: int = SPAN_CHECK_DOCUMENTS) -> list[tuple[str | None, str | None]]:
    """doc_id ranges [low, high) of about `size` documents of the scope that cover every possible
    doc_id (the first is open below, the last above), so a row whose document is missing still
    falls in one."""
    ids = read_frame(conn, "select doc_id from _check_scope order by doc_id")["doc_id"]
    bounds = ids.gather_every(size).to_list()[1:]
    return list(zip([None, *bounds], [*bounds, None]))


def _in_range(low: str | None, high: str | None) -> str:
    return f"{IN_SCOPE} and ($low is null or doc_id >= $low) and ($high is null or doc_id < $high)"


def _documents_in(conn, low: str | None, high: str | None) -> pl.DataFrame:
    return read_frame(
        conn, f"select doc_id, text from ({rows_where('documents', _in_range(low, high))})", {"low": low, "high": high}
    )


def _cross_table_failures(
    conn, table: str, scope_spans: pl.DataFrame | None = None, changed_scope: bool = False,
    drop_cache: Callable[[], None] | None = None,
) -> pl.DataFrame | None:
    """Rules that span tables: claims point at real passages and documents, and every span
    (claim quote, passage text) is the document text at its offsets.

    References are checked for every claim, or with `changed_scope` for the claims of the
    documents in `_changed_scope` (a claim's cluster changes when new copies of its passage
    arrive, and those documents are the ones reclustered or split again since the check last
    passed), and for every claim whose document is missing; spans for the scope's documents,
    whose texts and spans were written together and never change after. Spans are compared one
    range of documents at a time, so the texts held at once are a chunk's, not the corpus's.
    `scope_spans` are the spans of a small scope when the caller read them with its rows
    (`_scope_rows`): then its documents are one range. `drop_cache`, when given, lets DuckDB
    give up its cached blocks after each range is compared: each range's texts are read once."""
    if table not in {"claims", "passages"}:
        return None
    published = f"({published_passages()})"
    ranges = _document_ranges(conn) if scope_spans is None else [(None, None)]

    def spans_in(low: str | None, high: str | None, query: str) -> pl.DataFrame:
        """One range's spans: the caller's when it read them, else `query`'s rows."""
        return scope_spans if scope_spans is not None else read_frame(conn, query, {"low": low, "high": high})

    def compared(failures: pl.DataFrame) -> pl.DataFrame:
        if drop_cache is not None:
            drop_cache()
        return failures

    if table == "passages":
        return pl.concat(
            [
                compared(check_passage_offsets(
                    spans_in(
                        low, high,
                        f"select passage_id, doc_id, char_start, char_end, text "
                        f"from ({published_passages(_in_range(low, high))}) order by doc_id, char_start",
                    ),
                    _documents_in(conn, low, high),
                ))
                for low, high in ranges
            ]
        )
    # DuckDB picks the claims that may break a reference rule: those without a published passage
    # that agrees with them in every referenced column (its id, document and cluster, offsets
    # that hold the claim's), and those whose document is missing. The rules themselves then run
    # on those claims and their passages and documents only: the same failing rows as over every
    # claim, without reading 1.3 million claims into Polars. A passage id is a key of both
    # `passages` and `passage_cluster_members`, so each claim meets at most one passage: its
    # passage and its cluster are joined to the claims one after the other (`PUBLISHED_CLUSTER`,
    # as the published passages have it) and the claims that disagree kept, null-safe. At 100,000
    # articles 0.34-0.37 s against 0.41-0.65 s for an anti join on the published passages, which
    # joins every passage to its cluster first; for the claims of the 2,100 documents a +1% batch
    # reclusters, 0.10 s. A claim whose document is missing is looked for among every claim.
    changed = f" where {IN_CHANGED_SCOPE}" if changed_scope else ""
    conn.execute(
        f"""
        create or replace temp table _suspect_claims as
        with claim_refs as (select claim_id, doc_id, passage_id, char_start, char_end, cluster_id from claims{changed})
        select c.* from claim_refs as c
        left join passages as p on p.passage_id = c.passage_id
        left join passage_cluster_members as members on members.passage_id = c.passage_id
        where p.passage_id is null or p.doc_id is distinct from c.doc_id
           or not coalesce(c.char_start >= p.char_start and c.char_end <= p.char_end, false)
           or c.cluster_id is distinct from {_published_cluster()}
        union
        select c.claim_id, c.doc_id, c.passage_id, c.char_start, c.char_end, c.cluster_id
        from claims as c anti join documents as d using (doc_id)
        """
    )
    references = check_claim_references(
        read_frame(conn, "select * from _suspect_claims"),
        read_frame(
            conn,
            f"select passage_id, doc_id, char_start, char_end, cluster_id from {published} "
            "where passage_id in (select passage_id from _suspect_claims)",
        ),
        read_frame(conn, "select doc_id from documents where doc_id in (select doc_id from _suspect_claims)"),
    )
    conn.execute("drop table _suspect_claims")
    quotes = [
        compared(check_quote_offsets(
            spans_in(
                low, high,
                f"select claim_id, doc_id, char_start, char_end, quote from ({rows_where('claims', _in_range(low, high))})",
            ),
            _documents_in(conn, low, high),
        ))
        for low, high in ranges
    ]
    return pl.concat([references, *quotes], how="diagonal_relaxed")


# The checks' steps come after every asset's (Dagster's `dagster/priority`: higher runs first
# among the steps ready to run), and the release after every check: a check that ran beside the
# steps after its asset has its result ready by then, one that did not runs then.
CHECK_PRIORITY = "-1"
RELEASE_PRIORITY = "-2"
# A check of these tables over more documents than SPAN_CHECK_DOCUMENTS runs in its own step, not
# beside the next: its frame and Great Expectations' pandas copy of it add to the peak of the
# steps it would run beside. At 100,000 articles the full run's peak was 3.88-3.96 GB with the
# passages check beside the dedup step (3.53-3.66 GB without), the claims step's 3.82-3.83 GB
# with the clusters check beside it (3.37 GB), and 4.01 GB with the claims check beside the facts
# step. The documents check beside the passages step took that step to 2.6-2.7 GB (2.5 GB).
ALONE_WHEN_LARGE = frozenset({"passages", "passage_clusters", "claims"})
# The asset whose step rewrites a checked table's `MUTABLE_COLUMNS` (a passage's published cluster, the
# claims' labels made from it). A check started beside the steps before that one has run cannot
# count those columns: the rows could be rewritten under it and would then count as checked. It
# leaves them, and the whole check, to its own step (with the passages' suite only the schema
# constrains the cluster, so their check goes on beside the dedup step).
REWRITTEN_BY = {"passages": "passage_clusters", "claims": "passage_clusters", "quarantine": "passage_clusters"}


class BackgroundChecks(ConfigurableResource):
    """Runs a table's check on a thread of its own as soon as its asset is materialised, beside
    the steps that follow (`start_checks`, a success hook of the `claimwire` job), one check at a
    time; the check's own step, which comes after every asset's, then reports its result. A
    check not started here (a run without the hook, a step in another process) runs in its step.
    A failing check stops publication either way: the release refuses any table written since
    its check last passed."""

    _pool: ThreadPoolExecutor | None = PrivateAttr(default=None)
    _started: dict = PrivateAttr(default_factory=dict)
    _materialised: set = PrivateAttr(default_factory=set)
    # the names of the assets and checks the run executes, read once
    _plan: tuple | None = PrivateAttr(default=None)
    _events_cursor: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="claimwire-check")
        self._started, self._materialised, self._plan, self._events_cursor = {}, set(), None, None

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            # a check not yet begun is dropped (its step did not come); one running finishes
            pool.shutdown(wait=True, cancel_futures=True)
        self._started, self._materialised, self._plan, self._events_cursor = {}, set(), None, None

    def events_read(self) -> str | None:
        """Where the last `materialised` call's events ended (a cursor into the run's events)."""
        return self._events_cursor

    def materialised(
        self, asset_names: set[str], read_plan: Callable[[], tuple[set[str], set[str]]], run_id: str,
        warehouse: Warehouse, validation: ValidationSettings, events_cursor: str | None = None,
    ) -> list[str]:
        """Note that the assets `asset_names` were materialised in this run and start the checks the
        run's plan has (`read_plan`, called once a run: the names of the assets and checks it
        executes), in order. Each is told whether the step that rewrites its table's mutable
        columns (`REWRITTEN_BY`) is behind it: materialised, or not in the run. Returns the
        tables whose checks started."""
        if self._pool is None:
            return []
        if events_cursor is not None:
            self._events_cursor = events_cursor
        if self._plan is None:
            self._plan = read_plan()
        assets, check_names = self._plan
        self._materialised |= asset_names
        ready = [
            table for table in CHECKED_TABLES
            if CHECKED_TABLES[table] in asset_names and table not in self._started and f"{table}_expectations" in check_names
        ]
        for table in ready:
            rewriter = REWRITTEN_BY.get(table)
            settled = rewriter is None or rewriter in self._materialised or rewriter not in assets
            self._started[table] = self._pool.submit(_check_beside, table, run_id, warehouse, validation, settled)
        return ready

    def take(self, table: str) -> Future | None:
        """The started check of `table`, if any; its result is None when it left the work to its step."""
        started = self._started.get(table)
        if started is not None:
            self._started[table] = None  # taken, never started again in this run
        return started


@success_hook(required_resource_keys={"warehouse", "validation", "checks"})
def start_checks(context: HookContext) -> None:
    """After a step succeeds, start the checks it made ready (`BackgroundChecks.materialised`):
    of the assets and checks in the run's execution plan."""
    def read_plan() -> tuple[set[str], set[str]]:
        run = context.instance.get_run_by_id(context.run_id)
        plan = context.instance.get_execution_plan_snapshot(run.execution_plan_snapshot_id) if run else None
        if plan is None:
            return set(), set()
        return {key.to_user_string() for key in plan.asset_selection}, {key.name for key in plan.asset_check_keys}

    checks: BackgroundChecks = context.resources.checks
    # the run's materialisations since the last step's hook read them (not every event again)
    records = context.instance.get_records_for_run(
        context.run_id, cursor=checks.events_read(), of_type=DagsterEventType.ASSET_MATERIALIZATION
    )
    asset_names = {
        record.event_log_entry.dagster_event.asset_key.to_user_string()
        for record in records.records
        if record.event_log_entry.step_key == context.step_key and record.event_log_entry.dagster_event is not None
        and record.event_log_entry.dagster_event.asset_key
    }
    checks.materialised(
        asset_names, read_plan, context.run_id, context.resources.warehouse, context.resources.validation, events_cursor=records.cursor
    )


def _check_beside(
    table: str, run_id: str, warehouse: Warehouse, validation: ValidationSettings, rewrites_settled: bool
) -> AssetCheckResult | None:
    with warehouse.side_connection() as conn:
        return run_check(table, run_id, conn, warehouse, validation, beside=True, rewrites_settled=rewrites_settled)


def build_check(table: str) -> AssetChecksDefinition:
    @asset_check(
        asset=CHECKED_TABLES[table],
        name=f"{table}_expectations",
        op_tags={"dagster/priority": CHECK_PRIORITY},
        description=(
            f"Runs expectations/{table}.json with Great Expectations, beside the steps after the "
            "asset's when the run started it there. Structural expectations (keys, vocabularies, "
            "offsets) fail on any row; row-level ones (plausible ranges) fail when more than their "
            "`mostly` share of rows break them. A failure stops publication."
        ),
    )
    def _check(
        context: AssetCheckExecutionContext, warehouse: Warehouse, validation: ValidationSettings, checks: BackgroundChecks
    ) -> AssetCheckResult:
        started = checks.take(table)
        short_of_memory = None
        try:
            result = started.result() if started is not None else None
        except duckdb.OutOfMemoryException as err:
            # the step then running dropped DuckDB's cache under it: run it again, alone
            context.log.warning(f"the {table} check beside the steps ran out of DuckDB's memory ({err}); running it again")
            result, short_of_memory = None, str(err)
        if result is None:
            with warehouse.get_connection() as conn:
                result = run_check(table, context.run.run_id, conn, warehouse, validation)
            if short_of_memory is not None:
                result = result._replace(
                    metadata={**result.metadata, "ran_again_after_beside": MetadataValue.text(short_of_memory)}
                )
        return result

    return _check


def run_check(
    table: str, run_id: str, conn, warehouse: Warehouse, validation: ValidationSettings, beside: bool = False,
    rewrites_settled: bool = True,
) -> AssetCheckResult | None:
    """Validate `table` on `conn` and record the result in `validation_results` (and, when it
    passed, its scope in `stage_progress`). `beside`: on a side connection while other steps
    run, `rewrites_settled` telling whether the step that rewrites the table's mutable columns is
    behind. Then None, with nothing recorded, when the check is its step's to run: it is large
    (`ALONE_WHEN_LARGE`), or it counts mutable columns that step may still rewrite."""
    suite = validation.suite(table)
    mode = validation.scope_mode()
    # "all" validates every row in Great Expectations, which needs no whole-table counts
    rules = (
        table_wide_rules(
            suite, MUTABLE_COLUMNS.get(table, frozenset()), _never_null_columns(conn, table), _enforced_keys(conn, table)
        )
        if table in SCOPED_TABLES else None
    )
    scoped = rules is not None and mode == "new"
    # a suite that needs every row in Great Expectations checks every document's spans too
    n_documents = _open_scope(conn, table, suite, mode if scoped else "all") if table in SCOPED_TABLES else None
    # the documents whose rewritten columns are counted, when rules on such columns are
    # counted (the claims' references are counted over them too)
    changed_scope = scoped and (table == "claims" or any(r.mutable for r in rules))
    if beside and (
        (table in ALONE_WHEN_LARGE and n_documents is not None and n_documents > SPAN_CHECK_DOCUMENTS)
        or (not rewrites_settled and (changed_scope or (not scoped and table in MUTABLE_COLUMNS)))
    ):
        conn.execute("drop table if exists _check_scope")
        return None
    n_changed = _open_changed_scope(conn, table) if changed_scope else None
    scope_spans = None
    if table in {"passages", "claims"} and scoped and n_documents <= SPAN_CHECK_DOCUMENTS:
        frame, scope_spans = _scope_rows(conn, table)
    else:
        frame = _frame_for(conn, table, scoped)
    # A large scope's rows and texts are read once, in Polars from then on: DuckDB need
    # not keep their blocks cached while Great Expectations copies the frame into pandas
    # and the spans are compared range by range (the full run's peak at 100,000 articles
    # is the claims check; a small scope's reads leave the cache to the next step).
    drop_cache = None
    if n_documents is not None and n_documents > SPAN_CHECK_DOCUMENTS:
        drop_cache = partial(warehouse.drop_cached_blocks, conn, keep=LARGE_CHECK_CACHE)
        drop_cache()
    n_table_rows = frame.height
    # Great Expectations (Python, holding the GIL) validates the frame on a thread of its
    # own while DuckDB and Polars (which let go of it) count and compare on this one
    with ThreadPoolExecutor(1) as pool:
        validated = pool.submit(
            validate_frame, frame, suite, data_docs_dir=validation.docs_dir(table),
            slice_rows=CHECK_SLICE_ROWS, judged_elsewhere=frozenset(r.index for r in rules) if scoped else frozenset(),
            between_slices=release_freed_memory,
        )
        cross = _cross_table_failures(conn, table, scope_spans, changed_scope, drop_cache)
        if scoped:
            n_table_rows, counts = table_wide_counts(
                conn, _relation(table), rules, _in_scope(table),
                keys_near_scope=_scope_is_small(conn, n_documents), key_relation=KEY_RELATIONS.get(table),
                changed_relation=_relation(table, IN_CHANGED_SCOPE) if changed_scope and _scope_is_small(conn, n_changed) else None,
            )
        report = validated.result()
    if scoped:
        report = merge_table_wide(report, suite, rules, counts)
    n_cross = 0 if cross is None else cross.height
    passed = report.success and n_cross == 0
    rows = report.to_metadata_rows()
    n_failed = report.failing_rows["row_index"].n_unique() if report.failing_rows.height else 0
    scope = {
        "mode": "new" if scoped else "all",
        "n_documents": n_documents,
        "n_rows_validated": report.n_rows,
        "n_rows_in_table": n_table_rows,
    }
    if changed_scope:
        scope["n_documents_changed"] = n_changed
    with transaction(conn):
        conn.execute(
            "insert into validation_results values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                table, report.suite_name, utc_now(), run_id, passed, report.n_rows,
                n_failed + n_cross,
                str(report.data_docs_index) if report.data_docs_index else None,
                json.dumps({"expectations": rows, "cross_table_failures": n_cross, "scope": scope}, default=str),
            ],
        )
        if passed and table in SCOPED_TABLES:
            _record_scope_passed(conn, table, "_changed_scope" if changed_scope else "_check_scope")
    metadata = {
        "suite": MetadataValue.text(report.suite_name),
        "rows_validated": MetadataValue.int(report.n_rows),
        "rows_in_table": MetadataValue.int(n_table_rows),
        "scope": MetadataValue.text(
            f"the rows of {n_documents} documents written since the table last passed; keys and row-level shares over the whole table"
            + (f"; rewritten columns over the {n_changed} documents reclustered or written since" if changed_scope else "")
            if scoped
            else "every row"
        ),
        "rows_failing_row_level_rules": MetadataValue.int(n_failed),
        "ran_beside_later_steps": MetadataValue.bool(beside),
        "expectations": MetadataValue.md(markdown_table(pl.DataFrame(rows)) if rows else "_none_"),
        "sample_failing_rows": MetadataValue.md(_failing_sample(frame, report.failing_rows)),
    }
    if cross is not None:
        metadata["cross_table_failures"] = MetadataValue.int(n_cross)
        metadata["sample_cross_table_failures"] = MetadataValue.md(markdown_table(cross.head(10)))
    if report.data_docs_index:
        metadata["data_docs"] = MetadataValue.url(Path(report.data_docs_index).resolve().as_uri())
    return AssetCheckResult(passed=passed, severity=AssetCheckSeverity.ERROR, metadata=metadata)


def _failing_sample(frame: pl.DataFrame, failing: pl.DataFrame, n: int = 10) -> str:
    if failing.is_empty():
        return "_no failing rows_"
    sample = failing.head(n).join(frame.with_row_index("row_index").with_columns(pl.col("row_index").cast(pl.Int64)), on="row_index", how="left")
    keep = [c for c in ("failed_check", "reason", "claim_id", "doc_id", "quote", "value_low", "value_high", "unit", "measure") if c in sample.columns]
    return markdown_table(sample.select(keep or sample.columns))


table_checks = [build_check(table) for table in CHECKED_TABLES]
