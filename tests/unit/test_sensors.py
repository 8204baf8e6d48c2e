"""The raw-folder sensor, evaluated with build_sensor_context on a real folder."""

import os
import stat

from dagster import DagsterInstance, RunRequest, SkipReason, build_sensor_context

from pipelines.defs.resources import LISTING_SCHEMA, RawFolder
from pipelines.defs.sensors import raw_folder_sensor
from pipelines.lib.batches import decode_cursor, diff_listing, encode_cursor


def _tick(folder, cursor, instance):
    context = build_sensor_context(cursor=cursor, instance=instance, resources={"raw_folder": RawFolder(path=str(folder))})
    result = raw_folder_sensor(context)
    return result, context.cursor


def test_new_files_then_nothing_then_a_changed_file(tmp_path):
    (tmp_path / "a.txt").write_text("first article")
    (tmp_path / "b.txt").write_text("second article")
    with DagsterInstance.ephemeral() as instance:
        first, cursor = _tick(tmp_path, None, instance)
        assert isinstance(first, RunRequest)
        assert first.tags["claimwire/batch_files"] == "a.txt, b.txt"
        assert (first.tags["claimwire/batch_new_files"], first.tags["claimwire/batch_changed_files"]) == ("2", "0")

        again, cursor_again = _tick(tmp_path, cursor, instance)
        assert isinstance(again, SkipReason)
        assert cursor_again == cursor

        (tmp_path / "b.txt").write_text("second article, corrected")
        os.utime(tmp_path / "b.txt", ns=(10**18, 10**18))
        changed, _ = _tick(tmp_path, cursor, instance)
        assert isinstance(changed, RunRequest)
        assert changed.tags["claimwire/batch_files"] == "b.txt"
        assert changed.tags["claimwire/batch_changed_files"] == "1"
        assert changed.run_key != first.run_key


def test_batch_key_depends_on_files_and_stamps_only():
    listing = {"a.txt": "3:1", "b.txt": "4:2"}
    assert diff_listing({}, listing).key == diff_listing({}, dict(reversed(listing.items()))).key
    assert diff_listing({}, listing).key != diff_listing({}, {**listing, "b.txt": "4:3"}).key
    assert diff_listing(listing, listing) is None
    # a deleted file is no batch: documents keep their history
    assert diff_listing(listing, {"a.txt": "3:1"}) is None
    assert decode_cursor(encode_cursor(listing)) == listing


def _walk_listing(root):
    """What list_files returned when it walked with os.walk and Path objects."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            st = os.stat(full)
            if stat.S_ISREG(st.st_mode):
                found.append((os.path.relpath(full, root).replace(os.sep, "/"), st.st_size, st.st_mtime_ns))
    return found


def test_listing_is_os_walks_order_and_skips_hidden_folders_and_linked_folders(tmp_path):
    for rel in ("b.txt", "a/z.txt", "a/b/c.txt", "a/a.txt", "a.txt", "Z/1.txt", ".git/HEAD", "a/.cache/x", ".DS_Store"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel * 3)
    (tmp_path / "linked").symlink_to(tmp_path / "a", target_is_directory=True)  # os.walk does not follow it
    (tmp_path / "a" / "link.txt").symlink_to(tmp_path / "b.txt")  # a linked file is listed
    os.mkfifo(tmp_path / "a" / "pipe")  # not a regular file
    listed = [(f.source_path, f.size_bytes, f.mtime_ns) for f in RawFolder(path=str(tmp_path)).list_files()]
    assert listed == _walk_listing(tmp_path)
    # the listing the ingest and the sensor read: the same rows, as columns
    frame = RawFolder(path=str(tmp_path)).listing()
    assert frame.schema == LISTING_SCHEMA
    assert frame.rows() == listed
    assert [path for path, _, _ in listed] == [
        ".DS_Store", "a.txt", "b.txt", "Z/1.txt", "a/a.txt", "a/link.txt", "a/z.txt", "a/b/c.txt",
    ]


def test_new_or_changed_files_keep_the_listings_order():
    """The files the ingest reads: those whose path, size or modification time no recorded state
    has (an anti join in Polars), in the listing's order, which decides the first of two copies."""
    import polars as pl

    from pipelines.defs.ingest import _new_or_changed
    from pipelines.defs.resources import RawFile

    files = [RawFile("z.txt", 3, 10), RawFile("a/b.txt", 4, 20), RawFile("a.txt", 5, 30), RawFile("m.txt", 6, 40)]
    listing = pl.DataFrame(files, schema=LISTING_SCHEMA, orient="row")
    known = pl.DataFrame(
        {"source_path": ["a/b.txt", "a.txt", "m.txt", "gone.txt"], "size_bytes": [4, 5, 7, 1], "mtime_ns": [20, 31, 40, 1]},
        schema={"source_path": pl.Utf8, "size_bytes": pl.Int64, "mtime_ns": pl.Int64},
    )
    # z.txt is new, a.txt was touched, m.txt grew; a/b.txt is as recorded
    assert _new_or_changed(listing, known) == [files[0], files[2], files[3]]
    assert _new_or_changed(listing, pl.DataFrame(schema=LISTING_SCHEMA)) == files
    assert _new_or_changed(listing.clear(), known) == []
    # the states' columns as DuckDB returns them (integers of another width) compare equal
    assert _new_or_changed(listing, known.cast({"size_bytes": pl.Int32})) == [files[0], files[2], files[3]]

