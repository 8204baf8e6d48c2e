"""Unit tests for benchmarks/: the corpus generator is deterministic and its truth is true, the
scorers count pairs and triples exactly, and `benchmarks.run` on a tiny corpus writes the JSON."""

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from benchmarks.corpus import OUTLETS, write_corpus
from benchmarks.run import score_claims, score_dedup, stage_summary

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.suffix in {".txt", ".jsonl"}
    }


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    write_corpus(out, 60, seed=7, n_holdout=5)
    return out


def test_same_seed_writes_the_same_files_and_truth(corpus, tmp_path):
    write_corpus(tmp_path, 60, seed=7, n_holdout=5)
    assert _digest(tmp_path) == _digest(corpus)
    assert len([p for p in _digest(corpus) if p.startswith("raw/")]) == 60
    assert len([p for p in _digest(corpus) if p.startswith("holdout/")]) == 5


def test_another_seed_writes_another_corpus(corpus, tmp_path):
    write_corpus(tmp_path, 60, seed=8, n_holdout=5)
    assert _digest(tmp_path) != _digest(corpus)


def test_claim_quotes_are_in_the_files_at_their_offsets(corpus):
    claims = pl.read_parquet(corpus / "truth" / "claims.parquet")
    assert claims.height > 100
    for row in claims.iter_rows(named=True):
        text = (corpus / row["batch"] / row["source_path"]).read_text(encoding="utf-8")
        assert text[row["char_start"]:row["char_end"]] == row["quote"]
        assert row["value_low"] <= row["value_high"]


def test_passage_truth_numbers_every_non_blank_line(corpus):
    passages = pl.read_parquet(corpus / "truth" / "passages.parquet")
    for (source_path, batch), rows in passages.group_by("source_path", "batch"):
        text = (corpus / batch / source_path).read_text(encoding="utf-8")
        lines = [line for line in text.split("\n") if line.strip()]
        assert rows.sort("ordinal")["ordinal"].to_list() == list(range(1, len(lines) + 1))
        for row in rows.iter_rows(named=True):
            assert text[row["char_start"]:row["char_end"]] == lines[row["ordinal"] - 1]
    # boilerplate has no group; body and titles always do
    assert passages.filter(pl.col("is_boilerplate") == pl.col("group_id").is_not_null()).height == 0


def test_reprints_make_copy_groups_across_outlets(corpus):
    passages = pl.read_parquet(corpus / "truth" / "passages.parquet").filter(pl.col("kind") == "body")
    groups = passages.group_by("group_id").agg(n=pl.len(), outlets=pl.col("outlet").n_unique())
    assert groups.filter(pl.col("n") > 1).height > 0
    assert groups.filter(pl.col("n") > 1)["outlets"].min() >= 2
    assert set(passages["outlet"]) <= {o.name for o in OUTLETS}


def test_score_dedup_counts_pairs():
    truth = pl.DataFrame(
        {"source_path": ["a", "b", "c", "d"], "ordinal": [1, 1, 1, 1], "group_id": ["g1", "g1", "g1", "g2"],
         "edit": ["verbatim", "verbatim", "synonym_swap", "verbatim"]},
        schema_overrides={"ordinal": pl.Int32},
    )
    # a and b found together, c missed, d wrongly joined to a cluster of its own with nobody: 1 of 3 true pairs
    members = pl.DataFrame(
        {"source_path": ["a", "b", "c", "d"], "ordinal": [1, 1, 1, 1], "cluster_id": ["x", "x", "y", "z"]},
        schema_overrides={"ordinal": pl.Int32},
    )
    scores = score_dedup(members, truth)
    assert (scores["n_true_pairs"], scores["n_predicted_pairs"], scores["n_correct_pairs"]) == (3, 1, 1)
    assert scores["precision"] == 1.0
    assert scores["recall"] == pytest.approx(0.3333, abs=1e-4)
    assert scores["copy_recall_by_edit"] == {"synonym_swap": {"n": 1, "recall": 0.0}, "verbatim": {"n": 2, "recall": 1.0}}


def test_score_claims_matches_triples_as_multisets_per_article():
    truth = pl.DataFrame({"source_path": ["a", "a", "b"], "value_low": [2000.0, 2000.0, 1.5e9],
                          "value_high": [2000.0, 2000.0, 1.5e9], "unit": ["USD", "USD", "USD"]})
    predicted = pl.DataFrame({"source_path": ["a", "b", "b"], "value_low": [2000.0, 1.4999999999e9, 3.0],
                              "value_high": [2000.0, 1.4999999999e9, 3.0], "unit": ["USD", "USD", "person"]})
    assert score_claims(predicted, truth) == {
        "n_truth": 3, "n_predicted": 3, "n_correct": 2, "precision": 0.6667, "recall": 0.6667,
    }


