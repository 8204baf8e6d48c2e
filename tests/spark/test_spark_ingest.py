"""Raw files read with Spark's binaryFile source and parsed on the executors equal the embedded parse."""

import json
import shutil

import polars as pl
import pytest

from pipelines.defs.resources import RawFolder
from pipelines.lib.ingest import ParsedDocument, doc_id_for, parse_raw_file
from pipelines.spark.ingest import DOCUMENT_COLUMNS, REJECTION_COLUMNS
from tests.spark.conftest import RAW_SEEDS, same_rows

pytestmark = pytest.mark.spark

MAX_BYTES = 50_000


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory):
    raw = tmp_path_factory.mktemp("raw")
    for path in sorted(RAW_SEEDS.glob("*.txt")):
        shutil.copy2(path, raw / path.name)
    (raw / "feeds").mkdir()
    lines = [json.dumps({"text": "Seoul, Nov 4 — About 10,000 troops were sent.", "outlet": "Wire"}), "{not json", ""]
    (raw / "feeds" / "day one.jsonl").write_text("\n".join(lines), encoding="utf-8")
    (raw / ".DS_Store").write_bytes(b"\x00\x01binary")            # hidden file: listed, rejected (unsupported_type)
    (raw / "_draft.txt").write_text("A draft of 3 pages.\n", encoding="utf-8")  # Spark's own listing would skip it
    (raw / ".git").mkdir()
    (raw / ".git" / "HEAD.txt").write_text("ref: main\n", encoding="utf-8")  # hidden folder: never read
    (raw / "big.txt").write_text("x" * (MAX_BYTES + 1), encoding="utf-8")   # too_large
    (raw / "copy.txt").write_bytes((RAW_SEEDS / sorted(p.name for p in RAW_SEEDS.glob("*.txt"))[0]).read_bytes())
    return raw


def _embedded(raw_dir) -> tuple[pl.DataFrame, pl.DataFrame]:
    folder = RawFolder(path=str(raw_dir), max_file_bytes=MAX_BYTES)
    documents, rejections = [], []
    for f in folder.list_files():
        for part in parse_raw_file(f.source_path, folder.read_bytes(f.source_path), MAX_BYTES):
            if isinstance(part, ParsedDocument):
                documents.append({
                    "doc_id": doc_id_for(part.content_sha256), "source_path": part.source_path,
                    "content_sha256": part.content_sha256, "size_bytes": part.size_bytes, "encoding": part.encoding,
                    "title": part.title, "outlet": part.outlet, "published_at": part.published_at,
                    "n_chars": len(part.text), "text": part.text,
                })
            else:
                rejections.append(
                    {"source_path": part.source_path, "content_sha256": part.content_sha256,
                     "reason": part.reason, "detail": part.detail}
                )
    return pl.DataFrame(documents, schema=DOCUMENT_COLUMNS), pl.DataFrame(rejections, schema=REJECTION_COLUMNS)


def test_listing_follows_the_embedded_rules(spark, raw_dir):
    from pipelines.spark.ingest import list_raw_files

    listed = list_raw_files(spark, str(raw_dir))
    expected = RawFolder(path=str(raw_dir)).list_files()
    assert [(p, size) for p, size, _ in listed] == [(f.source_path, f.size_bytes) for f in expected]
    assert ".DS_Store" in [p for p, _, _ in listed] and not any(p.startswith(".git/") for p, _, _ in listed)


def test_documents_and_rejections_equal_the_embedded_parse(spark, raw_dir):
    from pipelines.spark.ingest import read_raw_files

    expected_documents, expected_rejections = _embedded(raw_dir)
    found = read_raw_files(spark, str(raw_dir), MAX_BYTES)
    same_rows(found.documents, expected_documents)
    same_rows(found.rejections, expected_rejections)
    assert sorted(expected_rejections["reason"]) == ["bad_jsonl_line", "too_large", "unsupported_type"]
    # the copy is a document here too: deciding it duplicates a known one is the asset's job
    assert expected_documents.height == 8
    files = pl.from_arrow(found.files.toArrow()).sort("source_path")
    assert files["source_path"].to_list() == [f.source_path for f in RawFolder(path=str(raw_dir)).list_files()]
    assert files.filter(pl.col("source_path") == "big.txt")["size_bytes"].to_list() == [MAX_BYTES + 1]


def test_only_the_named_files_are_read(spark, raw_dir):
    from pipelines.spark.ingest import read_raw_files

    found = read_raw_files(spark, str(raw_dir), MAX_BYTES, source_paths=["feeds/day one.jsonl"])
    assert sorted(r.source_path for r in found.documents.select("source_path").collect()) == ["feeds/day one.jsonl#line=1"]
    assert [r.reason for r in found.rejections.select("reason").collect()] == ["bad_jsonl_line"]
