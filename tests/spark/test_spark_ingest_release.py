"""End to end: the Spark engine's ingest (binaryFile + the warehouse's classification) gives the
embedded scan's documents and rejections on a raw folder of bad inputs, over two batches."""

import os
import time

import pytest

from tests.conftest import Claimwire
from tests.e2e.test_bad_inputs import ARTICLE, MAX_FILE_BYTES, _write_corpus
from tests.spark.conftest import require_java
from tests.spark.test_spark_release import TABLES, _release

pytestmark = [pytest.mark.spark, pytest.mark.e2e]

LIMIT = {"resources": {"raw_folder": {"config": {"max_file_bytes": MAX_FILE_BYTES}}}}


def _two_batches(root, engine: str) -> tuple[dict, dict, list]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        cw = Claimwire(root, monkeypatch)
        monkeypatch.setenv("CLAIMWIRE_ENGINE", engine)
        monkeypatch.setenv("CLAIMWIRE_SPARK_MASTER", "local[2]")
        _write_corpus(cw.raw)
        (cw.raw / "a_sub").mkdir()
        # a copy in a subfolder is read after the top folder's files, as os.walk reads them
        (cw.raw / "a_sub" / "copy.txt").write_bytes((cw.raw / "notes.md").read_bytes())
        assert cw.run(run_config=LIMIT).success
        first = _release(cw)
        # second batch: an edited file, a new copy of old content, a new article
        (cw.raw / "notes.md").write_text("# Budget\n\nThe budget grew by 7% in 2025, the finance ministry said.\n")
        os.utime(cw.raw / "notes.md", ns=(time.time_ns(), time.time_ns() + 10**9))
        (cw.raw / "again.txt").write_bytes((cw.raw / "legacy.txt").read_bytes())
        (cw.raw / "new.txt").write_text(ARTICLE.replace("Seoul", "Osaka"))
        assert cw.run(run_config=LIMIT).success
        batches = cw.warehouse_query("select n_files_seen, n_new_documents, n_rejected from ingest_batches order by started_at")
        return first, _release(cw), batches


def test_spark_ingest_equals_the_embedded_scan_on_bad_inputs_and_a_second_batch(tmp_path):
    require_java()
    embedded = _two_batches(tmp_path / "duckdb", "duckdb")
    on_spark = _two_batches(tmp_path / "spark", "spark")
    for batch in (0, 1):
        for table in TABLES:
            assert on_spark[batch][table] == embedded[batch][table], f"batch {batch + 1}: {table} differs"
    assert on_spark[2] == embedded[2]
    rejected = {row[0]: row[2] for row in embedded[1]["rejected_files"]}
    assert rejected["a_sub/copy.txt"] == "duplicate_content" and rejected["again.txt"] == "duplicate_content"


def test_a_raw_folder_uri_is_read_by_spark_and_refused_by_the_embedded_engine(claimwire, monkeypatch):
    require_java()
    claimwire.add_seeds()
    monkeypatch.setenv("CLAIMWIRE_RAW_DIR", claimwire.raw.as_uri())  # file:///…: any URI Hadoop reads
    result = claimwire.run(raise_on_error=False, select=["documents", "rejected_files"])
    assert not result.success
    message = claimwire.failure_message(result)
    assert f"raw folder {claimwire.raw.as_uri()} is a URI; set CLAIMWIRE_ENGINE=spark to read it" in message

    monkeypatch.setenv("CLAIMWIRE_ENGINE", "spark")
    monkeypatch.setenv("CLAIMWIRE_SPARK_MASTER", "local[2]")
    assert claimwire.run(select=["documents", "rejected_files"]).success
    assert claimwire.warehouse_query("select count(*), count(distinct doc_id) from documents") == [(5, 5)]
    assert claimwire.warehouse_query("select raw_dir from ingest_batches") == [(claimwire.raw.as_uri(),)]
