"""Ingest assets: `documents` and `rejected_files`, from one scan of the raw folder."""

import hashlib

import polars as pl
from dagster import AssetExecutionContext, AssetSpec, MaterializeResult, MetadataValue, multi_asset

from pipelines.defs.common import (
    OWNERS,
    WAREHOUSE_KINDS,
    frame_metadata,
    record_table_version,
    utc_now,
)
from pipelines.defs.resources import (
    ConfigurationError,
    RawFolder,
    ReleasePublisher,
    Warehouse,
    append_table,
    read_frame,
    transaction,
)
from pipelines.defs.validate import ValidationSettings
from pipelines.lib.claims import load_aliases, load_taxonomy
from pipelines.lib.consistency import load_consistency_rules
from pipelines.lib.ingest import ParsedDocument, Rejection, doc_id_for, parse_raw_file, sha256_hex
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
):
    """Scan the raw folder; decode new file versions into `documents`, the rest into `rejected_files`."""
    preflight(raw_folder, publisher, validation)
    files = raw_folder.list_files()
    started_at = utc_now()
    with warehouse.get_connection() as conn:
        known_states = read_frame(conn, "select source_path, size_bytes, mtime_ns, content_sha256 from raw_file_states")
        known_docs = read_frame(conn, "select doc_id, source_path, content_sha256 from documents")
        known_rejections = read_frame(conn, "select source_path, content_sha256 from rejected_files")

        unchanged = {
            (r["source_path"], r["size_bytes"], r["mtime_ns"]): r["content_sha256"]
            for r in known_states.iter_rows(named=True)
        }
        doc_by_sha = dict(zip(known_docs["content_sha256"], known_docs["source_path"]))
        rejected_keys = set(zip(known_rejections["source_path"], known_rejections["content_sha256"]))

        states, new_docs, rejected = [], [], []
        for f in files:
            sha = unchanged.get((f.source_path, f.size_bytes, f.mtime_ns))
            if sha is not None:
                continue
            try:
                data = raw_folder.read_bytes(f.source_path)
            except FileNotFoundError:
                if (f.source_path, None) in rejected_keys:
                    continue
                rejected.append(_rejection(f.source_path, None, "vanished", "the file disappeared while the folder was read"))
                continue
            except PermissionError as err:
                if (f.source_path, None) in rejected_keys:
                    continue
                rejected.append(_rejection(f.source_path, None, "unreadable", f"permission denied ({err.strerror}); make it readable"))
                continue
            states.append((f.source_path, f.size_bytes, f.mtime_ns, sha256_hex(data)))
            for part in parse_raw_file(f.source_path, data, raw_folder.max_file_bytes):
                key = (part.source_path, part.content_sha256)
                if key in rejected_keys or (part.content_sha256 in doc_by_sha and doc_by_sha[part.content_sha256] == part.source_path):
                    continue
                if isinstance(part, Rejection):
                    rejected.append(_rejection(part.source_path, part.content_sha256, part.reason, part.detail))
                elif part.content_sha256 in doc_by_sha:
                    first = doc_by_sha[part.content_sha256]
                    rejected.append(_rejection(
                        part.source_path, part.content_sha256, "duplicate_content",
                        f"the same content was already ingested as {first} (doc_id {doc_id_for(part.content_sha256)})",
                    ))
                else:
                    new_docs.append(part)
                    doc_by_sha[part.content_sha256] = part.source_path
                rejected_keys.add(key)

        batch_key = "\n".join(sorted(d.content_sha256 for d in new_docs) + sorted(r[0] for r in rejected))
        batch_id = started_at.strftime("%Y%m%dT%H%M%SZ") + "-" + hashlib.sha256(batch_key.encode()).hexdigest()[:8]
        documents = _documents_frame(new_docs, batch_id, started_at)
        rejected_frame = pl.DataFrame(rejected, schema=_REJECTED_SCHEMA, orient="row").with_columns(
            ingest_batch_id=pl.lit(batch_id)
        )
        with transaction(conn):
            if states:
                seen = pl.DataFrame(
                    states, schema=["source_path", "size_bytes", "mtime_ns", "content_sha256"], orient="row"
                ).with_columns(seen_at=pl.lit(started_at))
                conn.register("_seen", seen)
                conn.execute("insert or replace into raw_file_states by name select * from _seen")
                conn.unregister("_seen")
            append_table(conn, "documents", documents)
            append_table(conn, "rejected_files", rejected_frame)
            # the newest version of each path is current; earlier versions stay as history
            conn.execute(
                """
                update documents set is_current = (ingested_at, doc_id) = (
                    select max((d2.ingested_at, d2.doc_id)) from documents d2 where d2.source_path = documents.source_path
                )
                """
            )
            if new_docs or rejected:
                conn.execute(
                    "insert into ingest_batches values (?, ?, ?, ?, ?, ?)",
                    [batch_id, started_at, str(raw_folder.root), len(files), len(new_docs), len(rejected)],
                )
            n_docs = record_table_version(conn, "documents", context.run.run_id)
            n_rejected = record_table_version(conn, "rejected_files", context.run.run_id)
            reasons = read_frame(conn, "select reason, count(*) as n_files from rejected_files group by reason order by reason")

    context.log.info(f"scanned {len(files)} files: {len(new_docs)} new documents, {len(rejected)} rejected")
    yield MaterializeResult(
        asset_key="documents",
        metadata={
            **frame_metadata(documents.drop("text"), n_rows=n_docs),
            "new_documents": MetadataValue.int(len(new_docs)),
            "files_seen": MetadataValue.int(len(files)),
            "ingest_batch_id": MetadataValue.text(batch_id),
            "raw_dir": MetadataValue.path(str(raw_folder.root)),
        },
    )
    yield MaterializeResult(
        asset_key="rejected_files",
        metadata={
            **frame_metadata(rejected_frame, n_rows=n_rejected),
            "new_rejections": MetadataValue.int(len(rejected)),
            "by_reason": MetadataValue.md(_reasons_md(reasons)),
        },
    )


def preflight(raw_folder: RawFolder, publisher: ReleasePublisher, validation: ValidationSettings) -> None:
    """Every configured path and rules file, checked before any work is done; all problems at once."""
    problems = []
    checks = [
        raw_folder.check,
        publisher.check,
        load_boilerplate_rules,
        load_taxonomy,
        load_aliases,
        load_consistency_rules,
        validation.all_suites,
    ]
    for check in checks:
        try:
            check()
        except (ConfigurationError, ValueError) as err:
            problems.append(str(err))
    if problems:
        raise ConfigurationError("claimwire is misconfigured; nothing was done:\n- " + "\n- ".join(problems))


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
