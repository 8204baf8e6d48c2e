"""The `published` asset: the Parquet release and its manifest, written atomically."""

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, TableColumn, TableSchema, asset

from pipelines.defs.common import (
    OWNERS,
    markdown_table,
    utc_now,
)
from pipelines.defs.resources import ReleasePublisher, Warehouse, read_frame, sql_file
from pipelines.defs.validate import CHECKED_TABLES, ValidationSettings
from pipelines.lib.validation import validate_frame

SCHEMA_VERSION = "1"

# published table → the query that produces it from the warehouse
RELEASE_TABLES = {
    "documents": "select * from documents order by doc_id",
    "rejected_files": "select * from rejected_files order by source_path, seen_at",
    "passages": f"{sql_file('select_published_passages')} order by doc_id, ordinal",
    "passage_clusters": "select * from passage_clusters order by cluster_id",
    "doc_syndication": "select * from doc_syndication order by doc_id_a, doc_id_b",
    "claims": "select * from claims order by doc_id, char_start, claim_id",
    "facts": "select * from facts order by measure, unit, value_low, value_high, fact_id",
    "consistency": "select * from consistency order by rule, stated_fact_id, input_fact_ids",
    "quarantine": "select * from quarantine order by doc_id, char_start, claim_id",
}

PARQUET_BATCH_ROWS = 100_000
# Tables written at once, each by its own DuckDB cursor: Parquet encoding and compression run
# outside the GIL, so two tables take about 0.7 of the time of one after the other.
PUBLISH_THREADS = 2
# written first, so the threads finish close together
LARGE_TABLES = ("documents", "passages", "claims")

# published table → the warehouse rows it is derived from; a non-empty source must give rows
UPSTREAM_COUNTS = {
    "documents": "select count(*) from raw_file_states s where not exists "
                 "(select 1 from rejected_files r where r.source_path = s.source_path and r.content_sha256 = s.content_sha256)",
    "passages": "select count(*) from documents",
    "passage_clusters": "select count(*) from passages",
    "facts": "select count(*) from claims",
}


@asset(
    deps=list(RELEASE_TABLES),
    group_name="publish",
    owners=OWNERS,
    kinds={"parquet", "duckdb"},
    description=(
        "The release: one Parquet folder per published table plus _manifest.json (release id, "
        "created_at, schema version, row counts, validation results), under CLAIMWIRE_PUBLISH_DIR. "
        "Written to a staging folder and swapped in atomically; a failed run leaves the previous "
        "release current. Refuses tables that changed since their checks last passed."
    ),
)
def published(
    context: AssetExecutionContext, warehouse: Warehouse, publisher: ReleasePublisher, validation: ValidationSettings
) -> MaterializeResult:
    """Write every published table to a new release and make it current."""
    publisher.check()
    release_suite = validation.suite("release")
    previous = publisher.current_manifest()
    release_id = publisher.new_release_id()
    with warehouse.get_connection() as conn:
        validations = _require_fresh_validation(conn)
        with publisher.stage(release_id) as staging:
            counts = _write_tables(conn, staging)
            manifest = {
                "release_id": release_id,
                "created_at": utc_now().isoformat() + "Z",
                "schema_version": SCHEMA_VERSION,
                "previous_release_id": previous["release_id"] if previous else None,
                "dagster_run_id": context.run.run_id,
                "tables": {t: {"rows": n, "path": f"{t}/*.parquet"} for t, n in counts.items()},
                "validation": validations,
            }
            release_report = _validate_release(conn, staging, counts, release_suite, validation.docs_dir("release"))
            manifest["validation"].append({"table_name": "release", **release_report.to_dict()})
            (staging / "_manifest.json").write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
            final = publisher.promote(staging)
    context.log.info(f"release {release_id} is current at {publisher.link}")
    return MaterializeResult(
        metadata={
            "dagster/row_count": MetadataValue.int(sum(counts.values())),
            "dagster/column_schema": TableSchema(
                columns=[TableColumn(t, "parquet table", description=f"{n} rows") for t, n in counts.items()]
            ),
            "release_id": MetadataValue.text(release_id),
            "release_path": MetadataValue.path(str(publisher.link)),
            "release_folder": MetadataValue.path(str(final)),
            "previous_release_id": MetadataValue.text(manifest["previous_release_id"] or "none"),
            "row_counts": MetadataValue.md("\n".join(f"- {t}: {n}" for t, n in counts.items())),
            "example_query": MetadataValue.md(
                f"```sql\nselect measure, value_low, value_high, unit, n_independent_sources\n"
                f"from read_parquet('{publisher.link}/facts/*.parquet')\norder by n_independent_sources desc;\n```"
            ),
        }
    )


