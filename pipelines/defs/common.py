"""Helpers shared by the asset modules: stage bookkeeping and materialisation metadata."""

from datetime import datetime, timezone

import duckdb
import polars as pl
from dagster import MetadataValue, TableColumn, TableSchema

from pipelines.defs.resources import read_frame


# `stage_progress` rows of this stage: when the dedup step last (re)wrote the cluster of one of a
# document's passages (a new copy joined it, or everything was clustered again). The checks of
# the tables that carry a passage's cluster (`MUTABLE_COLUMNS` in `validate.py`) count the rules
# on it over these documents, not the whole table.
RECLUSTERED_STAGE = "reclustered"


def mark_reclustered(conn: duckdb.DuckDBPyConnection, documents: str) -> None:
    """The documents `documents` (SQL returning doc_id) had a passage's cluster rewritten now."""
    set_progress(conn, RECLUSTERED_STAGE, documents)


def set_progress(conn: duckdb.DuckDBPyConnection, stage: str, documents: str) -> None:
    """`stage` processed the documents `documents` (SQL returning doc_id, read twice) now: their
    rows of the stage replaced. `stage_progress` has no primary key (see its DDL), so the rows
    are deleted and inserted, which keeps one row per (stage, document)."""
    conn.execute(f"delete from stage_progress where stage = ? and doc_id in (select doc_id from ({documents}))", [stage])
    conn.execute(
        f"insert into stage_progress select ?, doc_id, ? from (select distinct doc_id from ({documents}))", [stage, utc_now()]
    )


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def record_table_version(conn: duckdb.DuckDBPyConnection, table: str, run_id: str) -> int:
    n_rows = conn.sql(f'select count(*) from "{table}"').fetchall()[0][0]
    conn.execute(
        "insert or replace into table_versions values (?, ?, ?, ?)", [table, utc_now(), run_id, n_rows]
    )
    return n_rows


def unprocessed_doc_ids(conn: duckdb.DuckDBPyConnection, stage: str) -> list[str]:
    rows = conn.execute(
        "select doc_id from documents where doc_id not in (select doc_id from stage_progress where stage = ?) order by doc_id",
        [stage],
    ).fetchall()
    return [r[0] for r in rows]


def mark_processed(conn: duckdb.DuckDBPyConnection, stage: str, doc_ids: list[str]) -> None:
    # one set-based insert: executemany costs a statement per document (minutes at 100,000)
    if doc_ids:
        done = pl.DataFrame({"stage": stage, "doc_id": doc_ids, "processed_at": utc_now()})
        conn.register("_processed", done)
        # one row per (stage, document): documents the stage already has are left as they are
        conn.execute(
            "insert into stage_progress by name select * from _processed "
            "where doc_id not in (select doc_id from stage_progress where stage = ?)",
            [stage],
        )
        conn.unregister("_processed")


def reset_stage_if_changed(conn: duckdb.DuckDBPyConnection, stage: str, version: str) -> bool:
    """Forget a stage's progress when its parameters or rules changed; True when it was reset."""
    stored = conn.execute("select version from stage_state where stage = ?", [stage]).fetchall()
    if stored and stored[0][0] == version:
        return False
    conn.execute("delete from stage_progress where stage = ?", [stage])
    conn.execute("insert or replace into stage_state values (?, ?, ?)", [stage, version, utc_now()])
    return bool(stored)


def create_batch_rows(conn: duckdb.DuckDBPyConnection, table: str, batch_doc_ids: list[str], in_batch: str,
                      proof: str, anywhere: str) -> None:
    """Create the temporary table `table` from `in_batch`, the rows of the batch's documents
    (registered as `_batch_docs`), when `proof` (one boolean; it may read `_batch_docs`) says
    they are all the rows wanted; else from `anywhere`, which finds them over whole tables.
    For rows only the batch can have when every earlier run finished its writes (unclustered
    passages, unscreened mentions): the counts of whole tables, which DuckDB keeps, prove it,
    and a warehouse that breaks that is still handled right, at the whole tables' cost."""
    conn.register("_batch_docs", pl.DataFrame({"doc_id": batch_doc_ids}, schema={"doc_id": pl.Utf8}))
    try:
        query = in_batch if conn.sql(proof).fetchall()[0][0] else anywhere
        conn.execute(f"create or replace temp table {table} as {query}")
    finally:
        conn.unregister("_batch_docs")


def table_schema(frame: pl.DataFrame) -> TableSchema:
    return TableSchema(columns=[TableColumn(name, str(dtype)) for name, dtype in frame.schema.items()])


def frame_metadata(frame: pl.DataFrame, n_rows: int | None = None, preview_rows: int = 10) -> dict:
    """Row count, column schema and a Markdown preview — what the UI shows on every asset."""
    return {
        "dagster/row_count": MetadataValue.int(frame.height if n_rows is None else n_rows),
        "dagster/column_schema": table_schema(frame),
        "preview": MetadataValue.md(markdown_table(frame.head(preview_rows))),
    }


def markdown_table(frame: pl.DataFrame, max_chars: int = 80) -> str:
    if frame.is_empty():
        return "_no rows_"
    as_text = [
        (pl.col(c).cast(pl.List(pl.Utf8)).list.join(", ") if isinstance(dt, pl.List) else pl.col(c).cast(pl.Utf8))
        .fill_null("")
        .str.replace_all(r"[|\n]", " ")
        .str.slice(0, max_chars)
        for c, dt in frame.schema.items()
    ]
    rows = ["| " + " | ".join(row) + " |" for row in frame.select(as_text).iter_rows()]
    return "\n".join(["| " + " | ".join(frame.columns) + " |", "|" + "---|" * frame.width, *rows])


def table_frame(conn: duckdb.DuckDBPyConnection, table: str) -> pl.DataFrame:
    return read_frame(conn, f'select * from "{table}"')


# Who answers for every asset, and what every warehouse-table asset is made with (UI badges).
OWNERS = ["team:claimwire"]
WAREHOUSE_KINDS = {"duckdb", "polars"}
