"""Raw files on Spark: read a folder or object-store URI with the `binaryFile` source and parse
each file with the embedded path's `parse_raw_file`, in Arrow batches on the executors.

The folder is listed through Hadoop's FileSystem API on the driver (paths and sizes only),
with the embedded path's rule: hidden files are listed like any other (so a stray `.DS_Store`
is rejected with its reason), hidden folders are not read. Spark's own directory listing
would silently skip every file whose name starts with `.` or `_`, and `binaryFile` drops such
names even when given them explicitly, so those few are read through the FileSystem API on
the driver and joined to the rest.
"""

from dataclasses import dataclass
from datetime import datetime, timezone

import polars as pl
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipelines.lib.ingest import ParsedDocument, doc_id_for, parse_raw_file, sha256_hex
from pipelines.spark.arrow import map_frames, spark_schema

DOCUMENT_COLUMNS = {
    "doc_id": pl.Utf8,
    "source_path": pl.Utf8,
    "content_sha256": pl.Utf8,
    "size_bytes": pl.Int64,
    "encoding": pl.Utf8,
    "title": pl.Utf8,
    "outlet": pl.Utf8,
    "published_at": pl.Datetime("us"),
    "n_chars": pl.Int32,
    "text": pl.Utf8,
}
REJECTION_COLUMNS = {"source_path": pl.Utf8, "content_sha256": pl.Utf8, "reason": pl.Utf8, "detail": pl.Utf8}
FILE_COLUMNS = {"file_path": pl.Utf8, "file_size_bytes": pl.Int64, "file_mtime_ns": pl.Int64, "file_sha256": pl.Utf8}
_BINARY_FILE_COLUMNS = ("path", "modificationTime", "length", "content")
_BINARY_FILE_SCHEMA = "path string, modificationTime timestamp, length bigint, content binary"
_PARSED_SCHEMA = {"kind": pl.Utf8, **FILE_COLUMNS, **DOCUMENT_COLUMNS, "reason": pl.Utf8, "detail": pl.Utf8}


@dataclass(frozen=True)
class RawFiles:
    """What `read_raw_files` found; three views of one parse (computed once, kept on the executors).

    - `files`: one row per file read — `source_path`, `size_bytes`, `mtime_ns` (the file
      system's modification time; millisecond precision on most stores), `content_sha256`.
      What `raw_file_states` records.
    - `documents`: one row per document, the columns of the embedded ingest's documents frame
      before the batch columns: doc_id, source_path, content_sha256, size_bytes, encoding,
      title, outlet, published_at, n_chars, text. A .jsonl file gives one per good line.
    - `rejections`: one row per file (or .jsonl line) that is no document: source_path,
      content_sha256, reason, detail.

    The caller adds what belongs to a batch (ingest_batch_id, ingested_at, is_current, seen_at)
    and decides against the warehouse what is new, a duplicate or already rejected.
    """

    files: DataFrame
    documents: DataFrame
    rejections: DataFrame


def list_raw_files(spark: SparkSession, root: str) -> list[tuple[str, int, int]]:
    """`(source_path, size_bytes, mtime_ns)` of every file under `root`, sorted; hidden folders skipped.

    `root` is a local folder or any URI Hadoop can read (`s3a://bucket/raw`, `gs://…`,
    `abfss://…`, `hdfs://…`, with the store's connector on the classpath).
    """
    base, fs = _qualified_root(spark, root)
    found = []
    listing = fs.listFiles(spark._jvm.org.apache.hadoop.fs.Path(base), True)
    while listing.hasNext():
        status = listing.next()
        relative = _relative(status.getPath().toString(), base)
        if any(part.startswith(".") for part in relative.split("/")[:-1]):
            continue
        found.append((relative, int(status.getLen()), int(status.getModificationTime()) * 1_000_000))
    return sorted(found)


