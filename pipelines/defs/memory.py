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
Expectations and pandas are imported, 0.25 s each time. So what survives a collection is frozen
(`gc.freeze`) the first time, and again whenever a collection took more than 20 ms (modules
imported since, such as Great Expectations at the first check): later collections, these and
the automatic ones, walk only what was made since, a few milliseconds. The price: an object
frozen there that later becomes garbage inside a reference cycle is never freed. That is
bookkeeping of the run under way at those few freezes; Dagster launches each run in a process
of its own.
"""

import ctypes
import ctypes.util
import gc
import time
from functools import lru_cache

__all__ = ["release_freed_memory"]

# A collection slower than this freezes what it left (see the module docstring).
SLOW_COLLECTION_S = 0.02
# Whether this process froze yet (`gc.get_freeze_count()` would say, but it counts the frozen
# objects one by one: 40 ms at 430,000).
_FROZEN = {"done": False}


@lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's `malloc_trim`, or None where the C library has none (macOS, musl)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> None:
    """Collect cyclic garbage (freezing the survivors the first time and after a slow
    collection), then hand free heap pages back to the system: glibc's and Arrow's pool's."""
    started = time.perf_counter()
    gc.collect()
    if not _FROZEN["done"] or time.perf_counter() - started > SLOW_COLLECTION_S:
        gc.freeze()
        _FROZEN["done"] = True
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
    import pyarrow

    pyarrow.default_memory_pool().release_unused()
