"""The claimwire benchmark: the whole Dagster job on generated corpora, and the peers beside it.

    python -m benchmarks.run --articles 1000 --articles 10000 [--json PATH] [--skip-peers] [--spark]

For each size, in a fresh subprocess (so peak memory of one size never mixes with another's):

1. `benchmarks.corpus.write_corpus` writes N articles plus a 1% holdout batch to a temporary
   folder, with the truth;
2. the whole `claimwire` job runs in process exactly as `make run` does (the three
   CLAIMWIRE_* variables point into the temporary folder; ephemeral Dagster instance): end-to-end
   and per-step wall time (from the run's STEP_START / STEP_SUCCESS event timestamps),
   throughput, the peak RSS of the process, and quality of the published release against the
   truth (dedup pairwise precision/recall by `cluster_id`; claims precision/recall of
   (value_low, value_high, unit) per article);
3. the holdout batch is added to the raw folder and the job runs again (the incremental run),
   then `--incremental-runs` - 1 more times (default 3 in all), each on a fresh copy of the state
   the first started from; each run and the median's share of the full run are reported;
4. unless --skip-peers, on the same published passages: our `compute_signatures` +
   `candidate_pairs` against datasketch MinHash + MinHashLSH and rensa RMinHash + RMinHashLSH
   over the same word shingles and the same 120 permutations as 40 bands × 3 rows; and our
   `extract_claims` against quantulum3 (classifier off) on the same sentences (each timed three
   times on the same sample, its fastest pass taken);
5. with --spark, the whole job again on the same corpus with CLAIMWIRE_ENGINE=spark, once on
   `local[1]` and once on `local[2]` (fresh warehouses), with its throughput and whether its
   release equals the embedded one;
6. for the largest size, one more fresh run with cProfile switched on only while the slowest
   step of the timed run executes (a Dagster logger turns it on at STEP_START and off at
   STEP_SUCCESS), so the profile covers that stage and nothing else.

Prints a short table and writes everything, with the machine's description, as JSON.
"""

import argparse
import cProfile
import gc
import json
import logging
import math
import os
import platform
import pstats
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import polars as pl

# Nothing of claimwire is imported at the top, nor the corpus generator (which imports the dedup
# stage and SciPy): the ingest and claims steps' worker processes import this module again as
# their `__mp_main__` when the benchmark runs as `python -m benchmarks.run` or `benchmarks.replay`,
# and the corpus generator's imports added 0.3 s to every worker's start (0.51-0.57 s against
# 0.21-0.26 s), which a run launched by Dagster (`python -m dagster`) does not pay.

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SEED = 20241104
# The same console settings as `make run` (pipelines.cli): Dagster's DEBUG stream is for the UI.
QUIET_RUN_CONFIG = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}
PACKAGES = (
    "dagster", "duckdb", "polars", "pyarrow", "pandas", "numpy", "great-expectations", "rensa",
    "datasketch", "quantulum3", "rapidfuzz", "pint",
)
PROGRESS = "[bench]"


def _say(message: str) -> None:
    print(f"{PROGRESS} {datetime.now():%H:%M:%S} {message}", file=sys.stderr, flush=True)


def _peak_rss_mb(since: float = 0.0) -> float:
    """The larger of this process's own peak and the sampled peak of its process tree, both
    since `since` (a `time.time()`) when the own peak was reset then (`_reset_peak`). The
    sampler resets the own peak at each sample and counts it in (`_Watch.sample`): the own peak
    read here covers the time since the last sample."""
    own = _own_peak_mb()
    watch = _LIVE.get("watch")
    sampled = max((r for t, r, _ in watch.samples if t >= since), default=0.0) if watch is not None else 0.0
    return max(own, sampled)


def _own_peak_mb() -> float:
    """This process's peak RSS: VmHWM, which `_reset_peak` can reset (ru_maxrss cannot)."""
    status = Path("/proc/self/status")
    if status.exists():
        found = re.search(r"^VmHWM:\s+(\d+) kB", status.read_text(), re.MULTILINE)
        if found:
            return int(found.group(1)) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def _reset_peak() -> float:
    """Reset this process's peak RSS to its current RSS (Linux: 5 to /proc/self/clear_refs), so
    a later run's peak is its own and not an earlier run's; returns the time of the reset."""
    _try_reset_peak()
    return time.time()


def _try_reset_peak() -> bool:
    """`_reset_peak`; whether the peak was reset (it cannot be off Linux, or where not allowed)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False  # the peak stays the process's lifetime peak
    return True


_LIVE: dict = {"instance": None, "watch": None}


def _rss_mb() -> float:
    """Resident memory of this process and every process it started (claims' worker processes,
    a Spark JVM): what the machine must hold, not only this interpreter."""
    return _tree_usage()[0]


def _tree_usage(own: list | None = None) -> tuple[float, float]:
    """(resident MB, CPU seconds) of this process and every process it started. The CPU is each
    live process's user and system time plus what it has collected from the children it has
    waited for (a worker pool's processes, once the pool is shut down): the CPU the run has
    used so far, whichever process used it. `own`, when given, receives this process's own
    resident MB (its part of the total)."""
    page, tick = os.sysconf("SC_PAGE_SIZE"), os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    cpu_ticks: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # after the command's closing parenthesis: state, ppid, ..., utime (11), stime,
            # cutime, cstime (14)
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended while we looked
            continue
        pid = int(stat.parent.name)
        parents[pid] = int(fields[1])
        cpu_ticks[pid] = sum(int(value) for value in fields[11:15])
    tree, frontier = {os.getpid()}, [os.getpid()]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    total = 0
    for pid in tree:
        try:
            pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (OSError, IndexError):
            continue
        total += pages
        if own is not None and pid == os.getpid():
            own.append(pages * page / 2**20)
    return total * page / 2**20, sum(cpu_ticks.get(pid, 0) for pid in tree) / tick


class _Watch(threading.Thread):
    """Samples the process tree's RSS and CPU time five times a second (so each step gets its own
    peak and CPU seconds) and stops the worker, saving how far the run got, when it passes a
    time or memory limit."""

    def __init__(self, result: dict, save, max_rss_mb: float, deadline_s: float):
        super().__init__(daemon=True)
        self.result, self.save, self.max_rss_mb = result, save, max_rss_mb
        self.deadline = None
        self.deadline_s = deadline_s
        self.cleanup = None  # called before the worker stops itself
        self.samples: list[tuple[float, float, float]] = []  # (time, RSS MB, CPU s)
        self.resets_peak = False  # whether each sample reads and resets this process's peak

    def start_clock(self) -> None:
        if self.deadline_s:
            self.deadline = time.time() + self.deadline_s

    def peaks(self, starts: dict, ends: dict) -> dict:
        return {
            key: max((round(r, 1) for t, r, _ in self.samples if starts[key] <= t <= ends[key]), default=None)
            for key in starts if key in ends
        }

    def at_starts(self, starts: dict) -> dict:
        """The first RSS sampled after each step started: what it inherits from earlier steps
        (memory the process kept), which its peak includes."""
        return {key: next((round(r, 1) for t, r, _ in self.samples if t >= start), None) for key, start in starts.items()}

    def cpu_at(self, when: float) -> float | None:
        """The tree's CPU seconds at `when`, interpolated between the samples around it."""
        before = next((s for s in reversed(self.samples) if s[0] <= when), None)
        after = next((s for s in self.samples if s[0] >= when), None)
        if before is None or after is None:
            return None
        if after[0] == before[0]:
            return before[2]
        return before[2] + (after[2] - before[2]) * (when - before[0]) / (after[0] - before[0])

    def cpu_between(self, start: float, end: float) -> float | None:
        """CPU seconds the process tree used from `start` to `end` (to a sample's 0.2 s at each end)."""
        low, high = self.cpu_at(start), self.cpu_at(end)
        return None if low is None or high is None else round(high - low, 2)

    def cpu(self, starts: dict, ends: dict) -> dict:
        """CPU seconds of each step, every process of the tree together."""
        return {key: self.cpu_between(starts[key], ends[key]) for key in starts if key in ends}

    def sample(self) -> tuple[float, float]:
        """(resident MB, CPU seconds) of the process tree now, where this process's part is its
        peak since the last sample: the steps' Polars and DuckDB buffers can come and go between
        two samples 0.2 s apart (at 100,000 articles a run's own peak was 0.14 GB over the
        highest sample). The other processes' parts are as sampled."""
        own: list[float] = []
        rss, cpu = _tree_usage(own)
        if self.resets_peak and own:
            peak = _own_peak_mb()
            self.resets_peak = _try_reset_peak()
            rss += max(peak - own[0], 0.0)
        return rss, cpu

    def run(self) -> None:
        self.resets_peak = _try_reset_peak()
        while True:
            now, (rss, cpu) = time.time(), self.sample()
            self.samples.append((now, rss, cpu))
            over_memory = self.max_rss_mb and rss > self.max_rss_mb
            over_time = self.deadline and now > self.deadline
            if over_memory or over_time:
                self.result["status"] = "memory_limit" if over_memory else "timeout"
                self.result["error"] = (
                    f"RSS {rss:.0f} MB passed --max-rss-gb" if over_memory
                    else f"the pipeline passed --timeout {self.deadline_s:.0f} s"
                )
                self.result["progress_when_stopped"] = _progress()
                self.result["peak_rss_mb_when_stopped"] = round(max(r for _, r, _ in self.samples), 1)
                self.save()
                if self.cleanup:
                    self.cleanup()
                os._exit(3)
            time.sleep(0.2)


