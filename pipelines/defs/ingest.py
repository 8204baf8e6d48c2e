"""Ingest assets: `documents` and `rejected_files`, from one scan of the raw folder."""

import hashlib
from collections import deque
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from multiprocessing import get_context

import polars as pl
from dagster import AssetExecutionContext, AssetSpec, MaterializeResult, MetadataValue, multi_asset

from pipelines.defs.common import (
    OWNERS,
    WAREHOUSE_KINDS,
    frame_metadata,
    record_table_version,
    utc_now,
)
from pipelines.defs.engine import Engine
from pipelines.defs.raw_reading import read_and_parse_files, unread_outcome
from pipelines.defs.resources import (
    LISTING_SCHEMA,
    ConfigurationError,
    RawFile,
    RawFolder,
    ReleasePublisher,
    Warehouse,
    append_table,
    read_frame,
    sql_file,
    transaction,
)
from pipelines.defs.validate import ValidationSettings
from pipelines.lib.claims import load_aliases, load_taxonomy
from pipelines.lib.consistency import load_consistency_rules
from pipelines.lib.ingest import (
    SUPPORTED_SUFFIXES,
    ParsedDocument,
    Rejection,
    doc_id_for,
    iter_jsonl,
    too_large_detail,
)
from pipelines.lib.passages import load_boilerplate_rules

DOCUMENTS_SPEC = AssetSpec(
    "documents",
    group_name="ingest",
    owners=OWNERS,
    kinds=WAREHOUSE_KINDS,
    description=(
        "One row per raw file version (content hash): decoded text, provenance (path, sha256, size, "
        "encoding, ingest batch) and the title / outlet / publication time the text states. "
        "Incremental: only new or changed files are read; older versions stay with is_current = false."
    ),
)
REJECTED_SPEC = AssetSpec(
    "rejected_files",
    group_name="ingest",
    owners=OWNERS,
    kinds=WAREHOUSE_KINDS,
    description="One row per raw file version that could not become a document, with the reason and a detail a user can act on.",
)


@multi_asset(specs=[DOCUMENTS_SPEC, REJECTED_SPEC])
def ingest_raw_files(
    context: AssetExecutionContext,
    raw_folder: RawFolder,
    warehouse: Warehouse,
    publisher: ReleasePublisher,
    validation: ValidationSettings,
    engine: Engine,
):
    """Scan the raw folder; decode new file versions into `documents`, the rest into `rejected_files`."""
    preflight(raw_folder, publisher, validation, engine)
    started_at = utc_now()
    pending = f"pending-{context.run.run_id}"
    with warehouse.get_connection() as conn:
        with transaction(conn):
            if engine.is_spark:
                n_files = _scan_on_spark(conn, engine, raw_folder, context.run.run_id, pending, started_at)
            else:
                n_files = _scan_embedded(conn, raw_folder, pending, started_at, engine.n_workers)
            batch_id, n_new, n_new_rejected = _finish_batch(conn, raw_folder, pending, started_at, n_files)
            n_docs = record_table_version(conn, "documents", context.run.run_id)
            n_rejected = record_table_version(conn, "rejected_files", context.run.run_id)
            reasons = read_frame(conn, "select reason, count(*) as n_files from rejected_files group by reason order by reason")
            preview = read_frame(
                conn, "select * exclude (text) from documents where ingest_batch_id = ? order by source_path limit 10", [batch_id]
            )
            rejected_preview = read_frame(
                conn, "select * from rejected_files where ingest_batch_id = ? order by source_path limit 10", [batch_id]
            )

    context.log.info(f"scanned {n_files} files: {n_new} new documents, {n_new_rejected} rejected")
    yield MaterializeResult(
        asset_key="documents",
        metadata={
            **frame_metadata(preview, n_rows=n_docs),
            "new_documents": MetadataValue.int(n_new),
            "files_seen": MetadataValue.int(n_files),
            "ingest_batch_id": MetadataValue.text(batch_id),
            "raw_dir": MetadataValue.path(raw_folder.location),
            "engine": MetadataValue.text(engine.name),
        },
    )
    yield MaterializeResult(
        asset_key="rejected_files",
        metadata={
            **frame_metadata(rejected_preview, n_rows=n_rejected),
            "new_rejections": MetadataValue.int(n_new_rejected),
            "by_reason": MetadataValue.md(_reasons_md(reasons)),
        },
    )


