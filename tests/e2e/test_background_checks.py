"""End to end: in the `claimwire` job each table's check runs beside the steps after its asset,
and the release waits for every check.

The checks do not hold the assets downstream up (they are not Dagster-blocking); what they stop
is publication: a failed or broken check leaves the previous release current, whatever ran after
it. A passages, clusters or claims check over more documents than `SPAN_CHECK_DOCUMENTS` runs in
its own step instead (its memory beside the next steps took the full run at 100,000 articles to
3.8-4.0 GB).
"""

import pytest

import pipelines.defs.extract as extract_defs
import pipelines.defs.validate as validate_defs

pytestmark = pytest.mark.e2e

ASSET_STEPS = {
    "ingest_raw_files", "passages", "cluster_syndicated_passages", "extract_and_screen_claims", "facts", "consistency",
}
CHECK_STEPS = {f"{table}_{table}_expectations" for table in validate_defs.CHECKED_TABLES}


def _step_events(result, kind: str) -> list[str]:
    return [e.step_key for e in result.all_events if e.event_type_value == kind]


def _beside(result) -> dict[str, bool]:
    return {e.check_name: e.metadata["ran_beside_later_steps"].value for e in result.get_asset_check_evaluations()}


def test_checks_run_beside_the_later_steps_and_the_release_comes_after_them_all(claimwire):
    claimwire.add_seeds()
    result = claimwire.run()
    assert result.success
    assert all(e.passed for e in result.get_asset_check_evaluations())
    # every check was started by the hook when its asset's step succeeded
    assert _beside(result) == {f"{table}_expectations": True for table in validate_defs.CHECKED_TABLES}
    started = _step_events(result, "STEP_START")
    assert set(started) == ASSET_STEPS | CHECK_STEPS | {"published"}
    # the checks' steps (which report the results) come after every asset's, the release last
    assert set(started[: len(ASSET_STEPS)]) == ASSET_STEPS
    assert set(started[len(ASSET_STEPS) : -1]) == CHECK_STEPS
    assert started[-1] == "published"
    # one recorded result per table, from this run, each passed
    rows = claimwire.warehouse_query(
        f"select table_name, success from validation_results where run_id = '{result.run_id}' order by table_name"
    )
    assert rows == [(table, True) for table in sorted(validate_defs.CHECKED_TABLES)]


def test_a_failing_check_lets_the_later_assets_run_but_stops_the_release(claimwire, monkeypatch):
    real_extract = extract_defs.extract_claims_in_processes
    monkeypatch.setattr(
        extract_defs, "extract_claims_in_processes", lambda *a, **k: real_extract(*a, **k).pipe(_inflated)
    )
    claimwire.add_seeds()
    result = claimwire.run(raise_on_error=False)
    assert not result.success
    assert {e.check_name for e in result.get_asset_check_evaluations() if not e.passed} == {"claims_expectations"}
    # facts were built from the unvalidated claims; the release refused them
    assert set(_step_events(result, "STEP_SUCCESS")) == ASSET_STEPS | CHECK_STEPS
    assert _step_events(result, "STEP_FAILURE") == ["published"]
    message = claimwire.failure_message(result)
    assert "not publishing" in message and "claims" in message
    assert not (claimwire.published / "_manifest.json").exists()


def _inflated(rows):
    import polars as pl

    return rows.with_columns(pl.col("value_low", "value_high") * 1e6)


def test_a_check_that_breaks_beside_the_steps_fails_its_step_and_the_release(claimwire, monkeypatch):
    real_validate = validate_defs.validate_frame

    def broken_for_passages(frame, suite, **kwargs):
        if suite.name == "passages":
            raise RuntimeError("the passages suite broke")
        return real_validate(frame, suite, **kwargs)

    monkeypatch.setattr(validate_defs, "validate_frame", broken_for_passages)
    claimwire.add_seeds()
    result = claimwire.run(raise_on_error=False)
    assert not result.success
    assert _step_events(result, "STEP_FAILURE") == ["passages_passages_expectations", "published"]
    assert claimwire.failure_message(result).strip() == "RuntimeError: the passages suite broke"
    # the assets after it and the other checks all ran
    assert set(_step_events(result, "STEP_SUCCESS")) == ASSET_STEPS | CHECK_STEPS - {"passages_passages_expectations"}
    assert not (claimwire.published / "_manifest.json").exists()
    # once the suite works again, the next run checks the passages again and publishes
    monkeypatch.setattr(validate_defs, "validate_frame", real_validate)
    result = claimwire.run()
    assert result.success and (claimwire.published / "_manifest.json").exists()
    assert _beside(result)["passages_expectations"] is True


