"""The `published` asset: the Parquet release and its manifest, written atomically."""

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from dagster import AssetExecutionContext, Failure, MaterializeResult, MetadataValue, TableColumn, TableSchema, asset

from pipelines.defs.common import (
    OWNERS,
    markdown_table,
    utc_now,
)
from pipelines.defs.resources import ReleasePublisher, Warehouse, read_frame, rows_where, sql_file
from pipelines.defs.validate import CHECKED_TABLES, RELEASE_PRIORITY, ValidationSettings, published_passages
from pipelines.lib.validation import validate_frame

SCHEMA_VERSION = "1"

# published table → the query that produces it from the warehouse, and the order of its rows in a file
RELEASE_TABLES = {
    "documents": ("select * from documents", "doc_id"),
    "rejected_files": ("select * from rejected_files", "source_path, seen_at"),
    "passages": (sql_file("select_published_passages"), "doc_id, ordinal"),
    "passage_clusters": ("select * from passage_clusters", "cluster_id"),
    "doc_syndication": ("select * from doc_syndication", "doc_id_a, doc_id_b"),
    "claims": ("select * from claims", "doc_id, char_start, claim_id"),
    "facts": ("select * from facts", "measure, unit, value_low, value_high, fact_id"),
    "consistency": ("select * from consistency", "rule, stated_fact_id, input_fact_ids"),
    "quarantine": ("select * from quarantine", "doc_id, char_start, claim_id"),
}
PARQUET_BATCH_ROWS = 100_000
PARQUET_COMPRESSION = "zstd"
# Tables written at once, each by its own DuckDB cursor: Parquet encoding and compression run
# outside the GIL, so two tables take about 0.7 of the time of one after the other.
PUBLISH_THREADS = 2
# The large tables are written in parts: the documents of one ingest batch, DOCS_PER_PART at a
# time in order of publication (`PART_ORDER`), with their rows. A part whose rows are the same
# as in the current release (row count and a hash of every column, in DuckDB) is hard-linked
# from it instead of written again, so a batch rewrites its own parts and the few older parts
# whose rows it changed (a passage that joined a cluster), not the whole release.
PARTITIONED_TABLES = ("documents", "passages", "claims")
DOCS_PER_PART = 1_000
# Parts written by one query: its rows are sorted by part and order before they are streamed
# out, so a query of every part sorts the whole table, texts and all. The first release at
# 100,000 articles (documents, passages and claims, two tables at once) ran out of DuckDB's
# 2 GB in 3 of 11 attempts of the release alone, and once in a benchmark's full run ("failed
# to pin block", passages beside claims); 25 parts a query (25,000 documents' rows a sort,
# whatever the table's size) passed 5 of 5 attempts, 50 parts 7 of 7, in 10.4-11.1 and
# 10.1-10.4 s against 10.2-10.9 s in one query (`/tmp/s28/pub_only.py`, docs/benchmarks.md,
# twenty-seventh session). A batch rewrites a few parts: one query.
PARTS_PER_QUERY = 25
# A new batch changes rows of the older documents that reprint what it reprints: copies of one
# story appear within days of each other, so parts cut in order of publication keep those
# documents together. At 100,000 articles the +1% batch changed rows of 54 older documents: in
# doc_id order (a content hash, so any order) they fell in 42 of 101 parts, in order of
# publication in 4. Documents without a stated date come last, by doc_id. (Only what a
# document's content fixes decides its part: the date it states and its doc_id.)
PART_ORDER = "published_at nulls last, doc_id"
# Columns a part's fingerprint leaves out because other hashed values fix them: a document's
# text is written once, with the row (nothing updates it), so its doc_id and ingested_at
# name it; a passage's text is its document's text between char_start and char_end (the
# passages check holds every row to that before a release). Every part's fingerprint hashes
# its document's ingested_at, so a warehouse rebuilt from the same files with other decoding
# never reuses the old files. At 100,000 articles the two fingerprints took 0.37 and 0.45 s
# with the texts, 0.06 and 0.24 s without.
FIXED_BY_DOCUMENT = {"documents": frozenset({"text"}), "passages": frozenset({"text"})}


def _release_parts() -> str:
    """doc_id → the part its rows are published in, and the document's ingested_at."""
    return f"""
        select doc_id, ingest_batch_id || '-' || lpad(((row_number() over (partition by ingest_batch_id order by {PART_ORDER}) - 1)
                                                       // {DOCS_PER_PART})::varchar, 5, '0') as part,
               ingested_at as document_ingested_at
        from documents
    """