def read_raw_files(
    spark: SparkSession,
    root: str,
    max_file_bytes: int = 50_000_000,
    source_paths: list[str] | None = None,
    empty_paths: frozenset[str] = frozenset(),
) -> RawFiles:
    """Read and parse the raw files under `root` (all of them, or only `source_paths`, relative).

    Parsing is `pipelines.lib.ingest.parse_raw_file` on each file's bytes, so documents and
    rejections are exactly the embedded path's. A file larger than `max_file_bytes` is not
    parsed (rejected `too_large`), as in the embedded path. `empty_paths` names the files of
    `source_paths` the listing found empty: Spark's file sources skip zero-length files, so
    those are read through the FileSystem API on the driver and rejected as `empty`.
    """
    base, _ = _qualified_root(spark, root)
    if source_paths is None:
        listing = list_raw_files(spark, root)
        source_paths = [path for path, _, _ in listing]
        empty_paths = frozenset(path for path, size, _ in listing if size == 0)
    if not source_paths:
        empty = spark.createDataFrame([], spark_schema(_PARSED_SCHEMA))
        return _views(empty)
    by_spark = [p for p in source_paths if not _skipped_by_spark(p) and p not in empty_paths]
    raw = spark.read.format("binaryFile").load([f"{base}/{path}" for path in by_spark]) if by_spark else None
    by_name = [p for p in source_paths if _skipped_by_spark(p) or p in empty_paths]
    if by_name:
        # Spark's file sources drop these names even when given explicitly; they are rare (stray
        # `.DS_Store`, `_draft.txt`) and read here through the same FileSystem API
        read = spark.createDataFrame([_read_on_driver(spark, base, p) for p in by_name], _BINARY_FILE_SCHEMA)
        raw = read if raw is None else raw.select(*_BINARY_FILE_COLUMNS).unionByName(read)

    def per_batch(batch: pl.DataFrame) -> pl.DataFrame:
        return _parse_batch(batch, base, max_file_bytes)

    parsed = map_frames(
        raw.select(*_BINARY_FILE_COLUMNS), per_batch, _PARSED_SCHEMA
    ).localCheckpoint(eager=True)
    return _views(parsed)


def _views(parsed: DataFrame) -> RawFiles:
    files = parsed.select(
        F.col("file_path").alias("source_path"),
        F.col("file_size_bytes").alias("size_bytes"),
        F.col("file_mtime_ns").alias("mtime_ns"),
        F.col("file_sha256").alias("content_sha256"),
    ).distinct()
    documents = parsed.where(F.col("kind") == "document").select(list(DOCUMENT_COLUMNS))
    rejections = parsed.where(F.col("kind") == "rejection").select(list(REJECTION_COLUMNS))
    return RawFiles(files, documents, rejections)


def _parse_batch(batch: pl.DataFrame, base: str, max_file_bytes: int) -> pl.DataFrame:
    rows = []
    for uri, modified, content in zip(batch["path"], batch["modificationTime"], batch["content"]):
        source_path = _relative(uri, base)
        data = bytes(content)
        file = {
            "file_path": source_path,
            "file_size_bytes": len(data),
            "file_mtime_ns": _mtime_ns(modified),
            "file_sha256": sha256_hex(data),
        }
        for part in parse_raw_file(source_path, data, max_file_bytes):
            if isinstance(part, ParsedDocument):
                rows.append(file | {
                    "kind": "document",
                    "doc_id": doc_id_for(part.content_sha256),
                    "source_path": part.source_path,
                    "content_sha256": part.content_sha256,
                    "size_bytes": part.size_bytes,
                    "encoding": part.encoding,
                    "title": part.title,
                    "outlet": part.outlet,
                    "published_at": part.published_at,
                    "n_chars": len(part.text),
                    "text": part.text,
                })
            else:
                rows.append(file | {
                    "kind": "rejection",
                    "source_path": part.source_path,
                    "content_sha256": part.content_sha256,
                    "reason": part.reason,
                    "detail": part.detail,
                })
    return pl.DataFrame(rows, schema=_PARSED_SCHEMA)


def _mtime_ns(modified) -> int | None:
    if modified is None:
        return None
    if isinstance(modified, datetime):
        return int(modified.timestamp() * 1000) * 1_000_000
    return int(modified) * 1000


def _skipped_by_spark(source_path: str) -> bool:
    return any(part.startswith((".", "_")) for part in source_path.split("/"))


def _read_on_driver(spark: SparkSession, base: str, source_path: str) -> tuple:
    jvm = spark._jvm
    path = jvm.org.apache.hadoop.fs.Path(f"{base}/{source_path}")
    fs = path.getFileSystem(spark._jsc.hadoopConfiguration())
    status = fs.getFileStatus(path)
    stream = fs.open(path)
    try:
        content = bytes(jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
    finally:
        stream.close()
    modified = datetime.fromtimestamp(status.getModificationTime() / 1000, tz=timezone.utc)
    return (f"{base}/{source_path}", modified, int(status.getLen()), content)


def _qualified_root(spark: SparkSession, root: str):
    jvm = spark._jvm
    path = jvm.org.apache.hadoop.fs.Path(root)
    fs = path.getFileSystem(spark._jsc.hadoopConfiguration())
    return fs.makeQualified(path).toString().rstrip("/"), fs


def _relative(uri: str, base: str) -> str:
    # binaryFile and the FileSystem listing both print paths as Hadoop does; the prefix is the root
    if not uri.startswith(base + "/"):
        raise ValueError(f"{uri} is not under the raw folder {base}")
    return uri[len(base) + 1:]
