"""The warehouse's DuckDB settings."""

import pytest


def _setting(conn, name: str):
    return conn.sql(f"select current_setting('{name}')").fetchall()[0][0]


def test_the_warehouse_checkpoints_without_vacuum_unless_configured(claimwire):
    """No row-group merging at checkpoints (a batch's small append would rewrite the last row
    groups of a table, texts and all); a deployment may set it back through connection_config."""
    from pipelines.defs.resources import VACUUM_TASKS, Warehouse

    assert VACUUM_TASKS == 0
    with Warehouse().get_connection() as conn:
        assert _setting(conn, "max_vacuum_tasks") == 0
        assert conn.sql("select count(*) from claims").fetchall() == [(0,)]
    with Warehouse(connection_config={"max_vacuum_tasks": 100}).get_connection() as conn:
        assert _setting(conn, "max_vacuum_tasks") == 100


def _file_is_free(path) -> bool:
    """Another process can open the warehouse for writing: no connection of ours holds it."""
    import subprocess
    import sys

    probe = f"import duckdb; duckdb.connect({str(path)!r}).close()"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0


def _temporary_objects(conn) -> list[tuple]:
    return conn.sql(
        "select table_name from duckdb_tables() where temporary "
        "union all select view_name from duckdb_views() where temporary and not internal"
    ).fetchall()


def test_a_run_hands_its_steps_one_connection_as_a_fresh_one_would_be(claimwire):
    """Between setup and teardown (one run's steps in one process) the warehouse is opened once;
    the next step gets it without the last step's temporary tables, registered frames and open
    transaction, and with the memory limit it was opened with; a step that fails closes it, and
    the next opens the file again; teardown closes it."""
    import polars as pl
    import pytest
    from dagster import build_init_resource_context

    from pipelines.defs.resources import Warehouse, transaction

    warehouse = Warehouse(connection_config={"memory_limit": "300MB"})
    warehouse.setup_for_execution(build_init_resource_context())
    with warehouse.get_connection() as first:
        first.execute("create temp table _scratch as select 1 as i")
        first.register("_frame", pl.DataFrame({"i": [1]}))
        first.execute("insert into stage_progress values ('step-one', 'doc-1', now())")
        limit = _setting(first, "memory_limit")
    assert not _file_is_free(claimwire.warehouse)
    with warehouse.get_connection() as second:
        assert second is first
        assert _temporary_objects(second) == []
        assert _setting(second, "memory_limit") == limit  # set back after its cached blocks were dropped
        assert second.sql("select stage from stage_progress").fetchall() == [("step-one",)]
        second.execute("begin transaction")
        second.execute("insert into stage_progress values ('left-open', 'doc-1', now())")
    with warehouse.get_connection() as after_open:  # the transaction left open was rolled back
        assert after_open is first
        with transaction(after_open):
            assert after_open.sql("select stage from stage_progress").fetchall() == [("step-one",)]
    with pytest.raises(RuntimeError, match="the step failed"):
        with warehouse.get_connection() as failing:
            assert failing is first
            with transaction(failing):
                failing.execute("insert into stage_progress values ('step-three', 'doc-1', now())")
                raise RuntimeError("the step failed")
    assert _file_is_free(claimwire.warehouse)
    with warehouse.get_connection() as reopened:
        assert reopened is not first
        assert reopened.sql("select stage from stage_progress").fetchall() == [("step-one",)]
    warehouse.teardown_after_execution(build_init_resource_context())
    assert _file_is_free(claimwire.warehouse)
    # outside a run every use opens and closes the file
    with warehouse.get_connection() as own:
        assert own is not reopened
    assert _file_is_free(claimwire.warehouse)


def test_the_in_process_job_opens_the_warehouse_once_and_lets_it_go(claimwire, monkeypatch):
    """The whole graph on the seed articles, in one process: 14 steps, one connection, and the
    file free for another process when the run ends."""
    from pipelines.defs.resources import Warehouse

    opened = []
    original = Warehouse._open

    def counting(self):
        conn = original(self)
        opened.append(conn)
        return conn

    monkeypatch.setattr(Warehouse, "_open", counting)
    claimwire.add_seeds()
    result = claimwire.run()
    assert result.success
    steps = [e.step_key for e in result.all_events if e.event_type_value == "STEP_SUCCESS"]
    assert len(steps) == 14
    assert len(opened) == 1
    assert _file_is_free(claimwire.warehouse)
    assert claimwire.warehouse_query("select count(*) from documents") == [(5,)]


