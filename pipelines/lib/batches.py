"""New-file batches: which raw files are new or changed since the last look.

A listing is a mapping from a file's path to its "size:mtime_ns" stamp. The sensor keeps the
last listing as its cursor (compressed), and asks for one run per batch of changes; the
batch's key is derived from the changed files and their stamps, so the same batch can never
start two runs, and a file changed again makes a new batch.
"""

import base64
import hashlib
import json
import zlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Batch:
    key: str
    new_files: tuple[str, ...]
    changed_files: tuple[str, ...]

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(sorted(self.new_files + self.changed_files))


def stamp(size_bytes: int, mtime_ns: int) -> str:
    return f"{size_bytes}:{mtime_ns}"


def diff_listing(previous: dict[str, str], current: dict[str, str]) -> Batch | None:
    """The batch of files added or changed from `previous` to `current`; None when nothing was.

    Deleted files make no batch: a document never disappears from the warehouse's history.
    """
    new = tuple(sorted(p for p in current if p not in previous))
    changed = tuple(sorted(p for p in current if p in previous and previous[p] != current[p]))
    if not new and not changed:
        return None
    digest = hashlib.sha256("\n".join(f"{p}\t{current[p]}" for p in sorted(new + changed)).encode()).hexdigest()
    return Batch(key=digest[:16], new_files=new, changed_files=changed)


def encode_cursor(listing: dict[str, str]) -> str:
    return base64.b64encode(zlib.compress(json.dumps(listing, sort_keys=True).encode(), 9)).decode()


def decode_cursor(cursor: str | None) -> dict[str, str]:
    if not cursor:
        return {}
    return json.loads(zlib.decompress(base64.b64decode(cursor)))
