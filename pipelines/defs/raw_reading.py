"""Reading raw files by path, in the ingest step's worker processes or in its own.

Kept apart from `pipelines.defs.resources` and the assets so that a worker process imports only
this and `pipelines.lib.ingest` (0.17 s), not Dagster (0.9 s more per worker).
"""

import os

from pipelines.lib.ingest import parse_raw_file


def read_raw_bytes(root: str, source_path: str) -> bytes:
    """A raw file's bytes, from the folder's path and the file's path in it."""
    with open(os.path.join(root, source_path), "rb") as fh:
        return fh.read()


def unread_outcome(err: OSError) -> tuple:
    """("unread", reason, detail) for a file that cannot be read; any other error is raised."""
    if isinstance(err, FileNotFoundError):
        return ("unread", "vanished", "the file disappeared while the folder was read")
    if isinstance(err, PermissionError):
        return ("unread", "unreadable", f"permission denied ({err.strerror}); make it readable by the user running claimwire")
    raise err


def read_and_parse_files(root: str, paths: list[str], max_bytes: int) -> list[tuple]:
    """Each file's outcome, in order: ("parsed", its parts) or an `unread_outcome`."""
    advise_will_read(root, paths)
    outcomes = []
    for source_path in paths:
        try:
            data = read_raw_bytes(root, source_path)
        except OSError as err:
            outcomes.append(unread_outcome(err))
            continue
        outcomes.append(("parsed", parse_raw_file(source_path, data, max_bytes)))
    return outcomes


def advise_will_read(root: str, paths: list[str]) -> None:
    """Tell the kernel these files are about to be read (`POSIX_FADV_WILLNEED`), so it reads
    the ones not in its cache ahead, many at once, while they are parsed one by one.

    Raw files are seldom in memory when a run starts (they were written hours before, or by
    another machine). At 100,000 articles with the page cache dropped, the ingest step took
    19.8-20.2 s reading the files one after the other and 12.0-12.1 s advised a task (1,024
    files) at a time; with every file cached, 12.1-12.4 s against 11.8-12.0 (an open and a
    close more per file). Where the call does not exist (macOS) nothing is advised; a file that
    cannot be opened is left to the read, which says why.
    """
    advise = getattr(os, "posix_fadvise", None)
    if advise is None:
        return
    for source_path in paths:
        try:
            fd = os.open(os.path.join(root, source_path), os.O_RDONLY)
        except OSError:
            continue
        try:
            advise(fd, 0, 0, os.POSIX_FADV_WILLNEED)
        except OSError:
            pass  # a file system that takes no advice is read as it is
        finally:
            os.close(fd)