def _cached_mb(conn) -> float:
    return conn.sql("select sum(memory_usage_bytes) / 2**20 from duckdb_memory()").fetchall()[0][0]


def test_a_step_hands_on_the_cache_it_used_up_to_hand_on_cache(claimwire, monkeypatch):
    """The next step finds what the last one read still cached while it is under
    `HAND_ON_CACHE`; above it, the cache is given up down to that size."""
    from dagster import build_init_resource_context

    from pipelines.defs import resources

    warehouse = resources.Warehouse()
    warehouse.setup_for_execution(build_init_resource_context())
    try:
        with warehouse.get_connection() as first:
            # hashes: text DuckDB cannot compress much
            first.execute("create table scratch as select range as i, md5(range::varchar) || md5((-range)::varchar) as s from range(2000000)")
            first.execute("checkpoint")
            assert first.sql("select count(*), sum(length(s)) from scratch").fetchall() == [(2000000, 128000000)]
            cached = _cached_mb(first)
        assert cached > 40
        with warehouse.get_connection() as second:  # under 1GB: kept
            assert _cached_mb(second) >= 0.9 * cached
            second.sql("select max(s) from scratch").fetchall()
        monkeypatch.setattr(resources, "HAND_ON_CACHE", "8MB")
        with warehouse.get_connection() as third:  # over the size kept: given up
            assert _cached_mb(third) < cached / 4
            assert _setting(third, "memory_limit") == _setting(first, "memory_limit")
    finally:
        warehouse.teardown_after_execution(build_init_resource_context())


def test_rows_picked_by_row_id_are_the_rows_the_predicate_picks():
    """`rows_where` returns what `where predicate` returns, with a parameter inside the
    predicate, after rows were appended, updated and deleted (and committed)."""
    import duckdb

    from pipelines.defs.resources import rows_where

    conn = duckdb.connect()
    conn.execute(
        "create table t as select i, 'doc' || (i % 97) as doc_id, repeat('x', 50) as text from range(300000) r(i)"
    )
    picked = "doc_id in (select unnest(?))"
    docs = ["doc3", "doc50", "doc96"]

    def both() -> tuple[list, list]:
        plain = conn.execute(f"select * from t where {picked} order by i", [docs]).fetchall()
        by_row_id = conn.execute(f"select * from ({rows_where('t', picked)}) order by i", [docs]).fetchall()
        return plain, by_row_id

    plain, by_row_id = both()
    assert len(plain) == 3 * 3093 - 1 and by_row_id == plain
    conn.execute("insert into t select i + 300000, 'doc50', 'new' from range(5000) r(i)")
    conn.execute("update t set doc_id = 'doc3' where i in (1, 2)")
    conn.execute("delete from t where i < 200 and doc_id = 'doc96'")
    plain, by_row_id = both()
    assert by_row_id == plain and len(plain) == 3 * 3093 - 1 + 5000 + 2 - 2
    with pytest.raises(ValueError):
        rows_where("t; drop table t", picked)


def test_fact_claim_ids_are_stored_uncompressed(claimwire):
    """Every batch rewrites most facts with all their claim ids: the ids are stored without
    compression, which the checkpoint would otherwise redo each time; other lists are compressed."""
    from pipelines.defs.resources import Warehouse

    with Warehouse().get_connection() as conn:
        conn.execute(
            "insert into facts select 'f' || i, 'troops_deployed', 'person', null, i, i, ['exact'], 1, 1, 1, [], null,"
            " ['claim-' || i, 'claim-' || (i + 1)], ['f' || (i + 1)] from range(50000) t(i)"
        )
        conn.execute("checkpoint")
        stored = conn.sql(
            "select column_name, segment_type, list(distinct compression) from pragma_storage_info('facts')"
            " where column_name in ('claim_ids', 'conflicts_with') and segment_type like 'VARCHAR%' group by all order by all"
        ).fetchall()
    by_column = {(column, kind): sorted(methods) for column, kind, methods in stored}
    assert by_column[("claim_ids", "VARCHAR")] == ["Uncompressed"]
    assert by_column[("claim_ids", "VARCHAR[]")] == ["Uncompressed"]
    assert "Uncompressed" not in by_column[("conflicts_with", "VARCHAR")]  # the same data, compressed


