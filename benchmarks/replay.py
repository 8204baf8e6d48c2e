"""Replay a benchmark's +1% run on the state its full run left, as many times as asked.

    python -m benchmarks.replay WORK_DIR [--runs 3] [--batch-sizes 10 100 1000] [--json PATH]

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

With `--batch-sizes`, the batch is the first N of the holdout's files (in path order: the
stream's next N articles) for each N, each replayed `--runs` times on its own copy of the raw
folder (hard links, made before the timed run); it prints each size's median step by step and
the least-squares line through the medians, wall = fixed + per article × N: what a run costs
whatever its batch (the passes over the warehouse) and what each new article adds.
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


def held_out_files(raw: Path, state: Path) -> list[str]:
    """The raw folder's files the kept warehouse has not read (the holdout batch), relative to
    `raw`, in path order."""
    import duckdb

    with duckdb.connect(str(state / "warehouse.duckdb"), read_only=True) as conn:
        known = {path for (path,) in conn.sql("select source_path from raw_file_states").fetchall()}
    return sorted(p for p in (path.relative_to(raw).as_posix() for path in raw.rglob("*") if path.is_file()) if p not in known)


def raw_with_batch(raw: Path, target: Path, held_out: list[str], n: int) -> Path:
    """`raw` as a tree of hard links at `target` (copies where the file system has none) without
    the held-out files after the first `n`: the warehouse's files and a batch of `n`."""

    def link(src: str, dst: str) -> None:
        try:
            os.link(src, dst)
        except OSError:
            shutil.copy2(src, dst)

    shutil.copytree(raw, target, copy_function=link, symlinks=True)
    for relative in held_out[n:]:
        (target / relative).unlink()
    return target


def fit_line(sizes: list[int], walls: list[float]) -> dict | None:
    """Least squares wall = fixed_s + per_article_ms / 1000 × size over two or more sizes."""
    if len(set(sizes)) < 2:
        return None
    mean_n, mean_w = statistics.fmean(sizes), statistics.fmean(walls)
    slope = sum((n - mean_n) * (w - mean_w) for n, w in zip(sizes, walls)) / sum((n - mean_n) ** 2 for n in sizes)
    return {"fixed_s": round(mean_w - slope * mean_n, 2), "per_article_ms": round(1000 * slope, 2)}


