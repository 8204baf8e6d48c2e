"""Shared fixtures: a claimwire environment in a temporary directory, and a way to run the graph."""

import shutil
from pathlib import Path

import duckdb
import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RAW_SEEDS = PROJECT_ROOT / "raw"


class Claimwire:
    """A raw folder, warehouse and publish path of one test, set through the real environment variables."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch):
        self.root = root
        self.raw = root / "raw"
        self.warehouse = root / "data" / "warehouse.duckdb"
        self.published = root / "data" / "published"
        self.raw.mkdir(parents=True)
        monkeypatch.setenv("CLAIMWIRE_RAW_DIR", str(self.raw))
        monkeypatch.setenv("CLAIMWIRE_WAREHOUSE", str(self.warehouse))
        monkeypatch.setenv("CLAIMWIRE_PUBLISH_DIR", str(self.published))

    def add_seeds(self) -> None:
        for path in sorted(RAW_SEEDS.glob("*.txt")):
            shutil.copy2(path, self.raw / path.name)

    def run(self, raise_on_error: bool = True, run_config: dict | None = None, select: list[str] | None = None):
        """Materialise the whole graph, or only the assets named in `select`."""
        from dagster import AssetKey, DagsterInstance

        from pipelines.definitions import defs

        job = defs.resolve_job_def("claimwire")
        with DagsterInstance.ephemeral() as instance:
            return job.execute_in_process(
                run_config=run_config, instance=instance, raise_on_error=raise_on_error,
                asset_selection=[AssetKey(name) for name in select] if select else None,
            )

    @staticmethod
    def failure_message(result) -> str:
        """The user's error behind the run's first failed step (Dagster's wrappers unwrapped)."""
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        error = failure.event_specific_data.error
        while error.cause is not None:
            error = error.cause
        return error.message

    def query(self, sql: str, params: list | None = None) -> list[tuple]:
        """Run SQL over the published release; `{release}` is replaced by the publish path."""
        with duckdb.connect() as conn:
            return conn.execute(sql.replace("{release}", str(self.published)), params or []).fetchall()

    def env(self) -> dict[str, str]:
        """The environment of a `python -m pipelines.cli` subprocess working on this test's folders."""
        import os

        return {**os.environ, "DAGSTER_HOME": str(self.root / "dagster_home"), "CLAIMWIRE_RAW_DIR": str(self.raw),
                "CLAIMWIRE_WAREHOUSE": str(self.warehouse), "CLAIMWIRE_PUBLISH_DIR": str(self.published)}

    def warehouse_query(self, sql: str) -> list[tuple]:
        with duckdb.connect(str(self.warehouse), read_only=True) as conn:
            return conn.execute(sql).fetchall()


@pytest.fixture
def claimwire(tmp_path, monkeypatch) -> Claimwire:
    return Claimwire(tmp_path, monkeypatch)
