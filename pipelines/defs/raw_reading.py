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
    outcomes = []
    for source_path in paths:
        try:
            data = read_raw_bytes(root, source_path)
        except OSError as err:
            outcomes.append(unread_outcome(err))
            continue
        outcomes.append(("parsed", parse_raw_file(source_path, data, max_bytes)))
    return outcomes
