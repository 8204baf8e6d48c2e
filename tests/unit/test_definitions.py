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


def test_every_check_is_blocking_and_described():
    from pipelines.definitions import defs

    graph = defs.resolve_asset_graph()
    checks = [graph.get_check_spec(k) for k in graph.asset_check_keys]
    assert len(checks) == 7
    assert all(spec.blocking and spec.description for spec in checks)


def test_importing_the_command_line_module_loads_no_dagster():
    # The ingest and claims steps spawn worker processes, and a worker imports the parent's main
    # module again: with `python -m pipelines.cli run` that is this module, whose import must
    # not pull in Dagster (1.2 s of every worker's start when it did).
    import subprocess
    import sys

    probe = "import sys, pipelines.cli; print(sorted(m for m in ('dagster', 'duckdb', 'pipelines.defs') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=SNAPSHOT.parents[2])
    assert out.stdout.strip() == "[]"
