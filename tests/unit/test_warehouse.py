"""The warehouse's DuckDB settings."""


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
