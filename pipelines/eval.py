"""The project's own evaluation: `python -m pipelines.eval [--json PATH]`.

Scores the deduplication stage (the functions the `passage_clusters` asset runs, with the
default `DedupConfig`) on two labelled sets and prints one table per section:

- `gold_seeds`: the sample articles in `raw/` against the hand-labelled pairs in
  `tests/data/dedup_gold_seeds.jsonl`;
- `generated`: `generate_eval_set` (seed 7 by default), a few thousand passages with copies
  of known kind and edit and hard negatives.

The evaluation is a list of sections, each a function from the shared `EvalContext` to rows
(plain dicts); a new stage's scores (extraction, say) are one more entry in `SECTIONS`.
"""

import argparse
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipelines.lib.dedup import DedupConfig
from pipelines.lib.dedup_eval import (
    copy_recall_by_edit,
    generate_eval_set,
    load_article_passages,
    load_gold_pairs,
    merged_pairs,
    run_dedup,
    score_clustering,
    seed_article_bases,
    truth_from_gold,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The gold labels name passages of these particular files, so the evaluation reads the
# project's own sample folder, never the configured (production) raw folder.
SEED_ARTICLES_DIR = PROJECT_ROOT / "raw"
GOLD_PAIRS_PATH = PROJECT_ROOT / "tests" / "data" / "dedup_gold_seeds.jsonl"


@dataclass
class EvalContext:
    """Inputs shared by the sections; labelled sets are built once, on first use."""

    seed: int
    n_base: int
    articles_dir: Path
    gold_path: Path
    dedup_config: DedupConfig = field(default_factory=DedupConfig)
    _cache: dict = field(default_factory=dict)

    def cached(self, key: str, build: Callable):
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def articles(self) -> pl.DataFrame:
        return self.cached("articles", lambda: load_article_passages(self.articles_dir))

    def gold_pairs(self) -> pl.DataFrame:
        return self.cached("gold_pairs", lambda: load_gold_pairs(self.gold_path))

    def gold_truth(self) -> pl.DataFrame:
        return self.cached("gold_truth", lambda: truth_from_gold(self.gold_pairs(), self.articles()["passage_id"].to_list()))

    def generated(self) -> tuple[pl.DataFrame, pl.DataFrame]:
        return self.cached(
            "generated",
            lambda: generate_eval_set(self.seed, self.n_base, seed_article_bases(self.articles(), self.gold_truth())),
        )

    def labelled_sets(self) -> dict[str, tuple[pl.DataFrame, pl.DataFrame]]:
        return {"gold_seeds": (self.articles(), self.gold_truth()), "generated": self.generated()}

    def clustered(self, dataset: str) -> tuple[pl.DataFrame, float]:
        """(members, passages per second of the dedup stage: best of three runs)."""

        def build():
            passages, _ = self.labelled_sets()[dataset]
            run_dedup(passages, self.dedup_config)  # warm-up: imports and first-call costs
            timings = []
            for _ in range(3):
                start = time.perf_counter()
                members = run_dedup(passages, self.dedup_config)
                timings.append(time.perf_counter() - start)
            return members, passages.height / min(timings)

        return self.cached(f"clustered/{dataset}", build)


@dataclass(frozen=True)
class Section:
    name: str
    description: str
    rows: Callable[[EvalContext], list[dict]]


def dedup_pair_rows(context: EvalContext) -> list[dict]:
    """One row per dataset and pair kind, then an `overall` row with ARI and throughput."""
    rows = []
    for dataset, (passages, truth) in context.labelled_sets().items():
        members, passages_per_s = context.clustered(dataset)
        scores = score_clustering(members, truth)
        for kind, counts in scores["by_kind"].items():
            rows.append({"dataset": dataset, "kind": kind, **counts, "ari": None, "passages_per_s": None})
        rows.append(
            {"dataset": dataset, "kind": "overall", **scores["overall"], "ari": scores["ari"], "passages_per_s": passages_per_s}
        )
    return rows


def dedup_edit_rows(context: EvalContext) -> list[dict]:
    """Generated set only: per copy edit, the share of copies put in their base's cluster."""
    _, truth = context.generated()
    members, _ = context.clustered("generated")
    return [{"dataset": "generated", **row} for row in copy_recall_by_edit(members, truth).iter_rows(named=True)]


def dedup_negative_rows(context: EvalContext) -> list[dict]:
    """Hard negatives merged by mistake: labelled negative pairs (gold), negative passages (generated)."""
    gold = context.gold_pairs().filter(pl.col("kind") == "negative")
    gold_members, _ = context.clustered("gold_seeds")
    _, truth = context.generated()
    members, _ = context.clustered("generated")
    negatives = truth.filter(pl.col("kind") == "negative").join(members, on="passage_id")
    cluster_sizes = members.group_by("cluster_id").len("n")
    merged = negatives.join(cluster_sizes, on="cluster_id").filter(pl.col("n") > 1)
    return [
        {"dataset": "gold_seeds", "unit": "labelled pair", "n_negatives": gold.height, "n_merged": merged_pairs(gold_members, gold).height},
        {"dataset": "generated", "unit": "passage", "n_negatives": negatives.height, "n_merged": merged.height},
    ]


CLAIMS_GOLD_SEEDS_PATH = PROJECT_ROOT / "tests" / "data" / "claims_gold_seeds.jsonl"
CLAIMS_GOLD_SENTENCES_PATH = PROJECT_ROOT / "tests" / "data" / "claims_gold_sentences.jsonl"


def extraction_rows(context: EvalContext) -> list[dict]:
    """One row per claims gold file: triple precision / recall / F1 and attribute accuracy."""
    from pipelines.lib.claims_eval import load_articles, load_gold_claims, predict_claims, score_extraction

    articles = load_articles(context.articles_dir)
    gold = load_gold_claims(CLAIMS_GOLD_SEEDS_PATH, articles)
    return [{"gold_file": CLAIMS_GOLD_SEEDS_PATH.name, **score_extraction(predict_claims(articles), gold)}]


def extraction_sentence_rows(context: EvalContext) -> list[dict]:
    """The sentence gold file, each sentence one document: the same scores, overall and by topic.

    The topic rows show where the extractor is weak. Sentences that state no claim (dates,
    scores, labels, phone numbers...) carry their news topic, so anything extracted from them
    lowers that topic's precision.
    """
    from pipelines.lib.claims_eval import load_gold_sentences, load_sentence_topics, predict_sentence_claims, score_extraction

    sentences, gold = load_gold_sentences(CLAIMS_GOLD_SENTENCES_PATH)
    predicted = predict_sentence_claims(sentences)
    rows = [{"gold_file": CLAIMS_GOLD_SENTENCES_PATH.name, "topic": "all", **score_extraction(predicted, gold)}]
    topics = load_sentence_topics(CLAIMS_GOLD_SENTENCES_PATH)
    for topic in sorted(set(topics.values())):
        ids = [sentence_id for sentence_id, t in topics.items() if t == topic]
        rows.append({"gold_file": CLAIMS_GOLD_SENTENCES_PATH.name, "topic": topic,
                     **score_extraction(predicted.filter(pl.col("doc_id").is_in(ids)), gold.filter(pl.col("doc_id").is_in(ids)))})
    return rows


SECTIONS: list[Section] = [
    Section("dedup_pairs", "pairwise precision / recall by kind (a pair has its harder member's kind)", dedup_pair_rows),
    Section("dedup_edits", "copies found with their base, by edit (generated set)", dedup_edit_rows),
    Section("dedup_hard_negatives", "hard negatives merged with another passage", dedup_negative_rows),
    Section("extraction", "claims: precision / recall / F1 of (value_low, value_high, unit); accuracy of the rest on correct matches", extraction_rows),
    Section("extraction_sentences", "claims on the sentence gold file (one sentence = one document), overall and by topic", extraction_sentence_rows),
]


def format_table(rows: list[dict]) -> str:
    if not rows:
        return "(no rows)"
    columns = list(dict.fromkeys(key for row in rows for key in row))

    def cell(value) -> str:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        if isinstance(value, float):
            return f"{value:,.0f}" if value >= 100 else f"{value:.3f}"
        return str(value)

    cells = [[cell(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    lines = ["  ".join(column.ljust(width) for column, width in zip(columns, widths))]
    lines.append("  ".join("-" * width for width in widths))
    lines += ["  ".join(value.ljust(width) for value, width in zip(line, widths)) for line in cells]
    return "\n".join(lines)


def evaluate(context: EvalContext, sections: list[Section] = SECTIONS) -> dict[str, list[dict]]:
    return {section.name: section.rows(context) for section in sections}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipelines.eval", description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the numbers to this JSON file")
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated set (default 7)")
    parser.add_argument("--n-base", type=int, default=1500, help="base passages of the generated set (default 1500)")
    parser.add_argument("--articles-dir", type=Path, default=SEED_ARTICLES_DIR, help="the sample articles the gold file labels")
    parser.add_argument("--gold", type=Path, default=GOLD_PAIRS_PATH, help="hand-labelled pairs (JSON lines)")
    args = parser.parse_args(argv)

    context = EvalContext(seed=args.seed, n_base=args.n_base, articles_dir=args.articles_dir, gold_path=args.gold)
    results = evaluate(context)
    passages, _ = context.generated()
    print(f"dedup config: {context.dedup_config.signature_version}; generated set: seed {args.seed}, "
          f"{args.n_base} bases, {passages.height} passages")
    for section in SECTIONS:
        print(f"\n## {section.name}: {section.description}\n")
        print(format_table(results[section.name]))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "seed": args.seed,
            "n_base": args.n_base,
            "n_generated_passages": passages.height,
            "dedup_config": context.dedup_config.__dict__ | {"signature_version": context.dedup_config.signature_version},
            "sections": results,
        }
        args.json.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