def _progress() -> dict:
    """Finished steps (seconds) and the step running now, read from the live run's event log."""
    from dagster import DagsterEventType

    instance = _LIVE.get("instance")
    if instance is None:
        return {}
    try:
        run = instance.get_runs(limit=1)[0]
        starts, ends = {}, {}
        for record in instance.all_logs(run.run_id):
            event = record.dagster_event
            if event is None or record.step_key is None:
                continue
            if event.event_type == DagsterEventType.STEP_START:
                starts[record.step_key] = record.timestamp
            elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
                ends[record.step_key] = record.timestamp
        return {
            "finished_steps_s": {k: round(ends[k] - starts[k], 1) for k in starts if k in ends},
            "running_steps": {k: f"{time.time() - starts[k]:.0f} s so far" for k in starts if k not in ends},
        }
    except Exception as err:  # best effort: the limit is reported either way
        return {"error": repr(err)}


# ---------------------------------------------------------------------------------------------
# The pipeline, as `make run` runs it
# ---------------------------------------------------------------------------------------------


def _point_env_at(raw_dir: Path, data_dir: Path) -> None:
    os.environ["CLAIMWIRE_RAW_DIR"] = str(raw_dir)
    os.environ["CLAIMWIRE_WAREHOUSE"] = str(data_dir / "warehouse.duckdb")
    os.environ["CLAIMWIRE_PUBLISH_DIR"] = str(data_dir / "published")


def run_job(job=None, run_config=None) -> dict:
    """Run the whole claimwire job in process; wall time, per-step times and whether it succeeded."""
    from dagster import DagsterInstance, DagsterEventType

    from pipelines.definitions import defs

    job = job or defs.resolve_job_def("claimwire")
    gc_pauses = _GcPauses()
    with DagsterInstance.ephemeral() as instance:
        _LIVE["instance"] = instance
        started, started_at = time.perf_counter(), time.time()
        with gc_pauses:
            result = job.execute_in_process(
                run_config=run_config or QUIET_RUN_CONFIG, instance=instance, raise_on_error=False
            )
        wall, ended_at = time.perf_counter() - started, time.time()
        starts, ends, failed, errors = {}, {}, [], {}
        for record in instance.all_logs(result.run_id):
            event = record.dagster_event
            if event is None or record.step_key is None:
                continue
            if event.event_type == DagsterEventType.STEP_START:
                starts[record.step_key] = record.timestamp
            elif event.event_type in (DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE):
                ends[record.step_key] = record.timestamp
                if event.event_type == DagsterEventType.STEP_FAILURE:
                    failed.append(record.step_key)
                    error = event.event_specific_data.error
                    while error.cause is not None:  # the user's error behind Dagster's wrappers
                        error = error.cause
                    errors[record.step_key] = f"{error.cls_name}: {error.message}"[:2000]
    _LIVE["instance"] = None
    steps = {
        key: round(ends[key] - starts[key], 3)
        for key in sorted(starts, key=lambda k: starts[k])
        if key in ends
    }
    watch = _LIVE.get("watch")
    if watch is not None:
        time.sleep(0.25)  # a sample after the run's end, to read its CPU at the end
    cpu = watch.cpu_between(started_at, ended_at) if watch else None
    return {
        "steps_peak_rss_mb": watch.peaks(starts, ends) if watch else {},
        "steps_start_rss_mb": watch.at_starts(starts) if watch else {},
        # CPU seconds of every process of the tree (the workers too), and the cores that is on
        # average: what is left for work that could overlap on this machine
        "steps_cpu_s": watch.cpu(starts, ends) if watch else {},
        "cpu_s": cpu,
        # from the wall time as written below, so the JSON's figures agree with each other
        "cores_used": round(cpu / round(wall, 3), 2) if cpu is not None and round(wall, 3) else None,
        "success": result.success,
        "failed_steps": failed,
        "errors": errors,
        "wall_s": round(wall, 3),
        "steps_s": steps,
        "steps_total_s": round(sum(steps.values()), 3),
        "framework_overhead_s": round(wall - sum(steps.values()), 3),
        # the benchmark process's own cyclic garbage collection during the run (not its workers')
        "gc_s": round(gc_pauses.seconds, 3),
        "gc_full_collections": gc_pauses.full_collections,
        # where each check did its work: beside the steps after its asset, alone in its step, or
        # again in its step after running out of DuckDB's memory beside the steps
        "checks_ran": checks_ran(result.get_asset_check_evaluations()),
    }


def checks_ran(evaluations) -> dict[str, str]:
    """Each check evaluation's `beside`, `alone` or `again` (its metadata from the check step)."""
    ran = {}
    for evaluation in evaluations:
        metadata = evaluation.metadata
        if "ran_again_after_beside" in metadata:
            ran[evaluation.check_name] = "again"
        elif "ran_beside_later_steps" in metadata:
            ran[evaluation.check_name] = "beside" if metadata["ran_beside_later_steps"].value else "alone"
    return dict(sorted(ran.items()))


class _GcPauses:
    """Time spent in Python's cyclic garbage collector while active (gc.callbacks)."""

    def __init__(self):
        self.seconds, self.full_collections, self._started = 0.0, 0, None

    def _callback(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        elif self._started is not None:
            self.seconds += time.perf_counter() - self._started
            self.full_collections += info.get("generation") == 2
            self._started = None

    def __enter__(self):
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc):
        gc.callbacks.remove(self._callback)


def stage_summary(steps: dict) -> dict:
    """Steps grouped as the README's stages: the asset steps by name, every check step as `checks`
    (seconds summed; a step without a figure is left out)."""
    stages: dict[str, float] = {}
    for key, seconds in steps.items():
        if seconds is None:
            continue
        name = "checks" if key.endswith("_expectations") else key
        stages[name] = round(stages.get(name, 0.0) + seconds, 3)
    return stages


def stage_peaks(step_peaks: dict) -> dict:
    """The highest RSS sampled during each stage's steps."""
    stages: dict[str, float] = {}
    for key, mb in step_peaks.items():
        name = "checks" if key.endswith("_expectations") else key
        if mb is not None:
            stages[name] = max(stages.get(name, 0.0), mb)
    return stages


# ---------------------------------------------------------------------------------------------
# Quality of the published release against the truth
# ---------------------------------------------------------------------------------------------


