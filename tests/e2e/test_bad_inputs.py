"""End to end: a raw folder as it really comes. Every file ends in documents or rejected_files.

The corpus is generated here (no binaries are committed); each file is commented with what it
tests and has one exact expected outcome.
"""

import json
import shutil

import pytest

from tests.conftest import PROJECT_ROOT

pytestmark = pytest.mark.e2e

ARTICLE = (
    "Seoul says troops were sent\n"
    "North Korea has sent about 10,000 soldiers to Russia, the NIS said on Monday.\n"
    "Each soldier is paid about $2,000 a month, according to Wi Sung-lac.\n"
)
MAX_FILE_BYTES = 5_000


def _write_corpus(raw):
    """file → expected (table, encoding or reason)."""
    files = {
        "crlf.txt": (ARTICLE.replace("\n", "\r\n").encode(), ("documents", "utf_8")),
        "bom.txt": (b"\xef\xbb\xbf" + ARTICLE.replace("Seoul", "Busan").encode(), ("documents", "utf_8_sig")),
        "legacy.txt": ("Café “naïve” — Österreich sent 600,000 tons of rice, the ministry said.".encode("cp1252"),
                       ("documents", "cp1252")),
        "stray_nul.txt": ((ARTICLE.replace("Seoul", "Tokyo") + "x" * 200).replace("Monday", "Mon\x00day").encode(),
                          ("documents", "utf_8+nul_removed")),
        "mojibake.txt": ("Kyiv’s budget is $1.5bn a year, the ministry said in a statement on its website today.".encode()
                         .decode("cp1252", errors="replace").encode(), ("documents", "utf_8+ftfy")),
        "spaces.txt": ("Troops\nPyongyang sent about 10,000\u00a0soldiers\u200b to Kursk, officials said.\n".encode(),
                       ("documents", "utf_8")),  # no-break and zero-width spaces, as pasted from the web
        "notes.md": (b"# Budget\n\nThe budget grew by 5% in 2024, the finance ministry said.\n", ("documents", "utf_8")),
        "page.html": (
            b"<html><head><title>Rice for troops</title>"
            b"<meta property='article:published_time' content='2024-11-04T18:19:00-05:00'></head>"
            b"<body><nav>Home | World</nav><article><h1>Rice for troops</h1>"
            b"<p>Russia will send up to 700,000 tons of rice to North Korea, Wi Sung-lac said on Tuesday in Seoul.</p>"
            b"</article><footer>Subscribe</footer></body></html>",
            ("documents", "utf_8+html"),
        ),
        "empty.txt": (b"", ("rejected_files", "empty")),  # breaks: a document has text
        "blank.txt": (b"\n \t\n", ("rejected_files", "empty")),  # breaks: a document has text
        "image.txt": (bytes(range(256)) * 4, ("rejected_files", "undecodable")),  # breaks: text decodes in some encoding
        "records.txt": (b"\x01\x02\x03rec" * 200, ("rejected_files", "binary")),  # breaks: text is not control codes
        "scan.pdf": (b"%PDF-1.7 fake", ("rejected_files", "unsupported_type")),  # breaks: supported formats only
        ".DS_Store": (b"\x00\x00\x00\x01Bud1", ("rejected_files", "unsupported_type")),  # a hidden file is not lost
        "huge.txt": (b"word " * 2_000, ("rejected_files", "too_large")),  # breaks: the configured size limit
        "zz_copy_of_crlf.txt": (ARTICLE.replace("\n", "\r\n").encode(), ("rejected_files", "duplicate_content")),
    }
    for name, (data, _) in files.items():
        (raw / name).write_bytes(data)
    feed = [
        json.dumps({"text": "Officials said about 12,000 troops were deployed.", "outlet": "Wire", "published_at": "2024-10-25T21:01:00Z"}),
        "{not json",  # breaks: one JSON object per line
        json.dumps({"title": "no text field"}),  # breaks: every line has a text
        json.dumps({"text": "A second article: 3,000 soldiers arrived.", "title": "Arrivals"}),
    ]
    (raw / "feed.jsonl").write_text("\n".join(feed) + "\n")
    expected = {name: outcome for name, (_, outcome) in files.items()}
    expected |= {
        "feed.jsonl#line=1": ("documents", "utf_8+jsonl"),
        "feed.jsonl#line=2": ("rejected_files", "bad_jsonl_line"),
        "feed.jsonl#line=3": ("rejected_files", "bad_jsonl_line"),
        "feed.jsonl#line=4": ("documents", "utf_8+jsonl"),
    }
    return expected


