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

A full collection walks every object the process holds: about 480,000 after the first step,
0.25 s each time. So the objects alive at the first call in a process (modules, the
definitions, Dagster's instance) are frozen (`gc.freeze`): later collections, these and the
automatic ones, walk only what was made since. The price: an object frozen there that later
becomes garbage inside a reference cycle is never freed. That is the first run's own
bookkeeping, once per process; Dagster launches each run in a process of its own.
"""

import ctypes
import ctypes.util
import gc
from functools import lru_cache

__all__ = ["release_freed_memory"]


@lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's `malloc_trim`, or None where the C library has none (macOS, musl)."""
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> None:
    """Collect cyclic garbage (freezing the survivors the first time), then hand free heap
    pages back to the system: glibc's and Arrow's memory pool's. A few milliseconds."""
    gc.collect()
    if not gc.get_freeze_count():
        gc.freeze()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
    import pyarrow

    pyarrow.default_memory_pool().release_unused()
