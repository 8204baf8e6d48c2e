"""The engine resource: which engine runs the heavy stages, and the Spark session when it is Spark.

`CLAIMWIRE_ENGINE` is `duckdb` (the default: Polars stage functions inside the Dagster
process) or `spark` (the functions of `pipelines.spark` on the Spark master named by
`CLAIMWIRE_SPARK_MASTER`, default `local[*]`). Both write the same warehouse tables, so the
checks and the publish step do not know which engine ran.

Data crosses between the warehouse and Spark as Parquet files in a staging folder
(`CLAIMWIRE_SPARK_STAGING`, default `spark_staging` beside the warehouse): DuckDB writes a
stage's input there, Spark reads it and writes its output there, and DuckDB loads that with
`insert ... select from read_parquet(...)`. The corpus never passes through the driver's Python.
"""

import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import polars as pl
from dagster import ConfigurableResource, InitResourceContext
from pydantic import PrivateAttr

from pipelines.defs.resources import ConfigurationError, read_frame, setting_path

ENGINES = ("duckdb", "spark")
DEFAULT_MASTER = "local[*]"


@dataclass(frozen=True)
class StagedRows:
    """What a Spark stage added to a warehouse table: how many rows, and the first few for the UI."""

    n_rows: int
    preview: pl.DataFrame


class Engine(ConfigurableResource):
    """The engine for the passages, claims and facts stages (`CLAIMWIRE_ENGINE`, default `duckdb`).

    Fields left empty are read from the environment at run time: `engine` from
    CLAIMWIRE_ENGINE, `spark_master` from CLAIMWIRE_SPARK_MASTER, `staging` from
    CLAIMWIRE_SPARK_STAGING, `workers` (processes for the embedded engine's pure-Python work:
    parsing raw files and extracting claims) from CLAIMWIRE_WORKERS, default the machine's
    cores. The Spark session is dagster-pyspark's lazy session, so a run that has nothing new
    for Spark never starts one; it is stopped when the run ends.
    """

    engine: str = ""
    workers: int = 0
    spark_master: str = ""
    staging: str = ""
    spark_config: dict[str, str] = {}

    # dagster_pyspark.LazyPySparkResource when the engine is Spark; imported then (pyspark loads
    # in about a second, which every DuckDB run and every code-location load would pay otherwise)
    _pyspark: Any = PrivateAttr(default=None)
    _asked: bool = PrivateAttr(default=False)
    _owns_session: bool = PrivateAttr(default=False)

    @property
    def name(self) -> str:
        value = (self.engine or os.environ.get("CLAIMWIRE_ENGINE") or "duckdb").strip().lower()
        if value not in ENGINES:
            raise ConfigurationError(
                f"CLAIMWIRE_ENGINE is {value!r}; it must be one of {', '.join(ENGINES)} (default duckdb)"
            )
        return value

    @property
    def n_workers(self) -> int:
        """Processes the embedded engine may use for its pure-Python work (parsing raw files, extracting claims)."""
        if self.workers:
            value = str(self.workers)
        else:
            value = os.environ.get("CLAIMWIRE_WORKERS", "").strip() or str(os.cpu_count() or 1)
        if not value.isdigit() or int(value) < 1:
            raise ConfigurationError(f"CLAIMWIRE_WORKERS is {value!r}; it must be a whole number of processes, 1 or more")
        return int(value)

    @property
    def is_spark(self) -> bool:
        return self.name == "spark"

    @property
    def master(self) -> str:
        return self.spark_master or os.environ.get("CLAIMWIRE_SPARK_MASTER") or DEFAULT_MASTER

    @property
    def staging_dir(self) -> Path:
        explicit = self.staging or os.environ.get("CLAIMWIRE_SPARK_STAGING")
        if explicit:
            return setting_path("CLAIMWIRE_SPARK_STAGING", explicit)
        return setting_path("CLAIMWIRE_WAREHOUSE").parent / "spark_staging"

    def setup_for_execution(self, context: InitResourceContext) -> None:
        if self.is_spark:
            from dagster_pyspark import LazyPySparkResource

            from pipelines.spark.session import prepare_python_workers, session_config

            prepare_python_workers()
            self._pyspark = LazyPySparkResource(spark_config=session_config(self.master) | self.spark_config)

    def teardown_after_execution(self, context: InitResourceContext) -> None:
        # a session that was already running (a notebook's, a test's) is left running
        if self._owns_session:
            self._pyspark.spark_session.stop()
        self._asked = self._owns_session = False

    @property
    def spark(self):
        """The run's SparkSession: started on first use, or the process's running one."""
        if self._pyspark is None:
            raise ConfigurationError("the Spark session was asked for, but CLAIMWIRE_ENGINE is not spark")
        if not self._asked:
            from pyspark import SparkContext

            self._owns_session = SparkContext._active_spark_context is None
            self._asked = True
        return self._pyspark.spark_session

    @contextmanager
    def staging_area(self, run_id: str, stage: str) -> Iterator[Path]:
        """A folder for one stage's hand-off files in one run; removed when the stage is done."""
        folder = self.staging_dir / run_id / stage
        if folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True)
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)
            try:
                folder.parent.rmdir()
            except OSError:
                pass

    def run_stage(
        self,
        conn: duckdb.DuckDBPyConnection,
        run_id: str,
        stage: str,
        inputs: dict[str, tuple[str, list | None]],
        build: Callable,
        table: str,
        replace: bool = False,
    ) -> StagedRows:
        """Export `inputs` (name → query, params) from DuckDB, run `build` on Spark, load `table`.

        `build` gets one Spark DataFrame per input, as keyword arguments, and returns the rows
        for `table`. With `replace` the table's rows are replaced, else the rows are appended.
        """
        with self.staging_area(run_id, stage) as folder:
            frames = {}
            for name, (query, params) in inputs.items():
                path = folder / f"in_{name}.parquet"
                conn.sql(query, params=params or None).write_parquet(str(path))
                frames[name] = self.spark.read.parquet(str(path))
            out = folder / "out"
            build(**frames).write.mode("overwrite").parquet(str(out))
            return load_parquet(conn, table, out, replace=replace)


def load_parquet(conn: duckdb.DuckDBPyConnection, table: str, folder: Path, replace: bool = False) -> StagedRows:
    """Insert a folder of Parquet files written by Spark into a warehouse table (columns by name)."""
    if not table.replace("_", "").isalnum():
        raise ValueError(f"not a table name: {table!r}")
    files = str(folder / "*.parquet")
    if not any(folder.glob("*.parquet")):
        raise RuntimeError(f"Spark wrote no Parquet files to {folder}")
    if replace:
        conn.execute(f'delete from "{table}"')
    conn.execute(f'insert into "{table}" by name select * from read_parquet(?)', [files])
    n_rows = conn.execute("select count(*) from read_parquet(?)", [files]).fetchall()[0][0]
    preview = read_frame(conn, "select * from read_parquet(?) limit 10", [files])
    return StagedRows(n_rows, preview)