# the passage layer's id columns, stored uncompressed (sql/schema/002_create_passage_tables.sql)
PASSAGE_LAYER_IDS = {
    "passages": ("passage_id", "doc_id"),
    "passage_signatures": ("passage_id", "doc_id"),
    "passage_matches": ("passage_id_a", "passage_id_b"),
    "passage_cluster_members": ("passage_id", "cluster_id"),
    "passage_clusters": ("cluster_id", "canonical_passage_id"),
    "doc_syndication": ("doc_id_a", "doc_id_b"),
}


def test_passage_layer_ids_are_stored_uncompressed(claimwire):
    """Every batch scans and joins the passage layer's ids whole: they are stored as they are,
    not decoded at every read; the texts and labels beside them stay compressed."""
    from pipelines.defs.resources import Warehouse

    doc, passage = "md5('d' || (i // 16))[:16]", "md5('d' || (i // 16))[:16] || '-p' || lpad((i % 16)::varchar, 4, '0')"
    with Warehouse().get_connection() as conn:
        conn.execute(
            f"insert into passages select {passage}, {doc}, i % 16, 0, 60, repeat('the ministry said ', 3) || i, false, null"
            " from range(60000) t(i)"
        )
        conn.execute(f"insert into passage_signatures select {passage}, {doc}, i, 9, [i, i + 1], [1, 2] from range(60000) t(i)")
        conn.execute(f"insert into passage_matches select {passage}, {passage} || 'b', 0.9, 1.0, 'near' from range(60000) t(i)")
        conn.execute(f"insert into passage_cluster_members select {passage}, md5(i::varchar)[:16] from range(60000) t(i)")
        conn.execute(f"insert into passage_clusters select {passage}, {passage}, 2, 2, 'near', 0.9 from range(60000) t(i)")
        conn.execute(f"insert into doc_syndication select {doc}, md5(i::varchar)[:16], 1, 60, 0.5, 0.5 from range(60000) t(i)")
        conn.execute("checkpoint")
        stored = {
            (table, column): sorted(methods)
            for table in PASSAGE_LAYER_IDS
            for column, methods in conn.sql(
                "select column_name, list(distinct compression) from pragma_storage_info(?)"
                " where segment_type = 'VARCHAR' group by all",
                params=[table],
            ).fetchall()
        }
    for table, columns in PASSAGE_LAYER_IDS.items():
        for column in columns:
            assert stored[(table, column)] == ["Uncompressed"], (table, column)
    assert "Uncompressed" not in stored[("passages", "text")]
    assert "Uncompressed" not in stored[("passage_matches", "match_kind")]


