"""The engine resource: configuration read at run time, errors that name the variable, the staging folder."""

import pytest

from pipelines.defs.engine import Engine
from pipelines.defs.resources import ConfigurationError


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    for name in ("CLAIMWIRE_ENGINE", "CLAIMWIRE_SPARK_MASTER", "CLAIMWIRE_SPARK_STAGING"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CLAIMWIRE_WAREHOUSE", str(tmp_path / "data" / "warehouse.duckdb"))


def test_defaults_are_duckdb_local_and_staging_beside_the_warehouse(tmp_path):
    engine = Engine()
    assert (engine.name, engine.is_spark, engine.master) == ("duckdb", False, "local[*]")
    assert engine.staging_dir == tmp_path / "data" / "spark_staging"


@pytest.mark.parametrize(("value", "name"), [("spark", "spark"), (" Spark ", "spark"), ("DUCKDB", "duckdb"), ("", "duckdb")])
def test_engine_is_read_from_the_environment_at_run_time(monkeypatch, value, name):
    engine = Engine()
    monkeypatch.setenv("CLAIMWIRE_ENGINE", value)
    assert engine.name == name


def test_a_wrong_engine_names_the_variable_and_the_choices(monkeypatch):
    monkeypatch.setenv("CLAIMWIRE_ENGINE", "hadoop")
    with pytest.raises(ConfigurationError, match=r"CLAIMWIRE_ENGINE is 'hadoop'; it must be one of duckdb, spark"):
        Engine().name


def test_master_and_staging_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("CLAIMWIRE_SPARK_MASTER", "spark://spark-master:7077")
    monkeypatch.setenv("CLAIMWIRE_SPARK_STAGING", str(tmp_path / "shared" / "staging"))
    engine = Engine()
    assert engine.master == "spark://spark-master:7077"
    assert engine.staging_dir == tmp_path / "shared" / "staging"


def test_explicit_fields_win_over_the_environment(monkeypatch):
    monkeypatch.setenv("CLAIMWIRE_ENGINE", "spark")
    assert Engine(engine="duckdb", spark_master="local[2]").name == "duckdb"
    assert Engine(spark_master="local[2]").master == "local[2]"


def test_asking_for_spark_on_the_duckdb_engine_is_an_error():
    with pytest.raises(ConfigurationError, match="CLAIMWIRE_ENGINE is not spark"):
        Engine().spark


def test_staging_area_is_removed_after_the_stage(tmp_path):
    engine = Engine(staging=str(tmp_path / "staging"))
    with engine.staging_area("run1", "claims") as folder:
        (folder / "in.parquet").write_bytes(b"x")
        assert folder == tmp_path / "staging" / "run1" / "claims"
    assert list((tmp_path / "staging").iterdir()) == []