def _scan_embedded(conn, raw_folder: RawFolder, pending: str, started_at, workers: int = 1) -> int:
    """Read new and changed files in this process; documents, rejections and file states land
    in the warehouse under the `pending` batch id. Returns the number of files listed.

    With `workers` > 1 and at least `PARALLEL_MIN_FILES` files to read, files are read and
    parsed (decoding, mojibake repair, stated provenance: pure Python) in worker processes,
    `READ_CHUNK_FILES` files a task, up to `CHUNKS_AHEAD` tasks ahead; outcomes are recorded in
    the order of the files, so the outcome is the same. Feeds and files over the size limit are
    read here, in their turn.
    """
    listing = raw_folder.listing()
    known_states = read_frame(conn, "select source_path, size_bytes, mtime_ns from raw_file_states")
    known_docs = read_frame(conn, "select source_path, content_sha256 from documents")
    known_rejections = read_frame(conn, "select source_path, content_sha256 from rejected_files")
    todo = _new_or_changed(listing, known_states)
    root, limit = str(raw_folder.root), raw_folder.max_file_bytes
    with _reader(workers if len(todo) >= PARALLEL_MIN_FILES else 1) as read_and_parse, _DocumentWriter(
        conn, pending, started_at
    ) as writer:
        scan = _Scan(
            doc_by_sha=dict(zip(known_docs["content_sha256"], known_docs["source_path"])),
            rejected_keys=set(zip(known_rejections["source_path"], known_rejections["content_sha256"])),
            flush=writer.write,
        )
        del known_states, known_docs, known_rejections
        ahead: deque = deque()  # (files, future of their outcomes), in file order
        chunk: list = []

        def send() -> None:
            if chunk:
                if len(ahead) >= CHUNKS_AHEAD:
                    _record_chunk(scan, *ahead.popleft())
                ahead.append((chunk.copy(), read_and_parse(root, [f.source_path for f in chunk], limit)))
                chunk.clear()

        for f in todo:
            if not _parsed_whole(raw_folder, f):
                send()
                while ahead:  # a streamed or hashed-only file is read here, in its turn
                    _record_chunk(scan, *ahead.popleft())
                _record(scan, f, _read_in_place(raw_folder, f, scan))
                continue
            chunk.append(f)
            if len(chunk) >= READ_CHUNK_FILES:
                send()
        send()
        while ahead:
            _record_chunk(scan, *ahead.popleft())
        scan.flush_pending()
        writer.finish()
    if scan.states:
        states = pl.DataFrame(
            scan.states, schema=["source_path", "size_bytes", "mtime_ns", "content_sha256"], orient="row"
        ).with_columns(seen_at=pl.lit(started_at))
        append_table(conn, "raw_file_states", states, or_replace=True)
    rejected = pl.DataFrame(scan.rejected, schema=_REJECTED_SCHEMA, orient="row").with_columns(ingest_batch_id=pl.lit(pending))
    append_table(conn, "rejected_files", rejected)
    if scan.seen_versions:
        versions = pl.DataFrame(scan.seen_versions, schema=["source_path", "content_sha256"], orient="row", strict=False)
        append_table(conn, "path_versions", versions.with_columns(last_seen_at=pl.lit(started_at)), or_replace=True)
    return listing.height


