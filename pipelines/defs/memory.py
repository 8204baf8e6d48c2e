"""Memory a finished step freed goes back to the operating system before the next step starts.

The claimwire job runs every step in one process (`jobs.py`), so a step starts with whatever
the process still holds after the steps before it. Freed memory is not all returned on its
own: frames and Great Expectations contexts in reference cycles wait for Python's cyclic
collector, and glibc keeps freed heap pages (Python objects, pickled worker results) for
reuse. At 100,000 articles (`docs/benchmarks.md`) the claims step ended holding 2.6 GB, of
which collecting and trimming gave back 0.7 GB; every later step's peak includes what is kept.

`Warehouse.get_connection` calls `release_freed_memory` before it opens the warehouse, which
every step does. (Dagster hooks after each step did the same but cost 60–75 ms a step in
Dagster's own machinery, a second a run.)

A full collection walks every object the process holds: about 480,000 once Dagster, Great
Expectations and pandas are imported, 0.25 s each time. So at the first call in a process,
Great Expectations and pandas (which a run's checks import anyway) are imported, and what
survives the collection is frozen (`gc.freeze`): later collections, these and the automatic
ones, walk only what was made since, a few milliseconds. The price: an object frozen then that
later becomes garbage inside a reference cycle is never freed. That is the first run's own
bookkeeping, once per process; Dagster launches each run in a process of its own. (Freezing
again whenever a collection was slow kept more: in a run at 100,000 articles, the steps after
the claims started 0.6 GB higher.)
"""

import ctypes
import ctypes.util
import gc
from functools import lru_cache

import pyarrow

__all__ = ["release_freed_memory"]

# Whether this process froze yet (`gc.get_freeze_count()` would say, but it counts the frozen
# objects one by one: 40 ms at 430,000).
_frozen = False


@lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's `malloc_trim`, or None where the C library has none (macOS, musl)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> None:
    """Collect cyclic garbage (freezing the survivors the first time), then hand free heap
    pages back to the system: glibc's and Arrow's pool's."""
    global _frozen
    if not _frozen:
        import great_expectations  # noqa: F401  (frozen with the rest: see the module docstring)
        import pandas  # noqa: F401
    gc.collect()
    if not _frozen:
        gc.freeze()
        _frozen = True
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
    pyarrow.default_memory_pool().release_unused()