@pytest.mark.parametrize("parse_in_workers", [False, True], ids=["in_process", "worker_processes"])
def test_every_file_is_a_document_or_a_rejection_with_its_reason(claimwire, monkeypatch, parse_in_workers):
    # with worker processes (the threshold lowered to this small folder) the files are still
    # recorded in their order: the copy of crlf.txt is the duplicate, feeds and oversized files
    # are read in their turn, and every outcome is the same
    import concurrent.futures

    import pipelines.defs.ingest as ingest_defs

    pools = []
    monkeypatch.setattr(ingest_defs, "ProcessPoolExecutor", lambda **kw: pools.append(kw) or concurrent.futures.ProcessPoolExecutor(**kw))
    monkeypatch.setenv("CLAIMWIRE_WORKERS", "2" if parse_in_workers else "1")
    monkeypatch.setattr(ingest_defs, "PARALLEL_MIN_FILES", 0)
    # tasks of two files, two ahead: chunks are cut at feeds and oversized files and recorded in turn
    monkeypatch.setattr(ingest_defs, "READ_CHUNK_FILES", 2)
    monkeypatch.setattr(ingest_defs, "CHUNKS_AHEAD", 2)
    # every document its own write, on the writer's thread while the scan goes on
    writes = []
    monkeypatch.setattr(ingest_defs, "FLUSH_CHARS", 1)
    frame = ingest_defs._documents_frame
    monkeypatch.setattr(ingest_defs, "_documents_frame", lambda parsed, *a: writes.append(len(parsed)) or frame(parsed, *a))
    expected = _write_corpus(claimwire.raw)
    result = claimwire.run(run_config={"resources": {"raw_folder": {"config": {"max_file_bytes": MAX_FILE_BYTES}}}})
    assert result.success
    documents = claimwire.query("select source_path, 'documents', encoding from read_parquet('{release}/documents/*.parquet')")
    rejected = claimwire.query("select source_path, 'rejected_files', reason from read_parquet('{release}/rejected_files/*.parquet')")
    outcome = {path: (table, detail) for path, table, detail in documents + rejected}
    assert outcome == expected
    assert [p["max_workers"] for p in pools] == ([2] if parse_in_workers else [])
    assert writes == [1] * len(documents)
    files_on_disk = {p.name for p in claimwire.raw.iterdir()}
    assert {path.split("#")[0] for path in outcome} == files_on_disk
    details = dict(claimwire.query("select source_path, detail from read_parquet('{release}/rejected_files/*.parquet')"))
    assert details["zz_copy_of_crlf.txt"].startswith("the same content was already ingested as crlf.txt")
    assert details["feed.jsonl#line=2"].startswith("line 2 is not JSON")
    stated = claimwire.query(
        "select source_path, title, outlet, published_at::varchar from read_parquet('{release}/documents/*.parquet') "
        "where source_path in ('page.html', 'feed.jsonl#line=1') order by 1"
    )
    assert stated == [("feed.jsonl#line=1", None, "Wire", "2024-10-25 21:01:00"),
                      ("page.html", "Rice for troops", None, "2024-11-04 00:00:00")]
    # the spaces the web writes read as spaces; the quote is the stored text at its offsets
    assert claimwire.query(
        "select c.quote, c.measure, c.value_low, substr(d.text, c.char_start + 1, c.char_end - c.char_start) = c.quote "
        "from read_parquet('{release}/claims/*.parquet') c join read_parquet('{release}/documents/*.parquet') d using (doc_id) "
        "where d.source_path = 'spaces.txt'"
    ) == [("10,000\u00a0soldiers", "troops_deployed", 10_000.0, True)]
    # a rerun over the same folder adds nothing: no new document, no repeated rejection
    assert claimwire.run(run_config={"resources": {"raw_folder": {"config": {"max_file_bytes": MAX_FILE_BYTES}}}}).success
    again = claimwire.query("select count(*) from read_parquet('{release}/rejected_files/*.parquet')")
    assert again == [(len(rejected),)]