def replay(work: Path, runs: int, batch_sizes: list[int] | None = None) -> dict:
    state, raw = work / REPLAY_STATE, work / "corpus" / "raw"
    if not state.is_dir() or not (work / REPLAY_FULL_RUN).is_file() or not raw.is_dir():
        raise SystemExit(
            f"{work} is not a folder kept for replays: it needs {REPLAY_STATE}/, {REPLAY_FULL_RUN} and corpus/raw/ "
            "(python -m benchmarks.run --articles N --keep-for-replay)"
        )
    full = json.loads((work / REPLAY_FULL_RUN).read_text(encoding="utf-8"))
    held_out = held_out_files(raw, state)
    too_large = [n for n in batch_sizes or [] if not 1 <= n <= len(held_out)]
    if too_large:
        raise SystemExit(f"batch sizes {too_large} are not between 1 and the {len(held_out)} held-out files in {raw}")
    import duckdb

    with tempfile.TemporaryDirectory(prefix="claimwire-replay-", dir=work) as scratch:
        scratch = Path(scratch)
        _point_env_at(PROJECT_ROOT / "raw", scratch / "warm-up")
        warm_up = run_job()
        if not warm_up["success"]:
            raise SystemExit(f"the warm-up run on {PROJECT_ROOT / 'raw'} failed: {warm_up['errors']}")
        results = []
        for n in batch_sizes or [len(held_out)]:
            batch_raw = raw if batch_sizes is None else raw_with_batch(raw, scratch / f"raw-{n}", held_out, n)
            for i in range(runs):
                data = scratch / f"run-{n}-{i}"
                shutil.copytree(state, data, symlinks=True)
                os.sync()  # the copy's writes land before the timed run, not during it
                with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as conn:
                    before = conn.sql("select count(*) from documents").fetchall()[0][0]
                _point_env_at(batch_raw, data)
                run = run_job()
                with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as conn:
                    after = conn.sql("select count(*) from documents").fetchall()[0][0]
                run["stages_s"] = stage_summary(run["steps_s"])
                run["share_of_full_run"] = round(run["wall_s"] / full["wall_s"], 4)
                run["batch_files"] = n
                run["n_documents_before"], run["n_documents_after"] = before, after
                results.append(run)
                shutil.rmtree(data)
            if batch_raw != raw:
                shutil.rmtree(batch_raw)
    batches = []
    for n in dict.fromkeys(r["batch_files"] for r in results):
        of_size = [r for r in results if r["batch_files"] == n]
        median = statistics.median(r["wall_s"] for r in of_size)
        batches.append({
            "batch_files": n,
            "median_wall_s": median,
            "median_share_of_full_run": round(median / full["wall_s"], 4),
            "median_steps_s": {
                step: statistics.median(r["steps_s"].get(step, 0.0) for r in of_size) for step in of_size[0]["steps_s"]
            },
        })
    largest = max(batches, key=lambda b: b["batch_files"])
    return {
        "work_dir": str(work),
        "full_run_wall_s": full["wall_s"],
        "warm_up_wall_s": warm_up["wall_s"],
        "held_out_files": len(held_out),
        "runs": results,
        # the whole holdout's runs, or the largest batch's
        "median_wall_s": largest["median_wall_s"],
        "median_share_of_full_run": largest["median_share_of_full_run"],
        "batches": batches,
        "fit": fit_line([b["batch_files"] for b in batches], [b["median_wall_s"] for b in batches]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.replay", description=__doc__.split("\n\n")[0])
    parser.add_argument("work_dir", type=Path, help="a size's folder kept by benchmarks.run --keep-for-replay")
    parser.add_argument("--runs", type=int, default=3, help="replays, each on a fresh copy (default 3)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--batch-sizes", type=int, nargs="+", metavar="N",
        help="replay batches of the first N held-out files instead of the whole holdout, --runs times each",
    )
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    report = replay(args.work_dir.resolve(), args.runs, args.batch_sizes)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print(f"replays of the +1% run in {report['work_dir']} (full run {report['full_run_wall_s']:.1f} s)")
    if args.batch_sizes is None:
        steps = list(report["runs"][0]["steps_s"])
        print(f"{'step':52s}" + "".join(f"{f'run {i + 1}':>9s}" for i in range(len(report["runs"]))))
        for step in steps:
            print(f"{step:52s}" + "".join(f"{r['steps_s'].get(step, 0.0):9.2f}" for r in report["runs"]))
        print(f"{'end to end':52s}" + "".join(f"{r['wall_s']:9.2f}" for r in report["runs"]))
        print(f"median {report['median_wall_s']:.2f} s, {100 * report['median_share_of_full_run']:.1f}% of the full run")
    else:
        batches = report["batches"]
        print(f"medians of {args.runs} run(s) a batch size")
        sizes = [f"{b['batch_files']:,} files" for b in batches]
        print(f"{'step':52s}" + "".join(f"{size:>13s}" for size in sizes))
        for step in batches[0]["median_steps_s"]:
            print(f"{step:52s}" + "".join(f"{b['median_steps_s'].get(step, 0.0):13.2f}" for b in batches))
        print(f"{'end to end':52s}" + "".join(f"{b['median_wall_s']:13.2f}" for b in batches))
        print(f"{'share of the full run':52s}" + "".join(f"{100 * b['median_share_of_full_run']:12.1f}%" for b in batches))
        if report["fit"]:
            print(
                f"a batch costs about {report['fit']['fixed_s']:.2f} s plus {report['fit']['per_article_ms']:.2f} ms a file "
                "(least squares over the medians)"
            )
    failed = [i + 1 for i, r in enumerate(report["runs"]) if not r["success"]]
    if failed:
        print(f"runs {failed} failed: {[report['runs'][i - 1]['errors'] for i in failed]}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
