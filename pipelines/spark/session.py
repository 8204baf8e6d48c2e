"""Spark session settings claimwire needs, wherever the session is built.

The Dagster resource (`pipelines.defs.engine.Engine`) hands these to dagster-pyspark; tests and
the benchmark build a session from the same settings.
"""

import os
import shutil
import sys

from pyspark.sql import SparkSession


def java_available() -> bool:
    """Spark 4 needs a Java 17+ runtime on PATH or under JAVA_HOME."""
    java_home = os.environ.get("JAVA_HOME")
    return bool(shutil.which("java") or (java_home and os.path.exists(os.path.join(java_home, "bin", "java"))))


def session_config(master: str, app_name: str = "claimwire") -> dict[str, str]:
    """Settings that make Spark's output line up with DuckDB's and keep a local session light.

    Timestamps are naive UTC in the warehouse: the session time zone is UTC and Parquet
    timestamps are written as plain microseconds (DuckDB's TIMESTAMP), not INT96.
    """
    config = {
        "spark.master": master,
        "spark.app.name": app_name,
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.ui.showConsoleProgress": "false",
    }
    if master.startswith("local"):
        # one machine: a few shuffle partitions per core, not Spark's cluster default of 200
        config |= {"spark.sql.shuffle.partitions": "8", "spark.ui.enabled": "false", "spark.driver.memory": "2g"}
    return config


def prepare_python_workers() -> None:
    """Local Python workers must run this interpreter (the one with claimwire installed).

    PySpark reads PYSPARK_PYTHON when its context starts; on a cluster, set it (or
    `spark.pyspark.python` for spark-submit) to an interpreter with claimwire installed.
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)


def start_session(master: str, extra: dict[str, str] | None = None) -> SparkSession:
    prepare_python_workers()
    builder = SparkSession.builder
    for key, value in (session_config(master) | (extra or {})).items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