def _scan_on_spark(conn, engine: Engine, raw_folder: RawFolder, run_id: str, pending: str, started_at) -> int:
    """The same scan with Spark reading and parsing the files (`pipelines.spark.ingest`, a folder
    or an object-store URI). What is new, a copy or already rejected is decided here, in the
    warehouse, with the embedded scan's rules and file order. Returns the number of files listed."""
    from pipelines.spark.ingest import list_raw_files, read_raw_files

    spark = engine.spark
    listing = list_raw_files(spark, raw_folder.location)
    known = set(conn.sql("select source_path, size_bytes, mtime_ns from raw_file_states").fetchall())
    changed = sorted((path for path, size, mtime in listing if (path, size, mtime) not in known), key=_walk_order)
    if not changed:
        return len(listing)
    empty = frozenset(path for path, size, _ in listing if size == 0)
    parsed = read_raw_files(spark, raw_folder.location, raw_folder.max_file_bytes, changed, empty_paths=empty)
    with engine.staging_area(run_id, "ingest") as folder:
        for name, frame in (("files", parsed.files), ("documents", parsed.documents), ("rejections", parsed.rejections)):
            frame.write.parquet(str(folder / name))
        order = pl.DataFrame({"file_path": changed, "file_order": range(len(changed))})
        conn.register("_file_order", order)
        params = {name: str(folder / name / "*.parquet") for name in ("files", "documents", "rejections")}
        params |= {"pending": pending, "at": started_at}
        for statement in sql_file("classify_spark_ingest").split(";\n"):
            if statement.strip():
                conn.execute(statement, {k: v for k, v in params.items() if f"${k}" in statement} or None)
        conn.unregister("_file_order")
    return len(listing)


def _new_or_changed(listing: pl.DataFrame, known_states: pl.DataFrame) -> list[RawFile]:
    """The listed files (`RawFolder.listing`) whose path, size and modification time no recorded
    state has, in the listing's order: an anti join in Polars (at 101,000 files 0.04-0.06 s
    against 0.08-0.11 s for a Python set of the states' tuples)."""
    changed = (
        listing.with_row_index("order")
        .join(known_states.cast(LISTING_SCHEMA), on=list(LISTING_SCHEMA), how="anti")
        .sort("order")
        .drop("order")
    )
    return [RawFile(*row) for row in changed.iter_rows()]


def _walk_order(source_path: str) -> list[tuple[int, str]]:
    """The order `RawFolder.list_files` reads a folder in (os.walk: a folder's files, then its
    subfolders, each by name), so the first of two identical files is the same on both engines."""
    *folders, name = source_path.split("/")
    return [(1, f) for f in folders] + [(0, name)]


def _finish_batch(conn, raw_folder: RawFolder, pending: str, started_at, n_files: int) -> tuple[str, int, int]:
    """Name the batch by its content, record it, and mark each path's newest content current."""
    new_shas, new_paths, n_new, n_rejected = conn.execute(
        """
        select (select coalesce(string_agg(content_sha256, chr(10) order by content_sha256), '') from documents where ingest_batch_id = $p),
               (select coalesce(string_agg(source_path, chr(10) order by source_path), '') from rejected_files where ingest_batch_id = $p),
               (select count(*) from documents where ingest_batch_id = $p),
               (select count(*) from rejected_files where ingest_batch_id = $p)
        """,
        {"p": pending},
    ).fetchall()[0]
    batch_key = "\n".join(part for part in (new_shas, new_paths) if part)
    batch_id = started_at.strftime("%Y%m%dT%H%M%SZ") + "-" + hashlib.sha256(batch_key.encode()).hexdigest()[:8]
    conn.execute("update documents set ingest_batch_id = ? where ingest_batch_id = ?", [batch_id, pending])
    conn.execute("update rejected_files set ingest_batch_id = ? where ingest_batch_id = ?", [batch_id, pending])
    _record_current_versions(conn, started_at)
    if n_new or n_rejected:
        conn.execute(
            "insert into ingest_batches values (?, ?, ?, ?, ?, ?)",
            [batch_id, started_at, raw_folder.location, n_files, n_new, n_rejected],
        )
    return batch_id, n_new, n_rejected