def _require_fresh_validation(conn: duckdb.DuckDBPyConnection) -> list[dict]:
    """The latest validation of each checked table, which must have passed since the table was written."""
    latest = read_frame(conn, sql_file("select_latest_validation"))
    by_table = {r["table_name"]: r for r in latest.iter_rows(named=True)}
    problems = []
    for table in CHECKED_TABLES:
        row = by_table.get(table)
        if row is None or row["validated_at"] is None:
            problems.append(f"{table}: never validated")
        elif row["written_at"] is not None and row["validated_at"] < row["written_at"]:
            problems.append(f"{table}: changed since its last validation")
        elif not row["success"]:
            problems.append(f"{table}: its last validation failed")
    if problems:
        raise Failure(
            description="not publishing: " + "; ".join(problems) + ". Materialise the tables with their checks first.",
            metadata={"validation": MetadataValue.md(markdown_table(latest))},
        )
    return [
        {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items() if k != "results_json"}
        | {"results": json.loads(r["results_json"])}
        for r in latest.iter_rows(named=True)
    ]


def _write_tables(conn: duckdb.DuckDBPyConnection, staging: Path) -> dict[str, int]:
    """Every release table into `staging`, PUBLISH_THREADS at a time; rows written per table."""

    def write(table: str) -> int:
        with conn.cursor() as cursor:
            return _write_table(cursor, RELEASE_TABLES[table], staging / table)

    order = sorted(RELEASE_TABLES, key=lambda table: table not in LARGE_TABLES)
    with ThreadPoolExecutor(PUBLISH_THREADS) as pool:
        counts = dict(zip(order, pool.map(write, order)))
    return {table: counts[table] for table in RELEASE_TABLES}


def _write_table(conn: duckdb.DuckDBPyConnection, query: str, folder: Path) -> int:
    """Stream a query into one Parquet file in batches, so memory stays flat for big tables."""
    folder.mkdir(parents=True)
    reader = conn.sql(query).to_arrow_reader(PARQUET_BATCH_ROWS)
    n_rows = 0
    with pq.ParquetWriter(folder / "part-00000.parquet", reader.schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_batch(batch)
            n_rows += batch.num_rows
    return n_rows


def _validate_release(conn, staging: Path, counts: dict[str, int], suite, docs_dir: Path):
    """Run the release suite on the staged files; any failure keeps the previous release current."""
    with duckdb.connect() as probe:
        on_disk = {
            table: probe.execute("select count(*) from read_parquet(?)", [str(staging / table / "*.parquet")]).fetchall()[0][0]
            for table in counts
        }
    upstream = {table: conn.sql(query).fetchall()[0][0] for table, query in UPSTREAM_COUNTS.items()}
    frame = pl.DataFrame(
        {
            "table_name": list(counts),
            "n_rows": list(counts.values()),
            "n_rows_on_disk": [on_disk[t] for t in counts],
            "n_upstream_rows": [upstream.get(t, 0) for t in counts],
        }
    )
    report = validate_frame(frame, suite, data_docs_dir=docs_dir)
    if not report.success:
        failed = [r for r in report.to_metadata_rows() if not r["success"]]
        raise Failure(
            description=f"release {staging.name} failed its checks; the previous release stays current",
            metadata={"failed_expectations": MetadataValue.md(markdown_table(pl.DataFrame(failed))),
                      "row_counts": MetadataValue.md(markdown_table(frame))},
        )
    return report