# rows whose document is not in `documents` (none, by the reference checks) still get a part
ORPHAN_PART = "no-document"

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
    # after every check's step (the checks do not hold the assets downstream up; this one waits)
    op_tags={"dagster/priority": RELEASE_PRIORITY},
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
    # the current release, resolved once: its manifest and the files its parts are linked from
    previous_folder = publisher.current_folder()
    previous = publisher.manifest_of(previous_folder) if previous_folder is not None else None
    release_id = publisher.new_release_id()
    with warehouse.get_connection() as conn:
        validations = _require_fresh_validation(conn)
        with publisher.stage(release_id) as staging:
            counts, parts = _write_tables(conn, staging, previous_folder, previous, publisher)
            manifest = {
                "release_id": release_id,
                "created_at": utc_now().isoformat() + "Z",
                "schema_version": SCHEMA_VERSION,
                "previous_release_id": previous["release_id"] if previous else None,
                "dagster_run_id": context.run.run_id,
                "tables": {
                    t: {"rows": n, "path": f"{t}/*.parquet"} | ({"parts": parts[t]} if t in parts else {})
                    for t, n in counts.items()
                },
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


def _write_tables(conn: duckdb.DuckDBPyConnection, staging: Path, previous: Path | None, previous_manifest: dict | None,
                  publisher: ReleasePublisher) -> tuple[dict[str, int], dict[str, dict]]:
    """Every release table into `staging`, PUBLISH_THREADS at a time: rows per table, and the
    parts of the partitioned tables (file → rows and fingerprint) for the manifest. `previous`
    is the current release's folder, `previous_manifest` its manifest."""
    # the parts the current release recorded (none before releases had parts)
    previous_parts = {
        table: entry.get("parts", {}) for table, entry in (previous_manifest or {}).get("tables", {}).items()
    }
    parts: dict[str, dict] = {}

    def write(table: str) -> int:
        with conn.cursor() as cursor:
            if table in PARTITIONED_TABLES:
                parts[table], to_write = _reuse_parts(
                    cursor, table, staging / table, previous, previous_parts.get(table, {}), publisher
                )
                _write_parts(cursor, table, staging / table, to_write)
                return sum(part["rows"] for part in parts[table].values())
            query, order = RELEASE_TABLES[table]
            return _write_table(cursor, f"{query} order by {order}", staging / table)

    order = sorted(RELEASE_TABLES, key=lambda table: table not in PARTITIONED_TABLES)
    with ThreadPoolExecutor(PUBLISH_THREADS) as pool:
        counts = dict(zip(order, pool.map(write, order)))
    return {table: counts[table] for table in RELEASE_TABLES}, parts


def _write_table(conn: duckdb.DuckDBPyConnection, query: str, folder: Path) -> int:
    """Stream a query into one Parquet file in batches, so memory stays flat for big tables."""
    folder.mkdir(parents=True)
    reader = conn.sql(query).to_arrow_reader(PARQUET_BATCH_ROWS)
    n_rows = 0
    with pq.ParquetWriter(folder / "part-00000.parquet", reader.schema, compression=PARQUET_COMPRESSION) as writer:
        for batch in reader:
            writer.write_batch(batch)
            n_rows += batch.num_rows
    return n_rows


def _part_file(part: str) -> str:
    return f"part-{part}.parquet"


def _reuse_parts(conn, table: str, folder: Path, previous: Path | None, previous_parts: dict, publisher: ReleasePublisher):
    """Each part's rows and fingerprint; the parts whose fingerprint is the current release's are
    linked from it. Returns (file → {rows, fingerprint}, the parts still to write)."""
    query, order = RELEASE_TABLES[table]
    shape = conn.sql(f"select * from ({query}) limit 0")
    columns, types = shape.columns, [str(kind) for kind in shape.types]
    fixed = FIXED_BY_DOCUMENT.get(table, frozenset())
    # what a file's bytes depend on besides its rows
    writer = json.dumps(
        [SCHEMA_VERSION, query, order, PARQUET_COMPRESSION, PARQUET_BATCH_ROWS, DOCS_PER_PART, PART_ORDER, columns, types,
         sorted(fixed)]
    )
    writer_digest = hashlib.sha256(writer.encode()).hexdigest()[:16]
    hashed = ", ".join([*(f'x."{name}"' for name in columns if name not in fixed), "p.document_ingested_at"])
    fingerprints = conn.sql(
        f"""
        select coalesce(p.part, '{ORPHAN_PART}') as part, count(*) as n_rows, sum(hash({hashed}))::varchar as row_hash
        from ({query}) as x left join ({_release_parts()}) as p using (doc_id)
        group by all order by part
        """
    ).fetchall()
    folder.mkdir(parents=True)
    parts, to_write = {}, []
    for part, n_rows, row_hash in fingerprints:
        name = _part_file(part)
        fingerprint = f"{writer_digest}:{n_rows}:{row_hash}"
        parts[name] = {"rows": n_rows, "fingerprint": fingerprint}
        same = previous_parts.get(name, {}).get("fingerprint") == fingerprint
        if not (same and publisher.link_file(previous / table / name, folder / name)):
            to_write.append(part)
    if not parts:  # an empty table is one empty file, so `<table>/*.parquet` always matches
        parts[_part_file("00000")] = {"rows": 0, "fingerprint": f"{writer_digest}:0:"}
        to_write.append("00000")
    return parts, to_write


def _picked(table: str, predicate: str) -> str:
    """The rows of the published `table` (one of `PARTITIONED_TABLES`) whose base rows meet
    `predicate`, picked by row id (`rows_where`): DuckDB reads the texts of those rows only. A
    semi join on `doc_id` read every row's text: at 100,000 articles the +1% batch's documents
    part took 0.25 s, its five passages parts 0.73-0.81 s and four claims parts 0.41-0.42 s."""
    if table == "passages":
        # the published passages' query, its passages picked before their clusters are joined
        if published_passages() != RELEASE_TABLES["passages"][0]:
            raise RuntimeError("the released passages are no longer the published passages the checks validate")
        return published_passages(predicate)
    if RELEASE_TABLES[table][0] != f"select * from {table}":
        raise RuntimeError(f"release query of {table!r} is not its base table's rows: pick its rows another way")
    return rows_where(table, predicate)


def _write_parts(conn: duckdb.DuckDBPyConnection, table: str, folder: Path, parts: list[str]) -> None:
    """The rows of `parts`, one file per part: `PARTS_PER_QUERY` parts a query, each in one pass
    over the table, ordered by part."""
    schema = None
    for start in range(0, len(parts), PARTS_PER_QUERY):
        schema = _write_part_files(conn, table, folder, parts[start : start + PARTS_PER_QUERY])
    missing = [part for part in parts if not (folder / _part_file(part)).is_file()]
    if missing == ["00000"]:  # the empty table
        pq.ParquetWriter(folder / _part_file("00000"), schema, compression=PARQUET_COMPRESSION).close()
    elif missing:
        raise RuntimeError(f"{table}: parts {missing[:5]} had rows when fingerprinted and none when written")


def _write_part_files(conn: duckdb.DuckDBPyConnection, table: str, folder: Path, parts: list[str]) -> pa.Schema:
    """The rows of `parts` in one pass over the table, ordered by part, one file per part (a part
    without rows gets none); returns the files' schema."""
    query, order = RELEASE_TABLES[table]
    # the rows are picked by their documents first: a batch rewrites a few parts, and joining
    # every row to its part before filtering read the whole table, texts and all (passages at
    # 100,000 articles: 1.03 s for 54 parts of 100 documents, 0.24 s picked by document); and
    # by row id (`_picked`), so that only the picked rows' texts are read
    wanted = "doc_id in (select doc_id from parts where part in (select unnest($parts)))"
    if ORPHAN_PART in parts:
        wanted += " or doc_id is null or doc_id not in (select doc_id from documents)"
    relation = conn.sql(
        f"""
        with parts as (select doc_id, part from ({_release_parts()}))
        select coalesce(p.part, '{ORPHAN_PART}') as __part, x.*
        from ({_picked(table, wanted)}) as x
        left join parts as p using (doc_id)
        order by __part, {", ".join(f"x.{column.strip()}" for column in order.split(","))}
        """,
        params={"parts": parts},
    )
    reader = relation.to_arrow_reader(PARQUET_BATCH_ROWS)
    schema = reader.schema.remove(0)
    writer, current = None, None
    try:
        for batch in reader:
            runs = pc.run_end_encode(batch.column(0))
            start = 0
            for end, part in zip(runs.run_ends.to_pylist(), runs.values.to_pylist()):
                if part != current:
                    if writer is not None:
                        writer.close()
                    writer = pq.ParquetWriter(folder / _part_file(part), schema, compression=PARQUET_COMPRESSION)
                    current = part
                writer.write_batch(pa.RecordBatch.from_arrays(batch.columns[1:], schema=schema).slice(start, end - start))
                start = end
    finally:
        if writer is not None:
            writer.close()
    return schema


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