def test_stage_summary_groups_check_steps():
    assert stage_summary({"passages": 1.0, "passages_passages_expectations": 0.5, "facts_facts_expectations": 0.25}) == {
        "passages": 1.0, "checks": 0.75,
    }


@pytest.mark.timeout(300)
def test_run_writes_the_expected_json(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--articles", "30", "--skip-peers", "--no-profile",
         "--json", str(out), "--work-dir", str(tmp_path), "--keep"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=280,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    assert set(report) >= {"machine", "sizes", "targets", "command", "created_at"}
    assert set(report["machine"]) >= {"nproc", "memory_gb", "python", "packages"}
    (size,) = report["sizes"]
    assert size["status"] == "ok"
    assert size["articles"] == 30
    assert set(size) >= {"corpus", "full_run", "incremental_run", "quality", "quality_after_incremental"}
    full = size["full_run"]
    assert full["success"] is True
    assert set(full) >= {"wall_s", "steps_s", "stages_s", "peak_rss_mb", "documents_per_s", "mb_per_s"}
    assert {"ingest_raw_files", "passages", "cluster_syndicated_passages", "extract_and_screen_claims", "facts",
            "published", "checks"} <= set(full["stages_s"])
    # CPU seconds for every step, of the whole process tree; no step used more than two cores' worth
    assert set(full["steps_cpu_s"]) == set(full["steps_s"])
    assert set(full["stages_cpu_s"]) == set(full["stages_s"])
    assert all(0 <= cpu <= 2 * full["steps_s"][step] + 0.5 for step, cpu in full["steps_cpu_s"].items())
    assert 0 < full["cpu_s"] and full["cores_used"] == round(full["cpu_s"] / full["wall_s"], 2)
    assert "cores used" in done.stdout
    assert size["incremental_run"]["success"] is True
    # the +1% batch ran three times (the default), each from the same state: the first is the
    # incremental run above, and the median of the three is reported beside it
    repeated = size["incremental_runs"]
    assert len(repeated["runs"]) == 3
    assert repeated["runs"][0]["wall_s"] == size["incremental_run"]["wall_s"]
    walls = sorted(run["wall_s"] for run in repeated["runs"])
    assert repeated["median_wall_s"] == walls[1]
    assert repeated["median_share_of_full_run"] == round(walls[1] / full["wall_s"], 4)
    for run in repeated["runs"]:
        assert run["share_of_full_run"] == round(run["wall_s"] / full["wall_s"], 4)
        assert {"ingest_raw_files", "cluster_syndicated_passages", "published"} <= set(run["stages_s"])
    assert "3 runs from the same state" in done.stdout and "median" in done.stdout
    # the state the repeats started from, and their copies, are not kept without --keep-for-replay
    kept = {p.name for p in Path(size["work_dir"]).iterdir()}
    assert "data" in kept and not kept & {"data_before_incremental", "full_run.json", "incremental-2", "incremental-3"}
    # the corpus's files reached the disk before the full run, the full run's writes before
    # the incremental run was timed
    assert size["sync_after_corpus_s"] >= 0
    assert list(size).index("corpus") < list(size).index("sync_after_corpus_s") < list(size).index("full_run")
    assert size["sync_before_incremental_s"] >= 0
    assert list(size).index("sync_before_incremental_s") < list(size).index("incremental_run")
    assert set(size["quality"]["dedup"]) >= {"precision", "recall"}
    assert size["quality"]["claims"]["n_truth"] > 0
    assert "peers" not in size
    assert "30" in done.stdout  # the table names the size


def test_memory_sampler_counts_the_processes_the_run_started():
    # claims' worker processes and a Spark JVM hold memory the machine must have: the sampled
    # RSS is of the whole process tree, so a child holding 300 MB shows up in it
    from benchmarks.run import _rss_mb

    before = _rss_mb()
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; block = bytearray(300 * 2**20); print('held', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert child.stdout.readline().strip() == "held"
        assert _rss_mb() - before > 280
    finally:
        child.kill()
        child.wait()
    assert _rss_mb() - before < 100


def test_cpu_sampler_counts_the_processes_the_run_started_while_they_live_and_after_they_end():
    # the claims' and ingest's worker processes do most of a run's work: the sampled CPU time is
    # of the whole process tree, live children by their own counters, ended ones (waited for)
    # through this process's children's times. Other tests may have left processes of their own
    # running under this one (a Spark JVM), so only what a child adds is compared.
    from benchmarks.run import _tree_usage

    def own_cpu() -> float:
        times = os.times()
        return times.user + times.system + times.children_user + times.children_system

    burn = "import time\nwhile time.process_time() < 0.6: pass\nprint('burnt', flush=True); time.sleep(60)"
    before, own_before = _tree_usage()[1], own_cpu()
    child = subprocess.Popen([sys.executable, "-c", burn], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline().strip() == "burnt"
        # the live child's 0.6 s (counted in 10 ms ticks) is in the tree's time, not yet in ours
        assert _tree_usage()[1] - before >= 0.5
        assert own_cpu() - own_before < 0.3
    finally:
        child.kill()
        child.wait()
    # waited for: its time moved into this process's children's times, and stays in the tree's
    assert own_cpu() - own_before >= 0.55
    assert _tree_usage()[1] - before >= 0.55


def test_the_watch_gives_each_step_the_cpu_used_between_its_start_and_end():
    from benchmarks.run import _Watch

    watch = _Watch({}, lambda: None, 0, 0)
    watch.samples = [(10.0, 100.0, 1.0), (10.2, 100.0, 1.4), (10.4, 100.0, 1.4), (10.6, 100.0, 2.0)]
    assert watch.cpu({"a": 10.0, "b": 10.1, "c": 10.5, "late": 10.5}, {"a": 10.2, "b": 10.5, "c": 10.6, "late": 11.0}) == {
        "a": 0.4, "b": 0.5, "c": 0.3, "late": None,
    }


def test_a_runs_peak_is_its_own_after_a_reset():
    # the incremental run's peak must not be the full run's: the own peak (VmHWM) is reset
    # before each run, and only samples taken after the reset count
    script = (
        "from benchmarks.run import _own_peak_mb, _reset_peak\n"
        "block = bytearray(400 * 2**20); block[::4096] = b'x' * len(block[::4096]); del block\n"
        "before = _own_peak_mb(); _reset_peak(); print(round(before), round(_own_peak_mb()))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2])
    before, after = map(int, out.stdout.split())
    assert before > 400 and after < before - 300


def test_the_watch_catches_a_peak_between_two_samples():
    # memory a step takes and gives back within 0.2 s is still in its peak: each sample counts
    # this process's peak since the sample before, then resets it
    script = (
        "from benchmarks.run import _Watch, _try_reset_peak\n"
        "watch = _Watch({}, lambda: None, 0, 0); watch.resets_peak = _try_reset_peak()\n"
        "before = watch.sample()[0]\n"
        "block = bytearray(400 * 2**20); block[::4096] = b'x' * len(block[::4096]); del block\n"
        "spike = watch.sample()[0]; after = watch.sample()[0]\n"
        "print(round(before), round(spike), round(after), watch.resets_peak)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=Path(__file__).parents[2])
    before, spike, after, resets = out.stdout.split()
    assert resets == "True"
    assert int(spike) > int(before) + 350 and int(after) < int(spike) - 300


@pytest.mark.timeout(600)
def test_a_kept_size_replays_its_incremental_run(tmp_path):
    out = tmp_path / "bench.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.run", "--articles", "30", "--skip-peers", "--no-profile", "--keep-for-replay",
         "--json", str(out), "--work-dir", str(tmp_path)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=280,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (size,) = json.loads(out.read_text())["sizes"]
    work = Path(size["work_dir"])
    assert (work / "data_before_incremental" / "warehouse.duckdb").is_file()
    assert json.loads((work / "full_run.json").read_text())["wall_s"] == size["full_run"]["wall_s"]
    replayed = tmp_path / "replay.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.replay", str(work), "--runs", "2", "--json", str(replayed)],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=280,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(replayed.read_text())
    assert len(report["runs"]) == 2
    for run in report["runs"]:
        # each replay starts from the full run's 30 documents and adds the 1-article holdout
        assert run["success"] is True
        assert (run["n_documents_before"], run["n_documents_after"]) == (30, 31)
        assert {"ingest_raw_files", "cluster_syndicated_passages", "published"} <= set(run["steps_s"])
        assert run["share_of_full_run"] == round(run["wall_s"] / size["full_run"]["wall_s"], 4)
    assert "median" in done.stdout
    # the kept state is left as it was, for the next replay
    assert not [p for p in work.iterdir() if p.name.startswith("claimwire-replay-")]
    assert report["held_out_files"] == 1 and report["fit"] is None
    assert [b["batch_files"] for b in report["batches"]] == [1]
    done = subprocess.run([sys.executable, "-m", "benchmarks.replay", str(tmp_path)], cwd=PROJECT_ROOT, capture_output=True, text=True)
    assert done.returncode != 0 and "not a folder kept for replays" in done.stderr
    # a batch larger than the holdout is refused before anything runs
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.replay", str(work), "--batch-sizes", "2"], cwd=PROJECT_ROOT, capture_output=True, text=True
    )
    assert done.returncode != 0 and "batch sizes [2] are not between 1 and the 1 held-out files" in done.stderr


def test_a_batch_is_the_first_held_out_files_beside_every_file_the_warehouse_read(tmp_path):
    import duckdb

    from benchmarks.replay import fit_line, held_out_files, raw_with_batch

    raw, state = tmp_path / "raw", tmp_path / "state"
    for name in ("a/1.txt", "a/2.txt", "b/3.txt", "b/4.txt", "c/5.txt"):
        (raw / name).parent.mkdir(parents=True, exist_ok=True)
        (raw / name).write_text(name)
    state.mkdir()
    with duckdb.connect(str(state / "warehouse.duckdb")) as conn:
        conn.execute("create table raw_file_states as select * from (values ('a/1.txt'), ('b/3.txt')) t(source_path)")
    held_out = held_out_files(raw, state)
    assert held_out == ["a/2.txt", "b/4.txt", "c/5.txt"]
    batch = raw_with_batch(raw, tmp_path / "raw-2", held_out, 2)
    assert sorted(p.relative_to(batch).as_posix() for p in batch.rglob("*.txt")) == ["a/1.txt", "a/2.txt", "b/3.txt", "b/4.txt"]
    # linked, not copied: the raw folder is left whole
    assert (batch / "a/2.txt").stat().st_ino == (raw / "a/2.txt").stat().st_ino and (raw / "c/5.txt").is_file()
    assert fit_line([10, 100, 1000], [7.0, 7.9, 16.9]) == {"fixed_s": 6.9, "per_article_ms": 10.0}
    assert fit_line([10, 10], [7.0, 8.0]) is None


def test_extraction_sentences_are_distinct_and_keep_their_truth(tmp_path):
    from benchmarks.run import _sentences

    release, truth = tmp_path / "release", tmp_path / "truth"
    for folder in (release / "documents", release / "passages", truth):
        folder.mkdir(parents=True)
    story = "Russia sent 10,000 troops. Pay is $2,000 a month."
    pl.DataFrame({"doc_id": ["a", "b"], "source_path": ["1.txt", "2.txt"]}).write_parquet(release / "documents" / "p.parquet")
    pl.DataFrame({
        "doc_id": ["a", "a", "b"], "ordinal": [1, 2, 1], "char_start": [0, 60, 0],
        "text": [story, "Menu", "Seoul said 3 ships left. " + story],  # b reprints a's story after a sentence of its own
        "is_boilerplate": [False, True, False],
    }).write_parquet(release / "passages" / "p.parquet")
    pl.DataFrame({
        "source_path": ["1.txt", "1.txt", "2.txt", "2.txt", "2.txt"], "char_start": [12, 35, 11, 38, 61],
        "value_low": [10_000.0, 2_000.0, 3.0, 10_000.0, 2_000.0], "value_high": [10_000.0, 2_000.0, 3.0, 10_000.0, 2_000.0],
        "unit": ["person", "USD", "ship", "person", "USD"],
    }).write_parquet(truth / "claims.parquet")
    sentences, located = _sentences(release, truth, 10)
    assert sentences.select("source_path", "text").rows() == [
        ("1.txt", "Russia sent 10,000 troops."), ("1.txt", "Pay is $2,000 a month."), ("2.txt", "Seoul said 3 ships left."),
    ]
    assert located.select("sentence_no", "value_low").rows() == [(0, 10_000.0), (1, 2_000.0), (2, 3.0)]


@pytest.mark.parametrize("main_module", ["benchmarks.run", "benchmarks.replay"])
def test_the_benchmarks_main_modules_import_nothing_a_worker_does_not_need(main_module):
    """The ingest and claims steps spawn their workers, and a spawned worker imports the parent's
    main module again: the benchmark's must not import claimwire's stages (the corpus generator
    pulls in the dedup stage and SciPy, 0.3 s more for every worker's start)."""
    probe = (
        f"import sys, {main_module}; "
        "heavy = sorted(m for m in ('scipy', 'pipelines.lib.dedup', 'benchmarks.corpus', 'dagster', 'duckdb') if m in sys.modules); "
        "print(','.join(heavy))"
    )
    found = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
    assert found.stdout.strip() == ""
