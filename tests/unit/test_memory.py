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


def _duckdb_mb(conn) -> float:
    return conn.sql("select sum(memory_usage_bytes) / 2**20 from duckdb_memory()").fetchall()[0][0]


def _limit(conn) -> str:
    return conn.sql("select current_setting('memory_limit')").fetchall()[0][0]


def test_dropping_cached_blocks_keeps_the_transaction_and_its_rows(claimwire):
    from pipelines.defs.resources import Warehouse, transaction

    warehouse = Warehouse()
    with warehouse.get_connection() as conn:
        limit = _limit(conn)
        with transaction(conn):
            conn.execute("create table scratch as select range as i, repeat('x', 200) || range as s from range(1000000)")
            before = _duckdb_mb(conn)  # the new rows: spilled to a temporary file when dropped
            warehouse.drop_cached_blocks(conn, keep="8MB")
            assert before > 50 and _duckdb_mb(conn) < before / 4
            assert _limit(conn) == limit
            assert conn.sql("select count(*), sum(i), max(s) from scratch").fetchall() == [
                (1000000, 499999500000, "x" * 200 + "999999")
            ]
            # a limit DuckDB refuses fails on the other cursor only: the transaction goes on
            warehouse.drop_cached_blocks(conn, keep="no such size")
            assert _limit(conn) == limit
            conn.execute("insert into scratch values (-1, 'last')")
        assert conn.sql("select count(*) from scratch").fetchall() == [(1000001,)]
