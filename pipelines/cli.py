"""Command line: `python -m pipelines.cli run` materialises the whole graph and prints a summary.

The run is recorded in the same Dagster instance the UI shows (DAGSTER_HOME, by default
`data/dagster_home`), so a run started here appears in the UI's run list.
"""

import argparse
import os
import shutil
import sys
from pathlib import Path

# Nothing of claimwire or Dagster is imported at the top: the worker processes the ingest and
# claims steps spawn import this module again (as their `__mp_main__`) when the run was started
# with `python -m pipelines.cli`, and importing Dagster there took 1.2 s of every worker's start.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
INSTANCE_TEMPLATE = PROJECT_ROOT / "pipelines" / "instance" / "dagster.yaml"


def prepare_dagster_home() -> Path:
    """Point DAGSTER_HOME at the project's instance folder and install the shipped settings."""
    home = Path(os.environ.setdefault("DAGSTER_HOME", str(PROJECT_ROOT / "data" / "dagster_home")))
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    if not target.exists() or target.read_bytes() != INSTANCE_TEMPLATE.read_bytes():
        shutil.copyfile(INSTANCE_TEMPLATE, target)
    return home


def run(select: list[str] | None = None) -> int:
    """Materialise the graph (or only the assets named in `select`) and print a summary."""
    prepare_dagster_home()
    from dagster import AssetKey, DagsterInstance

    from pipelines.definitions import defs

    instance = DagsterInstance.get()
    job = defs.resolve_job_def("claimwire")
    # Dagster's DEBUG event stream is for the UI; the console shows what each step says.
    quiet = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
    selection = [AssetKey(name) for name in select] if select else None
    result = job.execute_in_process(run_config=quiet, instance=instance, raise_on_error=False, asset_selection=selection)
    print(summary(result))
    return 0 if result.success else 1


def summary(result) -> str:
    import duckdb

    from pipelines.defs.resources import ConfigurationError, ReleasePublisher, Warehouse

    lines = [f"claimwire run {result.run_id}: {'succeeded' if result.success else 'FAILED'}"]
    for event in result.all_events:
        if event.event_type_value == "STEP_FAILURE":
            lines.append(f"  step {event.step_key} failed: {_root_cause(event.event_specific_data.error)}")
    warehouse = Warehouse()
    try:
        with warehouse.get_connection() as conn:
            counts = {
                "documents": "select count(*) from documents",
                "rejected files": "select count(*) from rejected_files",
                "passages": "select count(*) from passages",
                "  of them boilerplate": "select count(*) from passages where is_boilerplate",
                "clusters": "select count(*) from passage_clusters",
                "  with copies in several documents": "select count(*) from passage_clusters where n_documents > 1",
                "claims": "select count(*) from claims",
                "quarantined claims": "select count(*) from quarantine",
                "facts": "select count(*) from facts",
            }
            lines.append("")
            for label, query in counts.items():
                lines.append(f"  {label:<36} {conn.sql(query).fetchall()[0][0]:>8}")
                if label == "rejected files":
                    by_reason = conn.sql("select reason, count(*) from rejected_files group by 1 order by 1").fetchall()
                    lines.extend(f"    {reason:<34} {n:>8}" for reason, n in by_reason)
            checks = conn.sql(
                """
                select table_name, success, n_rows, n_failed from (
                    select *, row_number() over (partition by table_name order by validated_at desc) as r
                    from validation_results) where r = 1 order by table_name
                """
            ).fetchall()
    except (ConfigurationError, duckdb.Error) as err:
        lines.append(f"  (cannot read the warehouse: {err})")
        checks = []
    if checks:
        lines.append("")
        lines.append("  checks (Great Expectations):")
        for table, success, n_rows, n_failed in checks:
            lines.append(f"    {table:<18} {'passed' if success else 'FAILED':<7} {n_rows:>6} rows, {n_failed} failing")
    publisher = ReleasePublisher()
    manifest = publisher.current_manifest()
    lines.append("")
    if manifest:
        lines.append(f"  release {manifest['release_id']} is at {publisher.link}")
        lines.append(f"  warehouse: {warehouse.path}")
        lines.append("")
        lines.append("  try:")
        lines.append(
            "    .venv/bin/python -c \"import duckdb; duckdb.sql(\\\"select measure, value_low, value_high, unit, "
            f"period, n_independent_sources from read_parquet('{_shown(publisher.link)}/facts/*.parquet') "
            "order by n_independent_sources desc limit 10\\\").show()\""
        )
    else:
        lines.append("  no release has been published yet")
    return "\n".join(lines)


def _root_cause(error) -> str:
    """The user's exception behind Dagster's wrappers: the message a user can act on."""
    if error is None:
        return "unknown error"
    while error.cause is not None:
        error = error.cause
    return error.message.strip()


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="claimwire")
    sub = parser.add_subparsers(dest="command", required=True)
    run_parser = sub.add_parser("run", help="materialise the whole graph on the raw folder and publish a release")
    run_parser.add_argument(
        "--select", type=lambda value: [v.strip() for v in value.split(",") if v.strip()], default=None,
        help="materialise only these assets, comma-separated (e.g. documents,rejected_files)",
    )
    sub.add_parser("home", help="prepare the Dagster instance folder and print its path")
    args = parser.parse_args(argv)
    from pipelines.defs.resources import ConfigurationError

    try:
        if args.command == "home":
            print(prepare_dagster_home())
            return 0
        return run(args.select)
    except ConfigurationError as err:
        print(f"claimwire: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
