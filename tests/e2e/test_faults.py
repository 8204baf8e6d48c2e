"""End to end: a run that dies at any step loses nothing; the next run completes the work and
publishes the same release as a run that was never disturbed."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

import pipelines.defs.dedup as dedup_defs
import pipelines.defs.extract as extract_defs
import pipelines.defs.ingest as ingest_defs
import pipelines.defs.publish as publish_defs
from tests.conftest import PROJECT_ROOT, Claimwire

pytestmark = pytest.mark.e2e

TABLES = ["documents", "rejected_files", "passages", "passage_clusters", "doc_syndication", "claims", "facts",
          "consistency", "quarantine"]
# columns that record when something ran, not what the data says
RUN_TIME_COLUMNS = {"documents": ["ingested_at", "ingest_batch_id"], "rejected_files": ["seen_at", "ingest_batch_id"],
                    "facts": ["first_seen_at"]}


def release_content(cw) -> dict:
    content = {}
    for table in TABLES:
        drop = RUN_TIME_COLUMNS.get(table)
        select = f"* exclude ({', '.join(drop)})" if drop else "*"
        content[table] = cw.query(f"select {select} from read_parquet('{{release}}/{table}/*.parquet') order by all")
    return content


@pytest.fixture(scope="module")
def undisturbed(tmp_path_factory):
    with pytest.MonkeyPatch.context() as monkeypatch:
        cw = Claimwire(tmp_path_factory.mktemp("undisturbed"), monkeypatch)
        cw.add_seeds()
        assert cw.run().success
        yield release_content(cw)


def _fail(*args, **kwargs):
    raise RuntimeError("injected fault: the step died here")


@pytest.mark.parametrize(
    ("module", "function"),
    [
        (ingest_defs, "read_and_parse_files"),
        (dedup_defs, "split_passages"),
        (dedup_defs, "match_signed"),
        (extract_defs, "extract_claims_in_processes"),
        (extract_defs, "build_facts_and_state"),
        (publish_defs, "_write_table"),
    ],
    ids=["ingest", "passages", "dedup", "claims", "facts", "publish"],
)
def test_a_step_that_dies_is_completed_by_the_next_run(claimwire, monkeypatch, undisturbed, module, function):
    claimwire.add_seeds()
    with monkeypatch.context() as patch:
        patch.setattr(module, function, _fail)
        assert not claimwire.run(raise_on_error=False).success
    assert claimwire.run().success
    assert release_content(claimwire) == undisturbed


def test_a_merge_of_new_claims_into_the_facts_that_dies_is_completed_by_the_next_run(claimwire, monkeypatch, undisturbed):
    import shutil

    from tests.conftest import RAW_SEEDS

    seeds = sorted(RAW_SEEDS.glob("*.txt"))
    for path in seeds[:3]:
        shutil.copy2(path, claimwire.raw / path.name)
    assert claimwire.run().success
    for path in seeds[3:]:
        shutil.copy2(path, claimwire.raw / path.name)
    monkeypatch.setattr(extract_defs, "MERGE_MAX_SHARE", 1.0)  # two of five documents: merged all the same
    with monkeypatch.context() as patch:
        patch.setattr(extract_defs, "merge_facts", _fail)
        assert not claimwire.run(raise_on_error=False).success
    # the claims the failed run added wait in the backlog, and the next run merges them
    assert claimwire.warehouse_query(
        "select count(*) filter (where change = 'added') > 0, count(*) filter (where change = 'rebuild') from fact_backlog"
    ) == [(True, 0)]
    result = claimwire.run()
    assert result.success
    (facts,) = [m for m in result.get_asset_materialization_events() if m.asset_key.path == ["facts"]]
    assert facts.materialization.metadata["mode"].value == "merged"
    assert release_content(claimwire) == undisturbed


@pytest.mark.parametrize("seconds", [6, 14])
def test_a_killed_process_is_completed_by_the_next_run(claimwire, undisturbed, seconds):
    claimwire.add_seeds()
    env = {**os.environ, "DAGSTER_HOME": str(claimwire.root / "dagster_home"),
           "CLAIMWIRE_RAW_DIR": str(claimwire.raw), "CLAIMWIRE_WAREHOUSE": str(claimwire.warehouse),
           "CLAIMWIRE_PUBLISH_DIR": str(claimwire.published)}
    process = subprocess.Popen([sys.executable, "-m", "pipelines.cli", "run"], cwd=PROJECT_ROOT, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(seconds)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    assert claimwire.run().success
    assert release_content(claimwire) == undisturbed
    manifest = json.loads((claimwire.published / "_manifest.json").read_text())
    assert all(v["success"] for v in manifest["validation"])