# Parsed text is written to the warehouse every FLUSH_CHARS characters, so a run holds one
# chunk of new documents in memory, not the whole raw folder.
FLUSH_CHARS = 16_000_000


class _Scan:
    """What one scan of the raw folder has found so far; parsed documents wait here until flushed."""

    def __init__(self, doc_by_sha: dict[str, str], rejected_keys: set[tuple[str, str | None]], flush):
        self.flush = flush
        self.doc_by_sha = doc_by_sha
        self.rejected_keys = rejected_keys
        self.states: list[tuple] = []
        self.rejected: list[tuple] = []
        self.new_shas: list[str] = []
        self.seen_versions: list[tuple[str, str]] = []
        self.pending: list[ParsedDocument] = []
        self.pending_chars = 0

    def add(self, part: ParsedDocument | Rejection) -> None:
        key = (part.source_path, part.content_sha256)
        if self.doc_by_sha.get(part.content_sha256) == part.source_path:
            self.seen_versions.append(key)  # an earlier version seen again: it becomes current again
            return
        if key in self.rejected_keys:
            return
        if isinstance(part, Rejection):
            self.rejected.append(_rejection(part.source_path, part.content_sha256, part.reason, part.detail))
        elif part.content_sha256 in self.doc_by_sha:
            first = self.doc_by_sha[part.content_sha256]
            self.rejected.append(_rejection(
                part.source_path, part.content_sha256, "duplicate_content",
                f"the same content was already ingested as {first} (doc_id {doc_id_for(part.content_sha256)})",
            ))
        else:
            self.pending.append(part)
            self.pending_chars += len(part.text)
            self.new_shas.append(part.content_sha256)
            self.seen_versions.append(key)
            self.doc_by_sha[part.content_sha256] = part.source_path
            if self.pending_chars >= FLUSH_CHARS:
                self.flush_pending()
        self.rejected_keys.add(key)

    def reject_unread(self, source_path: str, reason: str, detail: str) -> None:
        if (source_path, None) not in self.rejected_keys:
            self.rejected.append(_rejection(source_path, None, reason, detail))
            self.rejected_keys.add((source_path, None))

    def flush_pending(self) -> None:
        """Write the parsed documents waiting here to the warehouse (inside the run's transaction)."""
        if self.pending:
            taken, self.pending, self.pending_chars = self.pending, [], 0
            self.flush(taken)


# Files read and parsed per worker task, and tasks sent ahead of the one being recorded (bounds
# the bytes and parsed texts in flight: 4,096 files, about 14 MB of text at 100,000 generated
# articles); and the fewest files to read for which worker processes are worth starting (about a
# second). A task per file, each file read here, cost more in the pool's queues, pickling and
# this process's reads than the parsing itself: at 20,000 generated files the scan took 6.9-8.0 s
# that way, 2.6-3.5 s with 32 files a task, in workers that import no Dagster
# (`pipelines.defs.raw_reading`). At 100,000 articles 32 files a task (3 ms of parsing) left the
# workers waiting on the pool's round trips and on this thread (which held the GIL building the
# documents' frames): the scan took 10.6-11.2 s with 32 files a task, 8.3-9.6 with 256, 8.3-8.5
# with 512 and 7.9-8.1 with 1,024 (four ahead); 7.6-7.7 s with the documents written on a thread
# of their own (`_DocumentWriter`), against 9.6 s for 32 files a task with it.
READ_CHUNK_FILES = 1024
CHUNKS_AHEAD = 4
PARALLEL_MIN_FILES = 5_000