def test_misconfiguration_is_named_before_any_work(claimwire, monkeypatch, tmp_path):
    missing = tmp_path / "no-such-folder"
    monkeypatch.setenv("CLAIMWIRE_RAW_DIR", str(missing))
    result = claimwire.run(raise_on_error=False)
    assert not result.success
    message = claimwire.failure_message(result)
    assert f"raw folder {missing} does not exist" in message
    assert "nothing was done" in message
    assert not claimwire.published.exists()


def test_every_misconfiguration_is_named_at_once_with_its_path(claimwire, monkeypatch, tmp_path):
    import pipelines.lib.claims as claims_lib

    claimwire.add_seeds()
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the publish folder's parent should be")
    monkeypatch.setenv("CLAIMWIRE_PUBLISH_DIR", str(blocker / "published"))
    monkeypatch.setenv("CLAIMWIRE_WORKERS", "two")
    taxonomy = tmp_path / "taxonomy.json"
    taxonomy.write_text('{"fallback": "other", "measures": []}')
    aliases = tmp_path / "aliases.json"
    aliases.write_text("{not json")
    monkeypatch.setattr(claims_lib, "DEFAULT_TAXONOMY_PATH", taxonomy)
    monkeypatch.setattr(claims_lib, "DEFAULT_ALIASES_PATH", aliases)
    suites = tmp_path / "expectations"
    shutil.copytree(PROJECT_ROOT / "expectations", suites)
    facts_suite = json.loads((suites / "facts.json").read_text())
    facts_suite["expectations"][0]["type"] = "expect_column_values_to_be_betwixt"
    (suites / "facts.json").write_text(json.dumps(facts_suite))

    result = claimwire.run(
        raise_on_error=False, run_config={"resources": {"validation": {"config": {"expectations_dir": str(suites)}}}}
    )
    assert not result.success
    message = claimwire.failure_message(result)
    assert "claimwire is misconfigured; nothing was done" in message
    assert f"publish folder {blocker / 'published.releases'} cannot be created" in message
    assert f"taxonomy {taxonomy}: `measures` must be a non-empty list" in message
    assert f"aliases {aliases}" in message
    assert f"{suites / 'facts.json'}" in message and "expect_column_values_to_be_betwixt" in message
    assert "CLAIMWIRE_WORKERS is 'two'; it must be a whole number of processes, 1 or more" in message
    assert not claimwire.warehouse.exists()  # checked before the warehouse was even opened


def test_a_file_that_vanishes_during_the_run_is_rejected_as_vanished(claimwire, monkeypatch):
    from pipelines.defs.resources import RawFolder

    (claimwire.raw / "kept.txt").write_text(ARTICLE)
    (claimwire.raw / "gone.txt").write_text(ARTICLE.replace("Seoul", "Busan"))
    listed = RawFolder.listing

    def list_then_lose_one(self):
        files = listed(self)
        (self.root / "gone.txt").unlink()  # deleted after the folder was listed, before it was read
        return files

    monkeypatch.setattr(RawFolder, "listing", list_then_lose_one)
    assert claimwire.run().success
    assert claimwire.query("select source_path from read_parquet('{release}/documents/*.parquet')") == [("kept.txt",)]
    assert claimwire.query("select source_path, content_sha256, reason, detail from read_parquet('{release}/rejected_files/*.parquet')") == [
        ("gone.txt", None, "vanished", "the file disappeared while the folder was read")
    ]


def test_a_failed_write_of_documents_fails_the_scan_and_keeps_nothing(claimwire, monkeypatch):
    """The documents are written on a thread of their own while the files are read; a write that
    fails there fails the ingest step with its own error, and the step's transaction keeps none
    of the documents written before it."""
    import pipelines.defs.ingest as ingest_defs

    claimwire.add_seeds()
    monkeypatch.setattr(ingest_defs, "FLUSH_CHARS", 1)
    frame, calls = ingest_defs._documents_frame, []

    def third_write_fails(parsed, *args):
        calls.append(parsed[0].source_path)
        if len(calls) == 3:
            raise OSError(f"disk full while writing {parsed[0].source_path}")
        return frame(parsed, *args)

    monkeypatch.setattr(ingest_defs, "_documents_frame", third_write_fails)
    result = claimwire.run(raise_on_error=False)
    assert not result.success
    assert claimwire.failure_message(result) == f"OSError: disk full while writing {calls[2]}\n"
    assert len(calls) == 3  # nothing was written after the failure
    assert claimwire.warehouse_query("select count(*) from documents") == [(0,)]