@pytest.mark.parametrize("compare_rows", [True, False])
def test_a_replaced_table_holds_the_frame_rows_however_it_is_written(claimwire, compare_rows):
    """Rows whose key is gone are deleted, changed rows replaced, new ones added, the same
    rows whether only the difference is written or the table is rewritten whole."""
    import polars as pl

    from pipelines.defs.resources import Warehouse, replace_table

    def frame(rows):
        return pl.DataFrame(rows, schema={"cluster_id": pl.Utf8, "canonical_passage_id": pl.Utf8, "n_passages": pl.Int32,
                                          "n_documents": pl.Int32, "match_kind": pl.Utf8, "min_similarity": pl.Float64}, orient="row")

    before = frame([("k1", "p1", 2, 2, "exact", 1.0), ("k2", "p2", 3, 2, "near", 0.8), ("k3", "p3", 2, 1, "exact", 1.0)])
    after = frame([("k1", "p1", 2, 2, "exact", 1.0), ("k2", "p9", 4, 3, "near", 0.7), ("k4", "p4", 2, 2, "exact", 1.0)])
    class Recorded:
        """The connection, with the statements it executed."""

        def __init__(self, conn):
            self.conn, self.statements = conn, []

        def execute(self, sql, *args):
            self.statements.append(" ".join(sql.split()))
            return self.conn.execute(sql, *args)

        def __getattr__(self, name):
            return getattr(self.conn, name)

    with Warehouse().get_connection() as conn:
        first, second = Recorded(conn), Recorded(conn)
        replace_table(first, "passage_clusters", before, compare_rows=compare_rows)
        assert conn.sql("select * from passage_clusters order by cluster_id").fetchall() == before.rows()
        replace_table(second, "passage_clusters", after, compare_rows=compare_rows)
        rows = conn.sql("select * from passage_clusters order by cluster_id").fetchall()
    assert rows == after.rows()
    # the empty table took the frame as it is; the filled one was compared only when asked
    assert not any(" except " in statement for statement in first.statements)
    assert any(" except " in statement for statement in second.statements) == compare_rows


@pytest.mark.parametrize("threshold, dropped", [(0, True), (2**40, False)])
def test_a_large_batch_is_signed_after_duckdb_gave_up_its_cache(claimwire, monkeypatch, threshold, dropped):
    """The dedup step has DuckDB give up its cached blocks (`drop_cached_blocks`, down to its
    default 256MB) between reading a batch's texts and signing them when the texts take at
    least `DROP_CACHE_BEFORE_SIGNING_BYTES`; a smaller batch is signed with the cache the
    step was handed (the last drop before it is the hand-on's, `HAND_ON_CACHE`)."""
    from pipelines.defs import dedup, resources

    events = []
    real_drop, real_sign = resources.Warehouse.drop_cached_blocks, dedup.sign_batch

    def drop(self, conn, keep="256MB"):
        events.append(("drop", keep))
        return real_drop(self, conn, keep)

    def sign(passages, config):
        events.append(("sign", passages.height))
        return real_sign(passages, config)

    monkeypatch.setattr(resources.Warehouse, "drop_cached_blocks", drop)
    monkeypatch.setattr(dedup, "sign_batch", sign)
    monkeypatch.setattr(dedup, "DROP_CACHE_BEFORE_SIGNING_BYTES", threshold)
    claimwire.add_seeds()
    assert claimwire.run().success
    signing = events.index(next(e for e in events if e[0] == "sign"))
    assert events[signing][1] > 0
    assert events[signing - 1] == (("drop", "256MB") if dropped else ("drop", resources.HAND_ON_CACHE))


@pytest.mark.parametrize("threshold, dropped", [(0, True), (10**9, False)])
def test_a_small_batch_is_relabelled_with_the_cache_it_was_matched_with(claimwire, monkeypatch, threshold, dropped):
    """After matching, the dedup step has DuckDB give up its cached blocks before Polars
    relabels when everything is clustered again (the first run) or the batch has at least
    `DROP_CACHE_AFTER_MATCHING_SIGNATURES` signatures; a smaller batch on a clustered warehouse
    relabels the clusters it touches with the cache it read them into."""
    from pipelines.defs import dedup, resources

    events = []
    real_drop, real_touched, real_all = resources.Warehouse.drop_cached_blocks, dedup._recluster_touched, dedup._recluster_all

    def drop(self, conn, keep="256MB"):
        events.append(("drop", keep))
        return real_drop(self, conn, keep)

    monkeypatch.setattr(resources.Warehouse, "drop_cached_blocks", drop)
    monkeypatch.setattr(dedup, "_recluster_touched", lambda *a: events.append(("touched",)) or real_touched(*a))
    monkeypatch.setattr(dedup, "_recluster_all", lambda *a: events.append(("all",)) or real_all(*a))
    monkeypatch.setattr(dedup, "DROP_CACHE_AFTER_MATCHING_SIGNATURES", threshold)
    claimwire.add_seeds()
    assert claimwire.run().success
    # the first run clusters everything: the cache is given up first, whatever the batch's size
    assert events[events.index(("all",)) - 1] == ("drop", "256MB")
    events.clear()
    (claimwire.raw / "later.txt").write_text(
        "Seoul, Nov 5 -- North Korea sent at least 10,000 troops to Russia, officials said on Tuesday.\n\n"
        "Each soldier is paid about $2,000 a month, according to the National Intelligence Service.\n",
        encoding="utf-8",
    )
    assert claimwire.run().success
    before = events[events.index(("touched",)) - 1]
    assert before == (("drop", "256MB") if dropped else ("drop", resources.HAND_ON_CACHE))