def _pairs(counts: pl.Series) -> int:
    return int((counts.cast(pl.Int64) * (counts.cast(pl.Int64) - 1) // 2).sum())


def score_dedup(members: pl.DataFrame, truth: pl.DataFrame) -> dict:
    """Pairwise precision/recall of `cluster_id` over the truth's non-boilerplate passages.

    `members` and `truth` both have `source_path`, `ordinal`; members has `cluster_id`, truth
    `group_id` and `edit`. Also: the share of copies (passages whose group has another member)
    that share a cluster with at least one member of their group, by the edit that made them.
    """
    scored = truth.filter(pl.col("group_id").is_not_null()).join(
        members.select("source_path", "ordinal", "cluster_id"), on=["source_path", "ordinal"], how="inner"
    )
    tp = _pairs(scored.group_by("cluster_id", "group_id").len()["len"])
    predicted = _pairs(scored.group_by("cluster_id").len()["len"])
    true = _pairs(scored.group_by("group_id").len()["len"])
    found = (
        scored.with_columns(
            n_group=pl.len().over("group_id"), n_together=pl.len().over("group_id", "cluster_id")
        )
        .filter(pl.col("n_group") > 1)
        .group_by("edit")
        .agg(n=pl.len(), recall=(pl.col("n_together") > 1).mean())
        .sort("edit")
    )
    return {
        "n_passages": scored.height,
        "n_truth_passages": truth.filter(pl.col("group_id").is_not_null()).height,
        "n_true_pairs": true,
        "n_predicted_pairs": predicted,
        "n_correct_pairs": tp,
        "precision": round(tp / predicted, 4) if predicted else None,
        "recall": round(tp / true, 4) if true else None,
        "copy_recall_by_edit": {r["edit"]: {"n": r["n"], "recall": round(r["recall"], 4)} for r in found.iter_rows(named=True)},
    }


def _triples(frame: pl.DataFrame) -> pl.DataFrame:
    # 9 significant digits: "$1.5bn" may come out as 1.5e9 or 1.4999999999e9
    return frame.select(
        "source_path",
        pl.col("value_low").round_sig_figs(9),
        pl.col("value_high").round_sig_figs(9),
        "unit",
    ).group_by("source_path", "value_low", "value_high", "unit").len("n")


def score_claims(predicted: pl.DataFrame, truth: pl.DataFrame) -> dict:
    """Precision/recall of (value_low, value_high, unit) per article, as multisets."""
    p, t = _triples(predicted), _triples(truth)
    keys = ["source_path", "value_low", "value_high", "unit"]
    tp = int(p.join(t, on=keys, suffix="_t").select(pl.min_horizontal("n", "n_t").sum()).item() or 0)
    n_pred, n_true = int(p["n"].sum() or 0), int(t["n"].sum() or 0)
    return {
        "n_truth": n_true,
        "n_predicted": n_pred,
        "n_correct": tp,
        "precision": round(tp / n_pred, 4) if n_pred else None,
        "recall": round(tp / n_true, 4) if n_true else None,
    }


def score_release(publish_dir: Path, truth_dir: Path, batches: tuple[str, ...]) -> dict:
    release = publish_dir.resolve()
    documents = pl.read_parquet(release / "documents" / "*.parquet", columns=["doc_id", "source_path"])
    passages = pl.read_parquet(release / "passages" / "*.parquet", columns=["doc_id", "ordinal", "cluster_id"])
    members = passages.join(documents, on="doc_id")
    claim_cols = ["doc_id", "value_low", "value_high", "unit"]
    claims = pl.concat(
        [pl.read_parquet(release / table / "*.parquet", columns=claim_cols) for table in ("claims", "quarantine")]
    ).join(documents, on="doc_id")
    truth_passages = pl.read_parquet(truth_dir / "passages.parquet").filter(pl.col("batch").is_in(batches))
    truth_claims = pl.read_parquet(truth_dir / "claims.parquet").filter(pl.col("batch").is_in(batches))
    return {
        "dedup": score_dedup(members.with_columns(pl.col("ordinal").cast(pl.Int32)), truth_passages),
        "claims": score_claims(claims, truth_claims),
        "n_quarantined": pl.read_parquet(release / "quarantine" / "*.parquet", columns=["claim_id"]).height,
    }


# ---------------------------------------------------------------------------------------------
# Peers: dedup
# ---------------------------------------------------------------------------------------------


def _shingle_strings(norm_texts: list[str], k: int) -> list[list[str]]:
    """Our shingles as strings: distinct word k-grams of the normalised text (a shorter text is one shingle)."""
    out = []
    for text in norm_texts:
        tokens = text.split(" ")
        if len(tokens) < k:
            out.append([" ".join(tokens)])
        else:
            out.append(list(dict.fromkeys(" ".join(tokens[i:i + k]) for i in range(len(tokens) - k + 1))))
    return out


def _components(n: int, pairs) -> list[int]:
    parent = list(range(n))

    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in pairs:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return [find(i) for i in range(n)]


def _score_pairs(index_truth: pl.DataFrame, candidate_pairs, accepted_pairs) -> dict:
    """Candidate recall, and pairwise precision/recall of the clusters the accepted pairs make."""
    true_total = _pairs(index_truth.group_by("group_id").len()["len"])

    def together(pairs) -> tuple[int, int]:
        clustered = index_truth.with_columns(cluster=pl.Series(_components(index_truth.height, pairs)))
        return (
            _pairs(clustered.group_by("cluster", "group_id").len()["len"]),
            _pairs(clustered.group_by("cluster").len()["len"]),
        )

    # Candidates are compared as components too: ours links an exact twin to one representative
    # only (a star, not a clique), so raw pair counts would understate what it finds.
    cand_tp, _ = together(candidate_pairs)
    tp, predicted = together(accepted_pairs)
    return {
        "n_candidate_pairs": len(candidate_pairs),
        "candidate_recall": round(cand_tp / true_total, 4) if true_total else None,
        "precision": round(tp / predicted, 4) if predicted else None,
        "recall": round(tp / true_total, 4) if true_total else None,
    }


def bench_dedup_peers(publish_dir: Path, truth_dir: Path, max_passages: int) -> dict:
    """Ours vs datasketch vs rensa: the signature + LSH candidate stage on the same passages."""
    from pipelines.lib.dedup import DedupConfig, candidate_pairs, cluster_passages, compute_signatures, normalised_text, verify_pairs

    config = DedupConfig()
    release = publish_dir.resolve()
    documents = pl.read_parquet(release / "documents" / "*.parquet", columns=["doc_id", "source_path"])
    passages = (
        pl.read_parquet(release / "passages" / "*.parquet", columns=["passage_id", "doc_id", "ordinal", "text", "is_boilerplate"])
        .filter(~pl.col("is_boilerplate"))
        .join(documents, on="doc_id")
        .sort("passage_id")
    )
    # Passages whose normalised text is empty are never signed by anyone; keep the inputs identical.
    passages = passages.with_columns(norm=normalised_text(pl.col("text"))).filter(pl.col("norm").str.len_chars() > 0)
    n_total = passages.height
    if n_total > max_passages:
        # whole documents, so copies inside the sample keep their truth
        keep = passages.select("doc_id").unique(maintain_order=True).sample(fraction=max_passages / n_total, seed=SEED)
        passages = passages.join(keep, on="doc_id", how="semi")
    passages = passages.with_row_index("i")
    n = passages.height
    truth = pl.read_parquet(truth_dir / "passages.parquet", columns=["source_path", "ordinal", "group_id"])
    index_truth = (
        passages.select("i", "source_path", pl.col("ordinal").cast(pl.Int32))
        .join(truth, on=["source_path", "ordinal"], how="left")
        .sort("i")
        .with_columns(pl.coalesce("group_id", pl.concat_str(pl.lit("untracked-"), pl.col("i").cast(pl.Utf8))))
        .select("i", "group_id")
    )
    result: dict = {"n_passages": n, "n_passages_available": n_total, "num_perm": config.num_perm,
                    "bands": config.bands, "rows_per_band": config.rows_per_band, "shingle_size": config.shingle_size}
    _say(f"dedup peers on {n:,} passages")

    # --- ours: compute_signatures + candidate_pairs, from the raw passage text
    frame = passages.select("passage_id", "doc_id", "text")
    empty_history = pl.DataFrame(schema=dict(compute_signatures(frame.head(0), config)[0].schema))
    t0 = time.perf_counter()
    signatures, shingles = compute_signatures(frame, config)
    t1 = time.perf_counter()
    exact, lsh = candidate_pairs(signatures, empty_history, config)
    t2 = time.perf_counter()
    matches = verify_pairs(exact, lsh, shingles, config)
    members, _ = cluster_passages(
        passages.select("passage_id", "doc_id", pl.lit(0).alias("char_start"), pl.col("text").str.len_chars().alias("char_end"),
                        pl.lit(None, dtype=pl.Datetime("us")).alias("published_at")),
        matches,
    )
    t3 = time.perf_counter()
    idx = dict(zip(passages["passage_id"], passages["i"]))
    candidates = [(idx[a], idx[b]) for a, b in pl.concat([exact, lsh]).iter_rows()]
    accepted = [(idx[a], idx[b]) for a, b in matches.select("passage_id_a", "passage_id_b").iter_rows()]
    ours_s = t2 - t0
    result["ours"] = {
        "signatures_s": round(t1 - t0, 3), "candidates_s": round(t2 - t1, 3), "verify_and_cluster_s": round(t3 - t2, 3),
        "seconds": round(ours_s, 3), "passages_per_s": round(n / ours_s),
        "accept_rule": f"exact Jaccard >= {config.jaccard_threshold} or containment >= {config.containment_threshold}",
        **_score_pairs(index_truth, candidates, accepted),
    }
    del members

    # --- shared input of the peers: our normalisation, our shingles, as strings
    t0 = time.perf_counter()
    norm = passages["norm"].to_list()
    shingle_sets = _shingle_strings(norm, config.shingle_size)
    prep_s = time.perf_counter() - t0
    result["peer_shingle_prep_s"] = round(prep_s, 3)

    def verified(candidate_list, jaccard):
        return [(a, b) for a, b in candidate_list if jaccard(a, b) >= config.jaccard_threshold]

    # --- datasketch
    from datasketch import MinHash, MinHashLSH

    t0 = time.perf_counter()
    encoded = [[s.encode("utf-8") for s in shingle_set] for shingle_set in shingle_sets]
    hashes = MinHash.bulk(encoded, num_perm=config.num_perm, seed=1)
    t1 = time.perf_counter()
    lsh_index = MinHashLSH(num_perm=config.num_perm, params=(config.bands, config.rows_per_band))
    with lsh_index.insertion_session() as session:
        for i, m in enumerate(hashes):
            session.insert(i, m, check_duplication=False)
    ds_pairs = set()
    for i, m in enumerate(hashes):
        for j in lsh_index.query(m):
            if j != i:
                ds_pairs.add((min(i, j), max(i, j)))
    t2 = time.perf_counter()
    ds_pairs = sorted(ds_pairs)
    ds_accepted = verified(ds_pairs, lambda a, b: hashes[a].jaccard(hashes[b]))
    t3 = time.perf_counter()
    ds_s = prep_s + (t2 - t0)
    result["datasketch"] = {
        "signatures_s": round(t1 - t0, 3), "candidates_s": round(t2 - t1, 3), "verify_s": round(t3 - t2, 3),
        "seconds": round(ds_s, 3), "passages_per_s": round(n / ds_s), "passages_per_s_without_prep": round(n / (t2 - t0)),
        "accept_rule": f"MinHash-estimated Jaccard >= {config.jaccard_threshold}",
        **_score_pairs(index_truth, ds_pairs, ds_accepted),
    }
    del hashes, lsh_index, encoded

    # --- rensa (the object API: one RMinHash per passage, RMinHashLSH insert + query)
    from rensa import RMinHash, RMinHashLSH

    t0 = time.perf_counter()
    rhashes = []
    for shingle_set in shingle_sets:
        m = RMinHash(num_perm=config.num_perm, seed=config.seed)
        m.update(shingle_set)
        rhashes.append(m)
    t1 = time.perf_counter()
    rlsh = RMinHashLSH(threshold=config.jaccard_threshold, num_perm=config.num_perm, num_bands=config.bands)
    for i, m in enumerate(rhashes):
        rlsh.insert(i, m)
    r_pairs = set()
    for i, m in enumerate(rhashes):
        for j in rlsh.query(m):
            if j != i:
                r_pairs.add((min(i, j), max(i, j)))
    t2 = time.perf_counter()
    r_pairs = sorted(r_pairs)
    r_accepted = verified(r_pairs, lambda a, b: rhashes[a].jaccard(rhashes[b]))
    t3 = time.perf_counter()
    r_s = prep_s + (t2 - t0)
    result["rensa"] = {
        "signatures_s": round(t1 - t0, 3), "candidates_s": round(t2 - t1, 3), "verify_s": round(t3 - t2, 3),
        "seconds": round(r_s, 3), "passages_per_s": round(n / r_s), "passages_per_s_without_prep": round(n / (t2 - t0)),
        "accept_rule": f"MinHash-estimated Jaccard >= {config.jaccard_threshold}",
        **_score_pairs(index_truth, r_pairs, r_accepted),
    }
    result["speedup_vs_datasketch"] = round(ds_s / ours_s, 2)
    result["speedup_vs_rensa"] = round(r_s / ours_s, 2)
    result["note"] = (
        "passages/s = passages / (signatures + LSH candidates). Ours starts from raw passage text "
        "(normalisation and shingling included); the peers start from our normalised text and "
        "include building the shingle strings (peer_shingle_prep_s). Precision/recall are pairwise "
        "over the truth after each tool's own acceptance rule; candidate_recall is before it."
    )
    return result


# ---------------------------------------------------------------------------------------------
# Peers: extraction
# ---------------------------------------------------------------------------------------------

_SENTENCE_SPLIT = re.compile(r"(?<=[.!?”])\s+(?=[A-Z“])")


def _sentences(publish_dir: Path, truth_dir: Path, limit: int) -> pl.DataFrame:
    """Distinct body sentences of the release (whole documents, in order; a sentence already
    taken, as in a reprint, is skipped) with the truth claims inside each. Distinct, since
    `extract_claims` reads a repeated text once: the same sentences twice would time that, not
    extraction."""
    release = publish_dir.resolve()
    documents = pl.read_parquet(release / "documents" / "*.parquet", columns=["doc_id", "source_path"])
    passages = (
        pl.read_parquet(release / "passages" / "*.parquet", columns=["doc_id", "ordinal", "char_start", "text", "is_boilerplate"])
        .filter(~pl.col("is_boilerplate"))
        .join(documents, on="doc_id")
        .sort("source_path", "ordinal")
    )
    rows, seen = [], set()
    for doc_id, source_path, start, text in passages.select("doc_id", "source_path", "char_start", "text").iter_rows():
        offset = 0
        for sentence in _SENTENCE_SPLIT.split(text):
            at = text.index(sentence, offset)
            if sentence not in seen:
                seen.add(sentence)
                rows.append((doc_id, source_path, start + at, start + at + len(sentence), sentence))
            offset = at + len(sentence)
        if len(rows) >= limit:
            break
    sentences = pl.DataFrame(rows, schema=["doc_id", "source_path", "s_start", "s_end", "text"], orient="row").head(limit)
    sentences = sentences.with_row_index("sentence_no")
    truth = pl.read_parquet(truth_dir / "claims.parquet", columns=["source_path", "char_start", "value_low", "value_high", "unit"])
    located = sentences.select("sentence_no", "source_path", "s_start", "s_end").join(truth, on="source_path").filter(
        (pl.col("char_start") >= pl.col("s_start")) & (pl.col("char_start") < pl.col("s_end"))
    )
    return sentences, located.select("sentence_no", "value_low", "value_high", "unit")


def _value_scores(predicted: dict, truth: pl.DataFrame) -> dict:
    """Value-level precision/recall per sentence, units ignored (quantulum3 names units its own way).

    A truth claim is found when its low and high values are both among the sentence's predicted
    values; a predicted value is right when it is the low or high value of a truth claim there.
    """
    truth_values: dict[int, list[tuple[float, float]]] = {}
    for no, lo, hi in truth.select("sentence_no", "value_low", "value_high").iter_rows():
        truth_values.setdefault(no, []).append((lo, hi))

    def close(a: float, b: float) -> bool:
        return abs(a - b) <= 1e-6 * max(1.0, abs(b))

    found = sum(
        1 for no, claims in truth_values.items() for lo, hi in claims
        if any(close(v, lo) for v in predicted.get(no, ())) and any(close(v, hi) for v in predicted.get(no, ()))
    )
    n_pred = sum(len(v) for v in predicted.values())
    right = sum(
        1 for no, values in predicted.items() for v in values
        if any(close(v, lo) or close(v, hi) for lo, hi in truth_values.get(no, ()))
    )
    n_truth = sum(len(c) for c in truth_values.values())
    return {
        "n_truth": n_truth, "n_predicted_values": n_pred,
        "value_precision": round(right / n_pred, 4) if n_pred else None,
        "value_recall": round(found / n_truth, 4) if n_truth else None,
    }


SAMPLE_TIMINGS = 3


def bench_extraction_peers(publish_dir: Path, truth_dir: Path, n_sentences: int, n_quantulum: int) -> dict:
    from pipelines.lib.claims import extract_claims, load_aliases, load_taxonomy

    sentences, truth = _sentences(publish_dir, truth_dir, n_sentences)
    taxonomy, aliases = load_taxonomy(), load_aliases()
    frame = sentences.select(
        passage_id=pl.concat_str(pl.lit("s"), pl.col("sentence_no").cast(pl.Utf8)),
        doc_id="doc_id",
        ordinal=(pl.int_range(pl.len()).over("doc_id") + 1).cast(pl.Int32),
        char_start=pl.lit(0, dtype=pl.Int32),
        text="text",
        is_boilerplate=pl.lit(False),
    )
    _say(f"extraction peers: ours on {frame.height:,} sentences, quantulum3 on {min(n_quantulum, frame.height):,}")
    extract_claims(frame.head(20), taxonomy, aliases)  # warm-up: pint and the alias matcher load once
    t0 = time.perf_counter()
    ours_all = extract_claims(frame, taxonomy, aliases)
    ours_s = time.perf_counter() - t0

    # On the same sample each side is timed SAMPLE_TIMINGS times and its fastest pass is taken:
    # ours reads 1,000 sentences in about 0.1 s, where one pause of a shared machine halved the
    # ratio in one run of the fifteenth session (0.23 against 0.12 s for the same code).
    sample = frame.head(n_quantulum)
    ours_sample_s = math.inf
    for _ in range(SAMPLE_TIMINGS):
        t0 = time.perf_counter()
        ours_sample = extract_claims(sample, taxonomy, aliases)
        ours_sample_s = min(ours_sample_s, time.perf_counter() - t0)

    def ours_values(claims: pl.DataFrame) -> dict:
        values: dict[int, list[float]] = {}
        for pid, lo, hi in claims.select("passage_id", "value_low", "value_high").iter_rows():
            values.setdefault(int(pid[1:]), []).extend({lo, hi})
        return values

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from quantulum3 import classifier as q_classifier
        from quantulum3 import parser as q_parser
    # Its unit classifier needs scikit-learn (which does not load it at 1.9): force it off either way.
    q_classifier.USE_CLF = False
    q_parser.parse("Russia will pay North Korea over $200 million a year.")  # warm-up: unit tables load once
    texts = sample["text"].to_list()
    q_s = math.inf
    for _ in range(SAMPLE_TIMINGS):  # the values and errors of every pass are the same: the last is kept
        q_values: dict[int, list[float]] = {}
        n_errors = 0
        t0 = time.perf_counter()
        for no, text in enumerate(texts):
            try:
                quantities = q_parser.parse(text)
            except Exception:  # a peer's crash on one sentence is a data point, not a benchmark failure
                n_errors += 1
                continue
            for q in quantities:
                values = [q.value] if not getattr(q, "uncertainty", None) else [q.value - q.uncertainty, q.value + q.uncertainty, q.value]
                q_values.setdefault(no, []).extend(float(v) for v in values)
        q_s = min(q_s, time.perf_counter() - t0)

    sample_truth = truth.filter(pl.col("sentence_no") < len(texts))
    ours_triples = ours_all.select(
        sentence_no=pl.col("passage_id").str.slice(1).cast(pl.UInt32), value_low="value_low", value_high="value_high", unit="unit"
    )
    exact = score_claims(
        ours_triples.with_columns(source_path=pl.col("sentence_no").cast(pl.Utf8)),
        truth.with_columns(source_path=pl.col("sentence_no").cast(pl.Utf8)),
    )
    return {
        "n_sentences": frame.height,
        "ours": {
            "seconds": round(ours_s, 3), "sentences_per_s": round(frame.height / ours_s),
            "sample_seconds": round(ours_sample_s, 3), "sample_sentences_per_s": round(len(texts) / ours_sample_s),
            "triple_scores_all_sentences": exact,
            **_value_scores(ours_values(ours_sample), sample_truth),
        },
        "quantulum3": {
            "version": _version("quantulum3"), "classifier": bool(q_classifier.USE_CLF),
            "n_sentences": len(texts), "seconds": round(q_s, 3), "sentences_per_s": round(len(texts) / q_s, 1),
            "n_errors": n_errors,
            **_value_scores(q_values, sample_truth),
        },
        "speedup_vs_quantulum3": round((frame.height / ours_s) / (len(texts) / q_s), 1),
        "speedup_vs_quantulum3_same_sample": round((len(texts) / ours_sample_s) / (len(texts) / q_s), 1),
        "note": "value precision/recall on the quantulum3 sample ignore units; quantulum3 names units its own way.",
    }


# ---------------------------------------------------------------------------------------------
# Profile of one step
# ---------------------------------------------------------------------------------------------


class _StepProfiler(logging.Handler):
    """Switches a cProfile.Profile on at the step's STEP_START and off at its end."""

    def __init__(self, step_keys: set[str], profiler: cProfile.Profile):
        super().__init__(level=1)
        self.step_keys = step_keys
        self.profiler = profiler
        self.seconds = 0.0
        self._started = None

    def emit(self, record: logging.LogRecord) -> None:
        meta = getattr(record, "dagster_meta", None) or {}
        event = meta.get("dagster_event") if isinstance(meta, dict) else None
        event = event or getattr(record, "dagster_event", None)
        if event is None or getattr(event, "step_key", None) not in self.step_keys:
            return
        kind = event.event_type_value
        if kind == "STEP_START" and self._started is None:
            self._started = time.perf_counter()
            self.profiler.enable()
        elif kind in ("STEP_SUCCESS", "STEP_FAILURE") and self._started is not None:
            self.profiler.disable()
            self.seconds += time.perf_counter() - self._started
            self._started = None


def profile_stage(stage: str, step_keys: list[str], raw_dir: Path, data_dir: Path, top: int = 15) -> dict:
    """A fresh run with cProfile on only during the stage's steps; top entries by cumulative and own time."""
    from dagster import logger as dagster_logger

    from pipelines.definitions import defs

    profiler = cProfile.Profile()
    handler = _StepProfiler(set(step_keys), profiler)

    @dagster_logger
    def step_profiler(_init_context):
        log = logging.Logger("claimwire.bench.profiler", level=1)
        log.addHandler(handler)
        return log

    job = defs.resolve_job_def("claimwire").with_logger_defs({"step_profiler": step_profiler})
    _point_env_at(raw_dir, data_dir)
    run = run_job(job=job, run_config={"loggers": {"step_profiler": {}}})
    stats = pstats.Stats(profiler)
    framework = re.compile(r"/(?:dagster|dagster_[a-z_]+)/|contextlib\.py|threading\.py|<frozen|^~$|^<string>$|cProfile")

    def entries(sort_key: str, skip_framework: bool) -> list[dict]:
        rows = []
        for (filename, line, name), (cc, nc, tt, ct, _callers) in sorted(
            stats.stats.items(), key=lambda item: item[1][3 if sort_key == "cumulative" else 2], reverse=True
        ):
            if skip_framework and framework.search(filename):
                continue
            short = filename.replace(str(PROJECT_ROOT) + "/", "")
            short = re.sub(r".*/site-packages/", "", short)
            rows.append({"function": f"{short}:{line}({name})", "ncalls": nc, "tottime_s": round(tt, 3), "cumtime_s": round(ct, 3)})
            if len(rows) == top:
                break
        return rows

    return {
        "stage": stage,
        "steps": step_keys,
        "profiled_seconds": round(handler.seconds, 3) if handler.seconds else None,
        "run_success": run["success"],
        "top_cumulative": entries("cumulative", skip_framework=True),
        "top_own_time": entries("tottime", skip_framework=False),
        "note": "a fresh run in the same process (libraries already imported) on the same raw folder; cProfile on "
                "only from each of the stage's steps' STEP_START to its STEP_SUCCESS. "
                "top_cumulative omits Dagster's own wrapper frames (dagster/, contextlib, threading).",
    }


# ---------------------------------------------------------------------------------------------
# The Spark engine on the same corpus
# ---------------------------------------------------------------------------------------------

SPARK_MASTERS = ("local[1]", "local[2]")
RUN_STAMPED = {"ingested_at", "ingest_batch_id", "seen_at", "first_seen_at"}


def _release_rows(publish_dir: Path) -> dict[str, int]:
    manifest = json.loads((publish_dir / "_manifest.json").read_text(encoding="utf-8"))
    return {t: v["rows"] for t, v in manifest["tables"].items()}


def _releases_equal(a: Path, b: Path) -> bool:
    """The two releases hold the same rows (order aside), run-stamped columns left out."""
    import duckdb

    with duckdb.connect() as conn:
        for table in _release_rows(a):
            columns = [r[0] for r in conn.execute(f"describe select * from read_parquet('{a}/{table}/*.parquet')").fetchall()]
            kept = ", ".join(f'"{c}"' for c in columns if c not in RUN_STAMPED)
            diff = conn.execute(
                f"select count(*) from ((select {kept} from read_parquet('{a}/{table}/*.parquet') except all "
                f"select {kept} from read_parquet('{b}/{table}/*.parquet')) union all "
                f"(select {kept} from read_parquet('{b}/{table}/*.parquet') except all "
                f"select {kept} from read_parquet('{a}/{table}/*.parquet')))"
            ).fetchall()[0][0]
            if diff:
                return False
    return True


def bench_spark(n: int, n_bytes: int, raw: Path, work: Path, embedded_release: Path, embedded_wall_s: float, save, result) -> dict:
    """The whole job with CLAIMWIRE_ENGINE=spark on local[1] and local[2], on the embedded run's corpus.

    Each master gets a fresh warehouse; wall time includes starting the Spark session (once per
    run). The Spark stages run in the JVM and its Python workers, so the process's peak RSS is
    not reported for them.
    """
    out: dict = {"embedded_wall_s": embedded_wall_s, "runs": {}}
    try:
        os.environ["CLAIMWIRE_ENGINE"] = "spark"
        for master in SPARK_MASTERS:
            _say(f"{n:,} articles: full run on Spark {master}")
            data = work / f"data-spark-{master.strip('local[]')}"
            _point_env_at(raw, data)
            os.environ["CLAIMWIRE_SPARK_MASTER"] = master
            run = run_job()
            run.pop("steps_peak_rss_mb", None)
            run.pop("steps_start_rss_mb", None)
            run["documents_per_s"] = round(n / run["wall_s"], 1)
            run["mb_per_s"] = round(n_bytes / 1e6 / run["wall_s"], 3)
            run["stages_s"] = stage_summary(run["steps_s"])
            if run["success"]:
                run["release_equals_embedded"] = _releases_equal(embedded_release, data / "published")
            out["runs"][master] = run
            result["spark"] = out
            save()
            shutil.rmtree(data, ignore_errors=True)
    finally:
        os.environ.pop("CLAIMWIRE_ENGINE", None)
        os.environ.pop("CLAIMWIRE_SPARK_MASTER", None)
    one, two = (out["runs"].get(m, {}).get("wall_s") for m in SPARK_MASTERS)
    if one and two:
        out["speedup_2_cores_vs_1"] = round(one / two, 2)
    return out


# ---------------------------------------------------------------------------------------------
# One size (the worker subprocess)
# ---------------------------------------------------------------------------------------------


def _snapshot_for_replay(work: Path, data: Path, full: dict) -> None:
    """The state the incremental run starts from, for `benchmarks.replay`: the warehouse,
    release and Data Docs as the full run left them, and the full run's figures. Outside the
    timed runs (`bench_size` syncs the copy's writes to disk before the incremental run)."""
    _say(f"copying {data} for replays")
    shutil.copytree(data, work / REPLAY_STATE, symlinks=True)
    (work / REPLAY_FULL_RUN).write_text(json.dumps(full, indent=2, default=str), encoding="utf-8")


def _sync() -> float:
    """Write every file's pending changes to disk (`os.sync`); the seconds it took."""
    started = time.perf_counter()
    os.sync()
    return round(time.perf_counter() - started, 2)


# what `--keep-for-replay` leaves in a size's folder (read by benchmarks.replay)
REPLAY_STATE = "data_before_incremental"
REPLAY_FULL_RUN = "full_run.json"


def repeat_incremental(work: Path, raw: Path, full: dict, first: dict, more: int) -> dict:
    """The incremental run `more` times again, each on a fresh copy of the state it started from
    (`_snapshot_for_replay`'s, synced to disk first), timed as the first: on a shared machine one
    run of the same batch on the same state took 9.9-12.3 s at 100,000 articles, so the median of
    several says more than any one. Each run's wall time and share of the full run, and the
    median's; `first` is the benchmark's own incremental run, counted among them."""
    runs = [first]
    for i in range(more):
        copy = work / f"incremental-{i + 2}"
        shutil.copytree(work / REPLAY_STATE, copy, symlinks=True)
        _sync()
        _point_env_at(raw, copy)
        try:
            run = run_job()
        finally:
            shutil.rmtree(copy, ignore_errors=True)
        if not run["success"]:
            raise RuntimeError(f"incremental run {i + 2} failed in {run['failed_steps']}: {run['errors']}")
        run["stages_s"] = stage_summary(run["steps_s"])
        runs.append(run)
    median = statistics.median(run["wall_s"] for run in runs)
    return {
        "runs": [
            {"wall_s": run["wall_s"], "share_of_full_run": round(run["wall_s"] / full["wall_s"], 4), "stages_s": run["stages_s"]}
            for run in runs
        ],
        "median_wall_s": median,
        "median_share_of_full_run": round(median / full["wall_s"], 4),
    }


def bench_size(args, out_path: Path) -> dict:
    n = args.articles[0]
    holdout = max(1, n // 100)
    work = Path(tempfile.mkdtemp(prefix=f"claimwire-bench-{n}-", dir=args.work_dir))
    result: dict = {"articles": n, "holdout_articles": holdout, "work_dir": str(work), "status": "running"}

    def save():
        out_path.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")

    watch = _Watch(result, save, args.max_rss_gb * 1024, args.timeout)
    _LIVE["watch"] = watch
    if not args.keep:
        watch.cleanup = lambda: shutil.rmtree(work, ignore_errors=True)
    watch.start()
    result["load_average_at_start"] = os.getloadavg()
    try:
        _say(f"{n:,} articles: generating the corpus in {work}")
        t0 = time.perf_counter()
        from benchmarks.corpus import write_corpus

        stats = write_corpus(work / "corpus", n, seed=args.seed, n_holdout=holdout)
        result["corpus"] = {**stats.__dict__, "seconds": round(time.perf_counter() - t0, 2), "seed": args.seed}
        result["peak_rss_mb_after_corpus"] = round(_peak_rss_mb(), 1)
        # The corpus's files go to disk before the full run, as files that arrive in a raw
        # folder have long been written: the kernel's writeback of a third of a gigabyte is
        # not the ingest's cost (in the ingest step it made the step 15-19 s from run to run).
        result["sync_after_corpus_s"] = _sync()
        raw, truth_dir, data = work / "corpus" / "raw", work / "corpus" / "truth", work / "data"
        _point_env_at(raw, data)

        _say(f"{n:,} articles: full run")
        watch.start_clock()
        since = _reset_peak()
        full = run_job()
        full["peak_rss_mb"] = round(_peak_rss_mb(since), 1)
        full["documents_per_s"] = round(n / full["wall_s"], 1)
        full["mb_per_s"] = round(stats.n_bytes / 1e6 / full["wall_s"], 3)
        full["stages_s"] = stage_summary(full["steps_s"])
        full["stages_peak_rss_mb"] = stage_peaks(full["steps_peak_rss_mb"])
        full["stages_cpu_s"] = stage_summary(full["steps_cpu_s"])
        result["full_run"] = full
        save()
        if not full["success"]:
            raise RuntimeError(f"the full run failed in {full['failed_steps']}")
        result["quality"] = score_release(data / "published", truth_dir, ("raw",))
        save()
        if args.spark:
            result["spark"] = bench_spark(n, stats.n_bytes, raw, work, data / "published", full["wall_s"], save, result)
            _point_env_at(raw, data)
            save()

        if args.keep_for_replay or args.incremental_runs > 1:
            _snapshot_for_replay(work, data, full)
        # The full run's writes (and a replay copy's) still in the page cache go to disk before
        # the batch is timed, as when `benchmarks.replay` starts from a kept state: a batch
        # arrives at a warehouse at rest, and the kernel's writeback is not the batch's cost.
        result["sync_before_incremental_s"] = _sync()
        _say(f"{n:,} articles: incremental run (+{holdout:,} articles)")
        for path in sorted((work / "corpus" / "holdout").rglob("*.txt")):
            target = raw / path.relative_to(work / "corpus" / "holdout")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(path, target)
        since = _reset_peak()
        incremental = run_job()
        incremental["peak_rss_mb"] = round(_peak_rss_mb(since), 1)
        incremental["stages_s"] = stage_summary(incremental["steps_s"])
        incremental["share_of_full_run"] = round(incremental["wall_s"] / full["wall_s"], 4)
        result["incremental_run"] = incremental
        save()
        if incremental["success"]:
            result["quality_after_incremental"] = score_release(data / "published", truth_dir, ("raw", "holdout"))
        else:
            result["status"] = "incremental_failed"
            _say(f"{n:,} articles: the incremental run failed: {incremental['errors']}")
        save()
        if incremental["success"] and args.incremental_runs > 1:
            _say(f"{n:,} articles: the incremental run {args.incremental_runs - 1} more times, each on a copy of its state")
            result["incremental_runs"] = repeat_incremental(work, raw, full, incremental, args.incremental_runs - 1)
            _point_env_at(raw, data)
            save()
        if args.incremental_runs > 1 and not args.keep_for_replay:
            shutil.rmtree(work / REPLAY_STATE, ignore_errors=True)
            (work / REPLAY_FULL_RUN).unlink(missing_ok=True)

        if not args.skip_peers:
            result["peers"] = {
                "dedup": bench_dedup_peers(data / "published", truth_dir, args.peer_max_passages),
            }
            save()
            result["peers"]["extraction"] = bench_extraction_peers(
                data / "published", truth_dir, args.extract_sentences, args.quantulum_sentences
            )
            result["peak_rss_mb_after_peers"] = round(_peak_rss_mb(), 1)
            save()

        if args.profile:
            slowest = max(full["stages_s"], key=full["stages_s"].get)
            keys = [k for k in full["steps_s"] if stage_summary({k: 0.0}).keys() == {slowest}]
            _say(f"{n:,} articles: profiling stage {slowest} ({len(keys)} steps) in a fresh run")
            result["profile"] = profile_stage(slowest, keys, raw, work / "profile-data")
        result["status"] = "ok"
        result["load_average_at_end"] = os.getloadavg()
    except Exception as err:  # recorded in the result: the parent reports how far a size got
        result["status"] = "failed"
        result["error"] = f"{type(err).__name__}: {err}"
        raise
    finally:
        save()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    return result


# ---------------------------------------------------------------------------------------------
# The parent: machine, sizes, table
# ---------------------------------------------------------------------------------------------


def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def machine_info() -> dict:
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    total_kb = int(re.search(r"MemTotal:\s+(\d+)", meminfo).group(1)) if "MemTotal" in meminfo else None

    def command(*argv):
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return None

    cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text()) if Path("/proc/cpuinfo").exists() else None
    return {
        "nproc": command("nproc"),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu.group(1) if cpu else platform.processor(),
        "memory_gb": round(total_kb / 1024 / 1024, 1) if total_kb else None,
        "free_g": command("free", "-g"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": {p: _version(p) for p in PACKAGES},
    }


def run_size(n: int, args, profile: bool) -> dict:
    handle, name = tempfile.mkstemp(prefix=f"claimwire-bench-{n}-", suffix=".json")
    os.close(handle)
    out = Path(name)
    argv = [sys.executable, "-m", "benchmarks.run", "--worker", str(out), "--articles", str(n), "--seed", str(args.seed),
            "--peer-max-passages", str(args.peer_max_passages), "--extract-sentences", str(args.extract_sentences),
            "--quantulum-sentences", str(args.quantulum_sentences), "--timeout", str(args.timeout),
            "--max-rss-gb", str(args.max_rss_gb), "--incremental-runs", str(args.incremental_runs)]
    argv += ["--skip-peers"] if args.skip_peers else []
    argv += ["--spark"] if args.spark else []
    argv += ["--profile"] if profile else []
    argv += ["--keep"] if args.keep or args.keep_for_replay else []
    argv += ["--keep-for-replay"] if args.keep_for_replay else []
    argv += ["--work-dir", str(args.work_dir)] if args.work_dir else []
    tail: list[str] = []
    started = time.perf_counter()
    with subprocess.Popen(argv, cwd=PROJECT_ROOT, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True) as proc:
        timed_out = False
        # a backstop only: the worker stops itself at --timeout (counted from its full run) and saves
        deadline = started + 3 * args.timeout + 600 if args.timeout else None
        for line in proc.stderr:
            if line.startswith(PROGRESS):
                print(line.rstrip(), file=sys.stderr, flush=True)
            else:
                tail = (tail + [line.rstrip()])[-40:]
            if deadline and time.perf_counter() > deadline:
                timed_out = True
                proc.kill()
                break
        proc.wait()
    try:
        result = json.loads(out.read_text(encoding="utf-8")) if out.stat().st_size else {"articles": n}
    finally:
        out.unlink(missing_ok=True)
    result["worker_seconds"] = round(time.perf_counter() - started, 1)
    if timed_out:
        result["status"] = "timeout"
        result["error"] = f"killed by the parent after {result['worker_seconds']} s"
    elif proc.returncode != 0:
        if result.get("status") not in ("failed", "timeout", "memory_limit"):
            result["status"] = "failed"
        result["stderr_tail"] = tail
    return result


def _fmt(value, spec: str = "") -> str:
    return "-" if value is None else format(value, spec)


def table(results: list[dict]) -> str:
    lines = []
    head = f"{'articles':>9} {'status':>8} {'e2e s':>8} {'docs/s':>8} {'MB/s':>6} {'peak MB':>8} {'incr s':>7} {'incr %':>7} {'dedup P/R':>13} {'claims P/R':>13}"
    lines += [head, "-" * len(head)]
    for r in results:
        full, inc, q = r.get("full_run", {}), r.get("incremental_run", {}), r.get("quality", {})
        dd, cl = q.get("dedup", {}), q.get("claims", {})
        share = inc.get("share_of_full_run")
        lines.append(
            f"{r['articles']:>9,} {r.get('status', '?'):>8} {_fmt(full.get('wall_s'), '.1f'):>8} {_fmt(full.get('documents_per_s'), '.0f'):>8} "
            f"{_fmt(full.get('mb_per_s'), '.2f'):>6} {_fmt(full.get('peak_rss_mb'), '.0f'):>8} {_fmt(inc.get('wall_s'), '.1f'):>7} "
            f"{_fmt(share * 100 if share is not None else None, '.1f'):>7} "
            f"{_fmt(dd.get('precision'), '.3f'):>6}/{_fmt(dd.get('recall'), '.3f'):<6} {_fmt(cl.get('precision'), '.3f'):>6}/{_fmt(cl.get('recall'), '.3f'):<6}"
        )
    lines.append("")
    stages = sorted({s for r in results for s in r.get("full_run", {}).get("stages_s", {})},
                    key=lambda s: -max(r.get("full_run", {}).get("stages_s", {}).get(s, 0) for r in results))
    if stages:
        lines.append("stage seconds (full run):")
        lines.append(f"  {'stage':<34}" + "".join(f"{r['articles']:>12,}" for r in results))
        for s in stages:
            lines.append(f"  {s:<34}" + "".join(f"{_fmt(r.get('full_run', {}).get('stages_s', {}).get(s), '.2f'):>12}" for r in results))
        lines.append(f"  {'(Dagster between steps)':<34}" + "".join(f"{_fmt(r.get('full_run', {}).get('framework_overhead_s'), '.2f'):>12}" for r in results))
        lines.append("peak RSS MB by stage (full run):")
        for s in stages:
            lines.append(f"  {s:<34}" + "".join(f"{_fmt(r.get('full_run', {}).get('stages_peak_rss_mb', {}).get(s), '.0f'):>12}" for r in results))
        lines.append("CPU seconds by stage, every process (full run; cores used = CPU / wall):")
        for s in stages:
            lines.append(f"  {s:<34}" + "".join(f"{_fmt(r.get('full_run', {}).get('stages_cpu_s', {}).get(s), '.1f'):>12}" for r in results))
        lines.append(f"  {'whole run':<34}" + "".join(f"{_fmt(r.get('full_run', {}).get('cpu_s'), '.1f'):>12}" for r in results))
        lines.append(f"  {'cores used':<34}" + "".join(f"{_fmt(r.get('full_run', {}).get('cores_used'), '.2f'):>12}" for r in results))
        lines.append("")
    for r in results:
        peers = r.get("peers", {})
        dd = peers.get("dedup")
        if dd:
            lines.append(f"dedup peers at {r['articles']:,} articles ({dd['n_passages']:,} passages, {dd['num_perm']} perms = {dd['bands']}x{dd['rows_per_band']}):")
            for name in ("ours", "datasketch", "rensa"):
                p = dd[name]
                lines.append(f"  {name:<11} {p['passages_per_s']:>10,} passages/s   P {_fmt(p['precision'], '.3f')}  R {_fmt(p['recall'], '.3f')}  candidate R {_fmt(p['candidate_recall'], '.3f')}")
            lines.append(f"  ours / datasketch = {dd['speedup_vs_datasketch']}x   ours / rensa = {dd['speedup_vs_rensa']}x")
        ex = peers.get("extraction")
        if ex:
            lines.append(f"extraction peers at {r['articles']:,} articles:")
            lines.append(f"  ours        {ex['ours']['sentences_per_s']:>10,} sentences/s ({ex['n_sentences']:,} sentences)   value P {_fmt(ex['ours']['value_precision'], '.3f')} R {_fmt(ex['ours']['value_recall'], '.3f')} on the sample")
            q = ex["quantulum3"]
            lines.append(f"  quantulum3  {q['sentences_per_s']:>10,} sentences/s ({q['n_sentences']:,} sentences)   value P {_fmt(q['value_precision'], '.3f')} R {_fmt(q['value_recall'], '.3f')}")
            lines.append(f"  ours / quantulum3 = {ex['speedup_vs_quantulum3']}x (same sample: {ex['speedup_vs_quantulum3_same_sample']}x)")
    for r in results:
        sp = r.get("spark")
        if sp:
            lines.append(f"Spark engine at {r['articles']:,} articles (embedded: {_fmt(sp['embedded_wall_s'], '.1f')} s):")
            for master, run in sp["runs"].items():
                stages = ", ".join(f"{k} {v:.1f}" for k, v in run.get("stages_s", {}).items())
                lines.append(
                    f"  {master:<9} {_fmt(run.get('wall_s'), '.1f'):>7} s  {_fmt(run.get('documents_per_s'), '.0f'):>6} docs/s  "
                    f"release equals embedded: {run.get('release_equals_embedded')}   ({stages})"
                )
            if "speedup_2_cores_vs_1" in sp:
                lines.append(f"  local[2] / local[1] speed-up = {sp['speedup_2_cores_vs_1']}x")
    for r in results:
        repeated = r.get("incremental_runs")
        if repeated:
            walls = ", ".join(_fmt(run["wall_s"], ".1f") for run in repeated["runs"])
            lines.append(
                f"+1% batch at {r['articles']:,} articles, {len(repeated['runs'])} runs from the same state: {walls} s; "
                f"median {_fmt(repeated['median_wall_s'], '.1f')} s = {_fmt(repeated['median_share_of_full_run'] * 100, '.1f')}% of the full run"
            )
    for r in results:
        prof = r.get("profile")
        if prof:
            lines.append(f"profile of the slowest stage ({prof['stage']}, {r['articles']:,} articles, {_fmt(prof['profiled_seconds'], '.1f')} s under cProfile):")
            for e in prof["top_cumulative"]:
                lines.append(f"  {e['cumtime_s']:>9.2f} s cum {e['tottime_s']:>8.2f} s own {e['ncalls']:>9}  {e['function'][:110]}")
        if r.get("status") not in ("ok", None):
            lines.append(f"{r['articles']:,} articles: {r.get('status')}: {r.get('error', '')}")
            progress = r.get("progress_when_stopped") or {}
            if progress:
                lines.append(f"    finished steps (s): {progress.get('finished_steps_s')}")
                lines.append(f"    running: {progress.get('running_steps')}")
            for t in r.get("stderr_tail", [])[-8:]:
                lines.append(f"    {t[:160]}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--articles", type=int, action="append", help="corpus size (repeatable); default 1000")
    parser.add_argument("--json", type=Path, help="write the full results here")
    parser.add_argument("--skip-peers", action="store_true", help="only the pipeline: no datasketch / rensa / quantulum3")
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--peer-max-passages", type=int, default=200_000, help="cap on passages given to the dedup peers")
    parser.add_argument("--extract-sentences", type=int, default=20_000, help="sentences for our extraction throughput")
    parser.add_argument("--quantulum-sentences", type=int, default=1_000, help="sentences for quantulum3 (slow; at least 500)")
    parser.add_argument("--no-profile", dest="profile_largest", action="store_false", help="skip the profile of the slowest step")
    parser.add_argument("--timeout", type=float, default=0,
                        help="seconds a size's runs may take from the start of the full run (0: no limit); "
                             "a size that passes it is stopped and reported with how far it got")
    parser.add_argument("--max-rss-gb", type=float, default=16, help="stop a size whose RSS passes this (0: no limit)")
    parser.add_argument("--work-dir", type=Path, default=None, help="where temporary corpora go (default: the system temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep each size's temporary folder")
    parser.add_argument("--incremental-runs", type=int, default=3,
                        help="times the +1%% batch runs, each from the same state (default 3; the median is reported)")
    parser.add_argument("--keep-for-replay", action="store_true",
                        help="keep each size's folder with a copy of the state before the incremental run (benchmarks.replay)")
    parser.add_argument("--spark", action="store_true",
                        help="also run the job with CLAIMWIRE_ENGINE=spark on local[1] and local[2] (needs Java 17+)")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--profile", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.articles = args.articles or [1000]
    if args.incremental_runs < 1:
        parser.error("--incremental-runs must be at least 1")

    if args.worker:
        bench_size(args, args.worker)
        return 0

    sizes = sorted(set(args.articles))
    report = {
        "benchmark": "claimwire",
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python -m benchmarks.run", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine_info(),
        "targets": {
            "end_to_end_100k_articles_s": 120, "peak_rss_100k_articles_gb": 4,
            "dedup_vs_datasketch_speedup": 10, "dedup_vs_rensa_speedup": 1,
            "extraction_vs_quantulum3_speedup": 20, "incremental_1pct_share_of_full": 0.10,
        },
        "sizes": [],
    }
    for n in sizes:
        result = run_size(n, args, profile=args.profile_largest and n == sizes[-1])
        report["sizes"].append(result)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    print(table(report["sizes"]))
    if args.json:
        print(f"\nfull results: {args.json}")
    return 0 if all(r.get("status") == "ok" for r in report["sizes"]) else 1


if __name__ == "__main__":
    sys.exit(main())
