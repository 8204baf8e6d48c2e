"""Freed memory goes back before each step opens the warehouse (pipelines/defs/memory.py)."""

import gc
import sys
import weakref

import pytest

from pipelines.defs.memory import _malloc_trim, release_freed_memory


class _Node:
    def __init__(self):
        self.payload = bytearray(8 << 20)
        self.me = self  # a reference cycle: only the cyclic collector frees it


def _garbage_cycle() -> weakref.ref:
    node = _Node()
    alive = weakref.ref(node)
    del node
    assert alive() is not None
    return alive


def test_release_collects_cycles_and_freezes_the_survivors():
    gc.disable()  # no automatic collection may free the cycles first
    try:
        alive = _garbage_cycle()
        release_freed_memory()
        assert alive() is None
        assert gc.get_freeze_count() > 0
        # a cycle made after the freeze is still collected
        later = _garbage_cycle()
        release_freed_memory()
        assert later() is None
    finally:
        gc.enable()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim")
def test_malloc_trim_is_found_on_linux():
    assert _malloc_trim() is not None
    assert _malloc_trim()(0) in (0, 1)


def test_opening_the_warehouse_releases_what_was_freed(claimwire):
    from pipelines.defs.resources import Warehouse

    gc.disable()
    try:
        alive = _garbage_cycle()
        with Warehouse().get_connection() as conn:
            assert alive() is None
            assert conn.sql("select count(*) from documents").fetchall() == [(0,)]
    finally:
        gc.enable()