def test_a_side_connection_keeps_its_own_transactions_and_never_lowers_the_memory_limit(claimwire):
    """A side connection (a check beside the next step) opens the database the run's connection
    has open, sees what it committed and not what it has in flight, and commits on its own.
    `drop_cached_blocks` given the side connection does nothing (the limit is the whole
    database's: the step's queries must never meet a lowered one); given the run's, it lowers
    and restores the limit, side connection open or not."""
    from dagster import build_init_resource_context

    from pipelines.defs.resources import Warehouse, transaction

    warehouse = Warehouse(connection_config={"memory_limit": "300MB"})
    warehouse.setup_for_execution(build_init_resource_context())
    try:
        with warehouse.get_connection() as run_conn:
            run_conn.execute("create table big as select range as i, repeat(range::varchar, 40) as s from range(400000)")
            run_conn.execute("insert into stage_progress values ('committed', 'doc-1', now())")
            run_conn.execute("begin transaction")
            run_conn.execute("insert into stage_progress values ('in-flight', 'doc-1', now())")
            with warehouse.side_connection() as side:
                assert side is not run_conn
                assert side.sql("select stage from stage_progress").fetchall() == [("committed",)]
                with transaction(side):
                    side.execute("insert into stage_progress values ('beside', 'doc-2', now())")
                side.sql("select sum(length(s)) from big").fetchall()
                cached = _cached_mb(run_conn)
                assert cached > 20
                warehouse.drop_cached_blocks(side, keep="8MB")
                assert _cached_mb(run_conn) == cached
                warehouse.drop_cached_blocks(run_conn, keep="8MB")
                assert _cached_mb(run_conn) < 8
                assert _setting(side, "memory_limit") == _setting(run_conn, "memory_limit") == limit_of_300mb(run_conn)
            run_conn.execute("commit")
            assert sorted(run_conn.sql("select stage from stage_progress").fetchall()) == [
                ("beside",), ("committed",), ("in-flight",)
            ]
            assert warehouse._side_connections == set()
    finally:
        warehouse.teardown_after_execution(build_init_resource_context())
    assert _file_is_free(claimwire.warehouse)


def limit_of_300mb(conn):
    with conn.cursor() as other:
        other.execute("set memory_limit = '300MB'")
        return _setting(other, "memory_limit")


def test_a_side_connection_that_fails_is_closed_and_no_longer_counted(claimwire):
    from dagster import build_init_resource_context

    from pipelines.defs.resources import Warehouse

    warehouse = Warehouse()
    warehouse.setup_for_execution(build_init_resource_context())
    try:
        with warehouse.get_connection():
            pass
        with pytest.raises(RuntimeError, match="the check broke"):
            with warehouse.side_connection() as side:
                raise RuntimeError("the check broke")
        with pytest.raises(Exception, match="closed"):
            side.sql("select 1").fetchall()
        assert warehouse._side_connections == set()
    finally:
        warehouse.teardown_after_execution(build_init_resource_context())
    assert _file_is_free(claimwire.warehouse)


