"""Replay a benchmark's +1% run on the state its full run left, as many times as asked.

    python -m benchmarks.replay WORK_DIR [--runs 3] [--json PATH]

WORK_DIR is one size's folder kept by `python -m benchmarks.run --articles N --keep-for-replay`
(its path is the size's `work_dir` in the benchmark's JSON): the corpus, whose raw folder holds
the holdout batch by then, `data_before_incremental/` (the warehouse, release and Data Docs as
the full run left them) and `full_run.json`.

The process first runs the job once on the project's own `raw/` in a scratch folder (imports,
the first freeze: what the benchmark's full run does before its incremental run). Then each
replay copies the kept state to a scratch folder and runs the whole job on it, timed like the
benchmark's runs: the same +1% run, on the same batch, in about a minute instead of the whole
benchmark. A probe with another batch can mislead: the benchmark's holdout comes from the same
stories as the corpus, so it relabels older clusters, facts and release parts a batch of
unrelated stories would not touch.

Prints each run's steps and the share of the full run (the median of the runs too).
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

from benchmarks.run import PROJECT_ROOT, REPLAY_FULL_RUN, REPLAY_STATE, _point_env_at, run_job, stage_summary


def replay(work: Path, runs: int) -> dict:
    state, raw = work / REPLAY_STATE, work / "corpus" / "raw"
    if not state.is_dir() or not (work / REPLAY_FULL_RUN).is_file() or not raw.is_dir():
        raise SystemExit(
            f"{work} is not a folder kept for replays: it needs {REPLAY_STATE}/, {REPLAY_FULL_RUN} and corpus/raw/ "
            "(python -m benchmarks.run --articles N --keep-for-replay)"
        )
    full = json.loads((work / REPLAY_FULL_RUN).read_text(encoding="utf-8"))
    import duckdb

    with tempfile.TemporaryDirectory(prefix="claimwire-replay-", dir=work) as scratch:
        scratch = Path(scratch)
        _point_env_at(PROJECT_ROOT / "raw", scratch / "warm-up")
        warm_up = run_job()
        if not warm_up["success"]:
            raise SystemExit(f"the warm-up run on {PROJECT_ROOT / 'raw'} failed: {warm_up['errors']}")
        results = []
        for i in range(runs):
            data = scratch / f"run-{i}"
            shutil.copytree(state, data, symlinks=True)
            os.sync()  # the copy's writes land before the timed run, not during it
            with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as conn:
                before = conn.sql("select count(*) from documents").fetchall()[0][0]
            _point_env_at(raw, data)
            run = run_job()
            with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as conn:
                after = conn.sql("select count(*) from documents").fetchall()[0][0]
            run["stages_s"] = stage_summary(run["steps_s"])
            run["share_of_full_run"] = round(run["wall_s"] / full["wall_s"], 4)
            run["n_documents_before"], run["n_documents_after"] = before, after
            results.append(run)
            shutil.rmtree(data)
    walls = [r["wall_s"] for r in results]
    return {
        "work_dir": str(work),
        "full_run_wall_s": full["wall_s"],
        "warm_up_wall_s": warm_up["wall_s"],
        "runs": results,
        "median_wall_s": statistics.median(walls),
        "median_share_of_full_run": round(statistics.median(walls) / full["wall_s"], 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("work_dir", type=Path, help="a size's folder kept by benchmarks.run --keep-for-replay")
    parser.add_argument("--runs", type=int, default=3, help="replays, each on a fresh copy (default 3)")
    parser.add_argument("--json", type=Path, help="write the results here")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    report = replay(args.work_dir.resolve(), args.runs)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    steps = list(report["runs"][0]["steps_s"])
    print(f"replays of the +1% run in {report['work_dir']} (full run {report['full_run_wall_s']:.1f} s)")
    print(f"{'step':52s}" + "".join(f"{f'run {i + 1}':>9s}" for i in range(len(report["runs"]))))
    for step in steps:
        print(f"{step:52s}" + "".join(f"{r['steps_s'].get(step, 0.0):9.2f}" for r in report["runs"]))
    print(f"{'end to end':52s}" + "".join(f"{r['wall_s']:9.2f}" for r in report["runs"]))
    print(f"median {report['median_wall_s']:.2f} s, {100 * report['median_share_of_full_run']:.1f}% of the full run")
    failed = [i + 1 for i, r in enumerate(report["runs"]) if not r["success"]]
    if failed:
        print(f"runs {failed} failed: {[report['runs'][i - 1]['errors'] for i in failed]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
