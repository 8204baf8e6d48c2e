"""The release's part writer on a real DuckDB warehouse: the rows of the asked parts only, one
file per part, in the release's order, and rows whose document is missing in their own part."""

from datetime import datetime

import duckdb
import pyarrow.parquet as pq
import pytest

from pipelines.defs import publish
from pipelines.defs.resources import SCHEMA_DIR


@pytest.fixture
def conn(tmp_path):
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as conn:
        for ddl in sorted(SCHEMA_DIR.glob("*.sql")):
            conn.execute(ddl.read_text(encoding="utf-8"))
        at = datetime(2026, 11, 29, 8, 0)
        for i, doc_id in enumerate(["d1", "d2", "d3", "d4", "d5"]):
            conn.execute(
                "insert into documents values (?, ?, 'sha', 10, 'utf_8', null, null, null, 10, 'x', 'b1', ?, true)",
                [doc_id, f"{doc_id}.txt", at],
            )
            for ordinal in (1, 0):
                conn.execute(
                    "insert into passages values (?, ?, ?, 0, 1, ?, false, null)",
                    [f"{doc_id}-p{ordinal}", doc_id, ordinal, f"text {i} {ordinal}"],
                )
        conn.execute("insert into passages values ('gone-p0', 'gone', 0, 0, 1, 'no document', false, null)")
        yield conn


def _rows(path):
    return [(r["passage_id"], r["doc_id"]) for r in pq.read_table(path).to_pylist()]


def test_only_the_asked_parts_are_written_each_with_its_own_rows(conn, tmp_path, monkeypatch):
    monkeypatch.setattr(publish, "DOCS_PER_PART", 2)  # d1 d2 | d3 d4 | d5
    folder = tmp_path / "passages"
    folder.mkdir()
    publish._write_parts(conn, "passages", folder, ["b1-00001", publish.ORPHAN_PART])
    assert sorted(p.name for p in folder.iterdir()) == ["part-b1-00001.parquet", f"part-{publish.ORPHAN_PART}.parquet"]
    assert _rows(folder / "part-b1-00001.parquet") == [("d3-p0", "d3"), ("d3-p1", "d3"), ("d4-p0", "d4"), ("d4-p1", "d4")]
    assert _rows(folder / f"part-{publish.ORPHAN_PART}.parquet") == [("gone-p0", "gone")]


def test_the_written_parts_hold_every_row_once(conn, tmp_path, monkeypatch):
    monkeypatch.setattr(publish, "DOCS_PER_PART", 2)
    folder = tmp_path / "passages"
    folder.mkdir()
    publish._write_parts(conn, "passages", folder, ["b1-00000", "b1-00001", "b1-00002", publish.ORPHAN_PART])
    written = sorted(row for path in folder.iterdir() for row in _rows(path))
    assert written == sorted(conn.sql("select passage_id, doc_id from passages").fetchall())
    assert _rows(folder / "part-b1-00002.parquet") == [("d5-p0", "d5"), ("d5-p1", "d5")]


def test_a_batch_is_cut_into_parts_in_order_of_publication(conn, tmp_path, monkeypatch):
    """Copies of one story are published within days of each other, and a new batch changes
    rows of the documents that reprint what it reprints: cut in order of publication, those
    documents share few parts. Documents without a date come last."""
    monkeypatch.setattr(publish, "DOCS_PER_PART", 2)
    for doc_id, day in (("d1", 3), ("d2", 1), ("d3", 2), ("d5", 1)):
        conn.execute("update documents set published_at = ? where doc_id = ?", [datetime(2024, 1, day), doc_id])
    parts = dict(conn.sql(f"select doc_id, part from ({publish._release_parts()})").fetchall())
    assert parts == {"d2": "b1-00000", "d5": "b1-00000", "d3": "b1-00001", "d1": "b1-00001", "d4": "b1-00002"}
    folder = tmp_path / "passages"
    folder.mkdir()
    publish._write_parts(conn, "passages", folder, ["b1-00001"])
    assert _rows(folder / "part-b1-00001.parquet") == [("d1-p0", "d1"), ("d1-p1", "d1"), ("d3-p0", "d3"), ("d3-p1", "d3")]


def test_many_parts_are_written_a_few_parts_a_query_with_the_same_files(conn, tmp_path, monkeypatch):
    """A release of many parts (the first, or one after a change of every row) sorts at most
    PARTS_PER_QUERY parts' rows at once: the same files as one query of every part."""
    monkeypatch.setattr(publish, "DOCS_PER_PART", 1)  # d1 | d2 | d3 | d4 | d5
    parts = ["b1-00000", "b1-00001", "b1-00002", "b1-00003", "b1-00004", publish.ORPHAN_PART]
    whole = tmp_path / "whole"
    whole.mkdir()
    publish._write_parts(conn, "passages", whole, parts)
    queries = []
    monkeypatch.setattr(publish, "PARTS_PER_QUERY", 2)
    write_part_files = publish._write_part_files
    monkeypatch.setattr(
        publish, "_write_part_files", lambda c, table, folder, asked: queries.append(asked) or write_part_files(c, table, folder, asked)
    )
    chunked = tmp_path / "chunked"
    chunked.mkdir()
    publish._write_parts(conn, "passages", chunked, parts)
    assert queries == [parts[0:2], parts[2:4], parts[4:6]]
    assert sorted(p.name for p in chunked.iterdir()) == sorted(p.name for p in whole.iterdir())
    assert len(list(chunked.iterdir())) == 6
    for path in whole.iterdir():
        assert pq.read_table(chunked / path.name).equals(pq.read_table(path))