KEYED_BEFORE = """
    create table passage_signatures (
        passage_id varchar using compression uncompressed primary key, doc_id varchar using compression uncompressed not null,
        norm_hash ubigint not null, n_shingles integer not null, band_keys ubigint[] not null, minhash integer[] not null);
    create table passage_matches (
        passage_id_a varchar using compression uncompressed not null, passage_id_b varchar using compression uncompressed not null,
        jaccard double not null, containment double not null, match_kind varchar not null, primary key (passage_id_a, passage_id_b));
    create table stage_progress (
        stage varchar not null, doc_id varchar not null, processed_at timestamp not null, primary key (stage, doc_id));
    insert into passage_signatures values ('d1-p0001', 'd1', 7, 9, [1, 2], [3, 4]);
    insert into passage_matches values ('d1-p0001', 'd2-p0001', 0.9, 1.0, 'near');
    insert into stage_progress values ('dedup', 'd1', '2026-11-01 10:00:00'), ('dedup', 'd2', '2026-11-01 10:00:00');
"""


def _primary_keys(conn) -> list[str]:
    return [t for (t,) in conn.sql(
        "select table_name from duckdb_constraints() where constraint_type = 'PRIMARY KEY' order by 1"
    ).fetchall()]


def test_a_warehouse_made_with_the_retired_keys_loses_them_and_keeps_its_rows(claimwire):
    """A warehouse an earlier version made, whose signatures, matches and progress have a primary
    key: opening it rebuilds those three tables as their DDL now has them (no key, the ids still
    stored uncompressed), with every row; the other tables keep their keys; opening it again
    changes nothing."""
    import duckdb

    from pipelines.defs.resources import RETIRED_KEYS, Warehouse

    claimwire.warehouse.parent.mkdir(parents=True)
    with duckdb.connect(str(claimwire.warehouse)) as old:
        old.execute(KEYED_BEFORE)
        assert set(RETIRED_KEYS) <= set(_primary_keys(old))
    for _ in range(2):
        with Warehouse().get_connection() as conn:
            keys = _primary_keys(conn)
            assert not set(RETIRED_KEYS) & set(keys)
            assert {"documents", "passages", "passage_clusters", "passage_cluster_members"} <= set(keys)
            assert conn.sql("select passage_id, doc_id, norm_hash, n_shingles, band_keys, minhash from passage_signatures").fetchall() == [
                ("d1-p0001", "d1", 7, 9, [1, 2], [3, 4])
            ]
            assert conn.sql("select * from passage_matches").fetchall() == [("d1-p0001", "d2-p0001", 0.9, 1.0, "near")]
            assert conn.sql("select stage, doc_id, processed_at::varchar from stage_progress order by doc_id").fetchall() == [
                ("dedup", "d1", "2026-11-01 10:00:00"), ("dedup", "d2", "2026-11-01 10:00:00")
            ]
            conn.execute("checkpoint")
            compression = conn.sql(
                "select column_name, list(distinct compression) from pragma_storage_info('passage_matches')"
                " where segment_type = 'VARCHAR' and column_name like 'passage_id%' group by all order by all"
            ).fetchall()
            assert compression == [("passage_id_a", ["Uncompressed"]), ("passage_id_b", ["Uncompressed"])]
            assert [t for (t,) in conn.sql("select table_name from duckdb_tables() where table_name like '%__keyed'").fetchall()] == []


def test_progress_keeps_one_row_per_stage_and_document(claimwire):
    """`set_progress` replaces a stage's rows of the documents it names (and only those);
    `mark_processed` adds the documents a stage does not have yet and leaves the others."""
    from pipelines.defs.common import mark_processed, set_progress
    from pipelines.defs.resources import Warehouse

    with Warehouse().get_connection() as conn:
        conn.execute(
            "insert into stage_progress values ('dedup', 'd1', '2026-11-01'), ('dedup', 'd2', '2026-11-01'),"
            " ('passages', 'd1', '2026-11-01')"
        )
        conn.execute("create temp table _docs as select unnest(['d1', 'd3', 'd3']) as doc_id")
        set_progress(conn, "dedup", "select doc_id from _docs")
        mark_processed(conn, "passages", ["d1", "d2"])
        rows = conn.sql(
            "select stage, doc_id, processed_at > '2026-11-02' as now from stage_progress order by stage, doc_id"
        ).fetchall()
    assert rows == [
        ("dedup", "d1", True), ("dedup", "d2", False), ("dedup", "d3", True),
        ("passages", "d1", False), ("passages", "d2", True),
    ]