@contextmanager
def _reader(workers: int):
    """`read_and_parse(root, paths, max_bytes)` → a future of `read_and_parse_files`' result: in
    `workers` spawned processes, or computed on the spot with one."""
    if workers <= 1:
        yield lambda *args: _Done(read_and_parse_files(*args))
        return
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        yield partial(pool.submit, read_and_parse_files)


class _DocumentWriter:
    """Writes parsed documents to `documents` on a thread of its own, one chunk at a time, while
    the scan goes on: building a chunk's frame and inserting it (about 3 s of 100,000 articles)
    kept this thread from recording the workers' outcomes and sending them files, so they
    waited. Only the writer uses the connection until `finish` (which the scan calls before it
    writes anything else); at most one chunk is written while the next one fills."""

    def __init__(self, conn, batch_id: str, ingested_at):
        self.conn, self.batch_id, self.ingested_at = conn, batch_id, ingested_at
        self.pool = ThreadPoolExecutor(1, thread_name_prefix="claimwire-documents")
        self.in_flight = None

    def __enter__(self) -> "_DocumentWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.pool.shutdown(wait=True)  # a failed scan still lets a write finish before the rollback

    def write(self, parsed: list[ParsedDocument]) -> None:
        self.finish()
        self.in_flight = self.pool.submit(self._insert, parsed)

    def finish(self) -> None:
        """Wait for the write in flight; its error, if any, is raised here."""
        done, self.in_flight = self.in_flight, None
        if done is not None:
            done.result()

    def _insert(self, parsed: list[ParsedDocument]) -> None:
        append_table(self.conn, "documents", _documents_frame(parsed, self.batch_id, self.ingested_at))


class _Done:
    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


def _parsed_whole(raw_folder: RawFolder, f) -> bool:
    """Whether a file is read whole and parsed (the rest: feeds streamed, oversized files hashed)."""
    if f.source_path.lower().endswith(".jsonl"):
        return False
    return not (f.size_bytes > raw_folder.max_file_bytes and f.source_path.lower().endswith(SUPPORTED_SUFFIXES))


def _read_in_place(raw_folder: RawFolder, f, scan: _Scan):
    """A feed (.jsonl), streamed line by line into the scan, or a file over the size limit, only
    hashed in chunks: ("recorded", sha) or ("unread", reason, detail)."""
    limit = raw_folder.max_file_bytes
    try:
        if f.source_path.lower().endswith(".jsonl"):
            digest = hashlib.sha256()
            with raw_folder.open_binary(f.source_path) as fh:
                for part in iter_jsonl(f.source_path, fh, limit, hasher=digest):
                    scan.add(part)
            return ("recorded", digest.hexdigest())
        sha = raw_folder.sha256(f.source_path)
    except OSError as err:
        return unread_outcome(err)
    scan.add(Rejection(f.source_path, sha, "too_large", too_large_detail(f.size_bytes, limit)))
    return ("recorded", sha)


def _record_chunk(scan: _Scan, files: list, outcomes) -> None:
    for f, outcome in zip(files, outcomes.result(), strict=True):
        _record(scan, f, outcome)


def _record(scan: _Scan, f, outcome: tuple) -> None:
    """Add one file's outcome to the scan, in the order of the files."""
    kind, *rest = outcome
    if kind == "unread":
        scan.reject_unread(f.source_path, *rest)
        return
    if kind == "parsed":
        parts = rest[0]
        for part in parts:
            scan.add(part)
        sha = parts[0].content_sha256  # a file read whole is one document or one rejection, with its hash
    else:
        (sha,) = rest
    scan.states.append((f.source_path, f.size_bytes, f.mtime_ns, sha))


