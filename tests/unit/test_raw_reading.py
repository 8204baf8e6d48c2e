"""Reading raw files by path: every file of a task is advised to the kernel before any is read."""

import os

import pytest

from pipelines.defs import raw_reading


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="no posix_fadvise on this platform")
def test_a_tasks_files_are_advised_before_they_are_read(tmp_path, monkeypatch):
    (tmp_path / "sub").mkdir()
    for name, text in (("a.txt", "First text."), ("sub/b.txt", "Second text."), ("c.txt", "Third text.")):
        (tmp_path / name).write_text(text)
    events = []
    advise, read = os.posix_fadvise, raw_reading.read_raw_bytes

    def advised(fd, offset, length, advice):
        events.append(("advise", os.path.basename(os.readlink(f"/proc/self/fd/{fd}")), offset, length, advice))
        return advise(fd, offset, length, advice)

    def reading(root, source_path):
        events.append(("read", os.path.basename(source_path)))
        return read(root, source_path)

    monkeypatch.setattr(os, "posix_fadvise", advised)
    monkeypatch.setattr(raw_reading, "read_raw_bytes", reading)
    outcomes = raw_reading.read_and_parse_files(str(tmp_path), ["a.txt", "missing.txt", "sub/b.txt", "c.txt"], 10_000)
    will = os.POSIX_FADV_WILLNEED
    assert events == [
        ("advise", "a.txt", 0, 0, will), ("advise", "b.txt", 0, 0, will), ("advise", "c.txt", 0, 0, will),
        ("read", "a.txt"), ("read", "missing.txt"), ("read", "b.txt"), ("read", "c.txt"),
    ]
    # the file that could not be opened for the advice is still reported by the read
    assert [outcome[0] for outcome in outcomes] == ["parsed", "unread", "parsed", "parsed"]
    assert outcomes[1][1] == "vanished"
    assert [outcome[1][0].text for outcome in outcomes if outcome[0] == "parsed"] == ["First text.", "Second text.", "Third text."]
