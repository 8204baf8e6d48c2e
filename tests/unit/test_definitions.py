"""Snapshot of the asset graph: every asset's key, dependencies, group and checks.

A change to the graph changes tests/data/asset_graph.json, so it shows in review. To accept a
deliberate change: UPDATE_SNAPSHOTS=1 .venv/bin/python -m pytest tests/unit/test_definitions.py
"""

import json
import os
from pathlib import Path

SNAPSHOT = Path(__file__).resolve().parents[1] / "data" / "asset_graph.json"


def current_graph() -> dict:
    from pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    assets = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        assets[key.to_user_string()] = {
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "group": node.group_name,
            "kinds": sorted(node.kinds),
            "owners": sorted(node.owners),
            "has_description": bool(node.description),
            "checks": sorted(c.name for c in node.check_keys),
        }
    return {
        "assets": assets,
        "jobs": sorted(j.name for j in defs.resolve_all_job_defs()),
        "schedules": sorted(s.name for s in defs.schedules or []),
        "sensors": sorted(s.name for s in defs.sensors or []),
    }


def test_asset_graph_matches_snapshot():
    graph = current_graph()
    if os.environ.get("UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(json.dumps(graph, indent=2, sort_keys=True) + "\n")
    assert graph == json.loads(SNAPSHOT.read_text())


def test_every_check_stops_the_release_not_the_assets_after_it_and_is_described():
    """The checks do not hold the assets downstream up (Dagster's `blocking`); their steps come
    after every asset's and the release after them all (`dagster/priority`, in one process), and
    the claimwire job starts each check beside the steps after its asset (`start_checks`)."""
    from dagster import in_process_executor

    from pipelines.definitions import defs
    from pipelines.defs.validate import CHECK_PRIORITY, RELEASE_PRIORITY, start_checks

    graph = defs.resolve_asset_graph()
    checks = [graph.get_check_spec(k) for k in graph.asset_check_keys]
    assert len(checks) == 7
    assert all(not spec.blocking and spec.description for spec in checks)
    assert int(RELEASE_PRIORITY) < int(CHECK_PRIORITY) < 0
    job = defs.resolve_job_def("claimwire")
    priorities = {node.name: node.definition.tags.get("dagster/priority") for node in job.graph.nodes}
    assert priorities.pop("published") == RELEASE_PRIORITY
    assert {name: p for name, p in priorities.items() if name.endswith("_expectations")} == {
        f"{table}_{table}_expectations": CHECK_PRIORITY
        for table in ("documents", "rejected_files", "passages", "passage_clusters", "claims", "quarantine", "facts")
    }
    assert {p for name, p in priorities.items() if not name.endswith("_expectations")} == {None}
    assert job.hook_defs == {start_checks}
    assert job.executor_def is in_process_executor
    # a materialisation from the UI (the implicit asset job) runs in one process as well
    assert defs.resolve_implicit_global_asset_job_def().executor_def is in_process_executor


def test_importing_the_command_line_module_loads_no_dagster():
    # The ingest and claims steps spawn worker processes, and a worker imports the parent's main
    # module again: with `python -m pipelines.cli run` that is this module, whose import must
    # not pull in Dagster (1.2 s of every worker's start when it did).
    import subprocess
    import sys

    probe = "import sys, pipelines.cli; print(sorted(m for m in ('dagster', 'duckdb', 'pipelines.defs') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=SNAPSHOT.parents[2])
    assert out.stdout.strip() == "[]"