def _record_current_versions(conn, started_at) -> None:
    """The newest content seen at each path is its current version; earlier ones stay as history.

    Only the paths with a version recorded now can have a new newest version: those this scan
    saw (`last_seen_at` is its start) and those of documents with no version recorded yet (the
    scan's new documents, and documents from before path_versions existed, which count as seen
    when they were ingested). The rest are not grouped again: at 100,000 articles the +1% batch
    took 0.07 s here instead of 0.31 s.
    """
    conn.execute(
        """
        create or replace temp table _unrecorded_versions as
        select source_path, content_sha256, ingested_at as last_seen_at from documents as d
        where not exists (
            select 1 from path_versions as v where v.source_path = d.source_path and v.content_sha256 = d.content_sha256
        )
        """
    )
    conn.execute("insert or ignore into path_versions select * from _unrecorded_versions")
    conn.execute(
        """
        update documents set is_current = coalesce(documents.content_sha256 = latest.content_sha256, false)
        from (
            select source_path, arg_max(content_sha256, (last_seen_at, content_sha256)) as content_sha256
            from path_versions
            where source_path in (
                select source_path from _unrecorded_versions
                union all select source_path from path_versions where last_seen_at = $started_at
            )
            group by source_path
        ) latest
        where latest.source_path = documents.source_path
          and documents.is_current is distinct from (documents.content_sha256 = latest.content_sha256)
        """,
        {"started_at": started_at},
    )
    conn.execute("drop table _unrecorded_versions")


def preflight(
    raw_folder: RawFolder, publisher: ReleasePublisher, validation: ValidationSettings, engine: Engine | None = None
) -> None:
    """Every configured path and rules file, checked before any work is done; all problems at once."""
    problems = []
    on_spark = engine is not None and _engine_name(engine, problems) == "spark"
    checks = [
        lambda: raw_folder.check(allow_uri=on_spark),
        publisher.check,
        load_boilerplate_rules,
        load_taxonomy,
        load_aliases,
        load_consistency_rules,
        validation.all_suites,
    ]
    if engine is not None:
        checks.append(lambda: engine.n_workers)
    for check in checks:
        try:
            check()
        except (ConfigurationError, ValueError) as err:
            problems.append(str(err))
    if problems:
        raise ConfigurationError("claimwire is misconfigured; nothing was done:\n- " + "\n- ".join(problems))


def _engine_name(engine: Engine, problems: list[str]) -> str | None:
    try:
        return engine.name
    except ConfigurationError as err:
        problems.append(str(err))
        return None


_REJECTED_SCHEMA = {
    "source_path": pl.Utf8,
    "content_sha256": pl.Utf8,
    "reason": pl.Utf8,
    "detail": pl.Utf8,
    "seen_at": pl.Datetime("us"),
}


def _rejection(source_path: str, sha: str | None, reason: str, detail: str) -> tuple:
    return (source_path, sha, reason, detail, utc_now())


def _documents_frame(parsed: list[ParsedDocument], batch_id: str, ingested_at) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "doc_id": [doc_id_for(d.content_sha256) for d in parsed],
            "source_path": [d.source_path for d in parsed],
            "content_sha256": [d.content_sha256 for d in parsed],
            "size_bytes": [d.size_bytes for d in parsed],
            "encoding": [d.encoding for d in parsed],
            "title": [d.title for d in parsed],
            "outlet": [d.outlet for d in parsed],
            "published_at": [d.published_at for d in parsed],
            "n_chars": [len(d.text) for d in parsed],
            "text": [d.text for d in parsed],
        },
        schema={
            "doc_id": pl.Utf8, "source_path": pl.Utf8, "content_sha256": pl.Utf8, "size_bytes": pl.Int64,
            "encoding": pl.Utf8, "title": pl.Utf8, "outlet": pl.Utf8, "published_at": pl.Datetime("us"),
            "n_chars": pl.Int32, "text": pl.Utf8,
        },
    ).with_columns(ingest_batch_id=pl.lit(batch_id), ingested_at=pl.lit(ingested_at), is_current=pl.lit(True))


def _reasons_md(reasons: pl.DataFrame) -> str:
    if reasons.is_empty():
        return "_no rejected files_"
    return "\n".join(f"- {r}: {n}" for r, n in reasons.iter_rows())