def test_a_memory_heavy_check_over_many_documents_runs_in_its_own_step(claimwire, monkeypatch):
    """Past `SPAN_CHECK_DOCUMENTS` documents the passages, clusters and claims checks leave their
    work to their steps (`ALONE_WHEN_LARGE`: their frames would add to the peak of the steps
    beside them); the others still run beside the steps."""
    monkeypatch.setattr(validate_defs, "SPAN_CHECK_DOCUMENTS", 2)  # the five seeds are "many"
    claimwire.add_seeds()
    result = claimwire.run()
    assert result.success and all(e.passed for e in result.get_asset_check_evaluations())
    assert _beside(result) == {
        f"{table}_expectations": table not in {"passages", "passage_clusters", "claims"}
        for table in validate_defs.CHECKED_TABLES
    }
    from benchmarks.run import checks_ran

    assert checks_ran(result.get_asset_check_evaluations()) == {
        f"{table}_expectations": "alone" if table in {"passages", "passage_clusters", "claims"} else "beside"
        for table in sorted(validate_defs.CHECKED_TABLES)
    }
    # each deferred check recorded one result, from its step
    assert claimwire.warehouse_query(
        f"select table_name, count(*) from validation_results where run_id = '{result.run_id}' group by all order by all"
    ) == [(table, 1) for table in sorted(validate_defs.CHECKED_TABLES)]


def test_materialising_assets_without_their_checks_starts_no_check(claimwire):
    from dagster import AssetSelection, DagsterInstance, Definitions, define_asset_job, in_process_executor

    from pipelines.definitions import defs

    job = define_asset_job(
        "ingest_only", selection=AssetSelection.assets("documents", "rejected_files").without_checks(),
        hooks={validate_defs.start_checks}, executor_def=in_process_executor,
    )
    only = Definitions(assets=defs.assets, asset_checks=defs.asset_checks, jobs=[job], resources=defs.resources)
    claimwire.add_seeds()
    with DagsterInstance.ephemeral() as instance:
        result = only.resolve_job_def("ingest_only").execute_in_process(instance=instance)
    assert result.success
    assert _step_events(result, "STEP_SUCCESS") == ["ingest_raw_files"]
    assert result.get_asset_check_evaluations() == []
    assert claimwire.warehouse_query("select count(*) from validation_results") == [(0,)]
    assert claimwire.warehouse_query("select count(*) from documents") == [(5,)]


def test_a_check_counting_a_column_the_dedup_step_rewrites_waits_for_its_own_step(claimwire, tmp_path):
    """A passages rule on the published cluster (which the dedup step rewrites) is counted over
    the documents reclustered since the check last passed: started beside the dedup step, the
    check leaves the work to its own step, after the dedup step's."""
    import json
    import shutil

    suites = tmp_path / "suites"
    shutil.copytree(validate_defs.EXPECTATIONS_DIR, suites)
    passages = json.loads((suites / "passages.json").read_text())
    passages["expectations"].append({
        "type": "expect_column_values_to_be_null",
        "kwargs": {"column": "cluster_id", "row_condition": "ordinal < 0", "condition_parser": "pandas"},
        "meta": {"level": "structural", "rule": "a passage before the first has no cluster"},
    })
    (suites / "passages.json").write_text(json.dumps(passages))
    claimwire.add_seeds()
    result = claimwire.run(run_config={"resources": {"validation": {"config": {"expectations_dir": str(suites)}}}})
    assert result.success and all(e.passed for e in result.get_asset_check_evaluations())
    beside = _beside(result)
    assert beside.pop("passages_expectations") is False
    assert set(beside.values()) == {True}
    assert claimwire.warehouse_query(
        f"select count(*) from validation_results where run_id = '{result.run_id}' and table_name = 'passages'"
    ) == [(1,)]


def test_a_check_beside_the_steps_that_runs_out_of_duckdbs_memory_runs_again_in_its_step(claimwire, monkeypatch, capfd):
    """A step may drop DuckDB's cache (lowering the whole database's memory limit for a moment)
    while a check runs beside it; a check whose query then fails for memory runs again, alone."""
    import duckdb

    real_run_check = validate_defs.run_check
    beside_tries = []

    def short_of_memory_beside(table, run_id, conn, warehouse, validation, beside=False, **kwargs):
        if beside and table == "documents":
            beside_tries.append(table)
            raise duckdb.OutOfMemoryException("Out of Memory Error: could not allocate block of size 256.0 KiB")
        return real_run_check(table, run_id, conn, warehouse, validation, beside=beside, **kwargs)

    monkeypatch.setattr(validate_defs, "run_check", short_of_memory_beside)
    claimwire.add_seeds()
    result = claimwire.run()
    assert result.success and all(e.passed for e in result.get_asset_check_evaluations())
    assert beside_tries == ["documents"]
    beside = _beside(result)
    assert beside.pop("documents_expectations") is False
    assert set(beside.values()) == {True}
    logged = capfd.readouterr().err
    assert logged.count("the documents check beside the steps ran out of DuckDB's memory") == 1
    # the benchmark counts where each check ran
    from benchmarks.run import checks_ran

    ran = checks_ran(result.get_asset_check_evaluations())
    assert ran.pop("documents_expectations") == "again"
    assert set(ran.values()) == {"beside"}
    (evaluation,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "documents_expectations"]
    assert "could not allocate block" in evaluation.metadata["ran_again_after_beside"].value
