"""Deduplication evaluation: labelled copies, a synthetic benchmark, and the scores.

Two sources of truth, both scored by the same function:

- the hand-labelled pairs of `tests/data/dedup_gold_seeds.jsonl` over the sample articles
  (`load_gold_pairs`, `truth_from_gold`);
- `generate_eval_set`, a seeded benchmark: base passages (the sample articles' body passages
  plus templated economy/sport/weather/conflict paragraphs), copies of them with controlled
  edits, each labelled with its kind and edit, and hard negatives (different passages that
  share a whole quote or the same numbers).

`run_dedup` runs the real stage functions (`match_batch`, `cluster_passages`) exactly as the
`passage_clusters` asset does for a first batch, and `score_clustering` compares its clusters
with the truth: pairwise precision and recall, overall and by kind, and the adjusted Rand index.

Truth is a partition: one row per passage with `group_id` (passages of one group are copies of
each other), `kind` (`original` for a group's base passage, else the kind of edit that made the
copy: `verbatim`, `light_edit`, `paraphrase`; `negative` for a constructed hard negative, which
is the base of its own group) and `edit` (the sub-kind, e.g. `transliteration`).
"""

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from pipelines.lib.dedup import SIGNATURES_SCHEMA, DedupConfig, cluster_passages, match_batch
from pipelines.lib.graph import connected_components
from pipelines.lib.passages import load_boilerplate_rules, mark_boilerplate, split_passages

# Harder kinds rank higher; a pair of passages has the kind of its harder member, so a
# base–copy pair has the copy's kind and two copies of one base count as the harder edit.
KIND_RANK = {"original": 0, "verbatim": 1, "light_edit": 2, "paraphrase": 3, "negative": 4}
COPY_KINDS = ("verbatim", "light_edit", "paraphrase")
LIGHT_EDITS = ("synonym_swap", "transliteration", "attribution", "trim_sentence", "cut_half", "reorder", "boilerplate")

PASSAGES_SCHEMA = {"passage_id": pl.Utf8, "doc_id": pl.Utf8, "text": pl.Utf8}
TRUTH_SCHEMA = {"passage_id": pl.Utf8, "group_id": pl.Utf8, "kind": pl.Utf8, "edit": pl.Utf8}
GOLD_SCHEMA = {"a": pl.Utf8, "b": pl.Utf8, "kind": pl.Utf8, "note": pl.Utf8}


# ---------------------------------------------------------------------------------------------
# Gold pairs over the sample articles
# ---------------------------------------------------------------------------------------------


def load_article_passages(raw_dir: Path) -> pl.DataFrame:
    """Body passages of the article files in `raw_dir`: one row per non-boilerplate passage.

    The document id is the first three characters of the file name (`000`, `001`, …), which is
    how the gold file names passages (`000-p0010`).
    """
    paths = sorted(Path(raw_dir).glob("*.txt"))
    documents = pl.DataFrame(
        [(p.name[:3], p.read_text(encoding="utf-8")) for p in paths], schema=["doc_id", "text"], orient="row"
    )
    passages = mark_boilerplate(split_passages(documents), load_boilerplate_rules())
    return passages.filter(~pl.col("is_boilerplate")).select(list(PASSAGES_SCHEMA))


def load_gold_pairs(path: Path) -> pl.DataFrame:
    """One row per labelled passage pair (`a` < `b`, `kind`, `note`); a bad line raises ValueError."""
    rows = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        item = json.loads(line)
        if item.get("kind") not in (*COPY_KINDS, "negative") or not item.get("a") or not item.get("b"):
            raise ValueError(f"{path}:{number}: needs a, b and a kind in {(*COPY_KINDS, 'negative')}")
        a, b = sorted((item["a"], item["b"]))
        rows.append((a, b, item["kind"], item.get("note", "")))
    return pl.DataFrame(rows, schema=GOLD_SCHEMA, orient="row")


def truth_from_gold(gold: pl.DataFrame, passage_ids: list[str]) -> pl.DataFrame:
    """The partition the gold pairs describe, over `passage_ids`.

    Groups are the connected components of the copy pairs. A group's base is the passage whose
    labelled pairs are the lightest edits (ties: smallest id); every other member's kind is the
    kind of its pair with the base. Passages in no copy pair are singletons: `negative` when a
    negative pair names them, else `original`.
    """
    copies = gold.filter(pl.col("kind") != "negative")
    components = connected_components(
        pl.Series("node", passage_ids, dtype=pl.Utf8), copies.select("a", "b")
    ).rename({"node": "passage_id", "component": "group_id"})
    ranks = {pid: 0 for pid in passage_ids}
    labelled = {}
    for a, b, kind in copies.select("a", "b", "kind").iter_rows():
        ranks[a] += KIND_RANK[kind]
        ranks[b] += KIND_RANK[kind]
        labelled[(a, b)] = kind
    members: dict[str, list[str]] = {}
    for pid, gid in components.iter_rows():
        members.setdefault(gid, []).append(pid)
    negatives = set(gold.filter(pl.col("kind") == "negative").select(pl.concat_list("a", "b")).to_series().explode())
    rows = []
    for gid, pids in sorted(members.items()):
        if len(pids) == 1:
            rows.append((pids[0], gid, "negative" if pids[0] in negatives else "original", ""))
            continue
        base = min(pids, key=lambda p: (ranks[p], p))
        for pid in sorted(pids):
            kind = "original" if pid == base else labelled.get(tuple(sorted((pid, base))))
            if kind is None:
                raise ValueError(f"gold pairs: {pid} and {base} are in one group but their pair is not labelled")
            rows.append((pid, gid, kind, ""))
    return pl.DataFrame(rows, schema=TRUTH_SCHEMA, orient="row")


# ---------------------------------------------------------------------------------------------
# Scoring
# ---------------------------------------------------------------------------------------------


def adjusted_rand_index(labels_true, labels_pred) -> float:
    """Adjusted Rand index of two labellings of the same items, from their contingency table.

    Identical partitions (up to renaming) score 1.0, including the degenerate cases where
    both are all singletons or both one cluster; independent partitions score about 0.
    """
    true_codes = np.unique(np.asarray(labels_true), return_inverse=True)[1].ravel()
    pred_codes = np.unique(np.asarray(labels_pred), return_inverse=True)[1].ravel()
    if true_codes.shape != pred_codes.shape:
        raise ValueError("both labellings must cover the same items")
    n = true_codes.size
    if n < 2:
        return 1.0
    # The non-zero cells of the contingency table: one per (true, predicted) label combination.
    _, cell_counts = np.unique(np.stack([true_codes, pred_codes], axis=1), axis=0, return_counts=True)
    row_sums = np.bincount(true_codes)
    col_sums = np.bincount(pred_codes)

    def pairs(counts: np.ndarray) -> float:
        counts = counts.astype(np.float64)
        return float((counts * (counts - 1) / 2).sum())

    index = pairs(cell_counts)
    sum_rows, sum_cols = pairs(row_sums), pairs(col_sums)
    expected = sum_rows * sum_cols / (n * (n - 1) / 2)
    maximum = (sum_rows + sum_cols) / 2
    if maximum == expected:
        return 1.0
    return (index - expected) / (maximum - expected)


def _pair_kind(kind_a: str, kind_b: str) -> pl.Expr:
    rank_a = pl.col(kind_a).replace_strict(KIND_RANK, return_dtype=pl.Int8)
    rank_b = pl.col(kind_b).replace_strict(KIND_RANK, return_dtype=pl.Int8)
    return pl.when(rank_a >= rank_b).then(pl.col(kind_a)).otherwise(pl.col(kind_b))


def _pairs_within(frame: pl.DataFrame, key: str) -> pl.DataFrame:
    left = frame.select(pl.col("passage_id").alias("a"), key)
    right = frame.select(pl.col("passage_id").alias("b"), key)
    return left.join(right, on=key).filter(pl.col("a") < pl.col("b")).select("a", "b")


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def score_clustering(members: pl.DataFrame, truth: pl.DataFrame) -> dict:
    """Pairwise precision and recall (overall and by kind) and ARI of `members` against `truth`.

    `members` has `passage_id`, `cluster_id`; `truth` has `passage_id`, `group_id`, `kind`, and
    both must cover the same passages. A predicted pair (two passages of one cluster) is correct
    when both passages share a truth group. Every pair has the kind of its harder member
    (`KIND_RANK`): a base–copy pair has the copy's kind, and a wrong pair that involves a hard
    negative has kind `negative`, so that row counts the hard negatives merged by mistake.
    Precision or recall with nothing to divide by is None.
    """
    if sorted(members["passage_id"].to_list()) != sorted(truth["passage_id"].to_list()):
        raise ValueError("members and truth must name the same passages")
    truth = truth.select("passage_id", "group_id", "kind")
    kinds = truth.select("passage_id", "kind")

    def with_kind(pairs: pl.DataFrame) -> pl.DataFrame:
        return (
            pairs.join(kinds.rename({"passage_id": "a", "kind": "kind_a"}), on="a")
            .join(kinds.rename({"passage_id": "b", "kind": "kind_b"}), on="b")
            .select("a", "b", kind=_pair_kind("kind_a", "kind_b"))
        )

    true_pairs = with_kind(_pairs_within(truth, "group_id")).with_columns(is_true=pl.lit(True))
    predicted = with_kind(_pairs_within(members, "cluster_id")).with_columns(is_predicted=pl.lit(True))
    scored = true_pairs.join(predicted, on=["a", "b", "kind"], how="full", coalesce=True).with_columns(
        pl.col("is_true").fill_null(False), pl.col("is_predicted").fill_null(False)
    )

    def counts(frame: pl.DataFrame) -> dict:
        n_true = int(frame["is_true"].sum())
        n_predicted = int(frame["is_predicted"].sum())
        n_correct = int((frame["is_true"] & frame["is_predicted"]).sum())
        return {
            "n_true_pairs": n_true,
            "n_predicted_pairs": n_predicted,
            "n_correct_pairs": n_correct,
            "precision": _ratio(n_correct, n_predicted),
            "recall": _ratio(n_correct, n_true),
        }

    by_kind = {
        kind: counts(scored.filter(pl.col("kind") == kind))
        for kind in KIND_RANK
        if kind != "original" and (kind in truth["kind"] or kind in scored["kind"])
    }
    joined = truth.join(members.select("passage_id", "cluster_id"), on="passage_id").sort("passage_id")
    return {
        "n_passages": truth.height,
        "n_groups": truth["group_id"].n_unique(),
        "n_clusters": members["cluster_id"].n_unique(),
        "overall": counts(scored),
        "by_kind": by_kind,
        "ari": adjusted_rand_index(joined["group_id"].to_numpy(), joined["cluster_id"].to_numpy()),
    }


def copy_recall_by_edit(members: pl.DataFrame, truth: pl.DataFrame) -> pl.DataFrame:
    """One row per copy edit: how many copies were put in their base passage's cluster.

    Answers "which edits does the algorithm miss": a copy counts as found when it shares a
    cluster with the `original` of its group.
    """
    clustered = truth.join(members.select("passage_id", "cluster_id"), on="passage_id")
    bases = clustered.filter(pl.col("kind") == "original").select("group_id", base_cluster="cluster_id")
    return (
        clustered.filter(pl.col("kind").is_in(COPY_KINDS))
        .join(bases, on="group_id")
        .group_by("kind", "edit")
        .agg(n_copies=pl.len(), n_found=(pl.col("cluster_id") == pl.col("base_cluster")).sum().cast(pl.Int64))
        .with_columns(recall=pl.col("n_found") / pl.col("n_copies"))
        .sort(pl.col("kind").replace_strict(KIND_RANK, return_dtype=pl.Int8), "edit")
    )


def merged_pairs(members: pl.DataFrame, pairs: pl.DataFrame) -> pl.DataFrame:
    """The rows of `pairs` (`a`, `b`, …) whose two passages the clustering put in one cluster."""
    clusters = members.select("passage_id", "cluster_id")
    return (
        pairs.join(clusters.rename({"passage_id": "a", "cluster_id": "cluster_a"}), on="a")
        .join(clusters.rename({"passage_id": "b", "cluster_id": "cluster_b"}), on="b")
        .filter(pl.col("cluster_a") == pl.col("cluster_b"))
        .drop("cluster_a", "cluster_b")
    )


def run_dedup(passages: pl.DataFrame, config: DedupConfig) -> pl.DataFrame:
    """`passage_id`, `cluster_id` for every passage, by the asset's own stage functions.

    Runs one batch with no history, as the first materialisation does: `match_batch` then
    `cluster_passages`. The inputs `cluster_passages` needs only to choose canonical passages
    (offsets, publication time) are filled in; they do not change membership.
    """

    def no_history(passage_ids: list[str]) -> pl.DataFrame:
        raise AssertionError(f"an empty history was asked for {len(passage_ids)} passages")

    _, matches = match_batch(passages.select(list(PASSAGES_SCHEMA)), pl.DataFrame(schema=SIGNATURES_SCHEMA), no_history, config)
    located = passages.select(
        "passage_id",
        "doc_id",
        char_start=pl.lit(0, dtype=pl.Int32),
        char_end=pl.col("text").str.len_chars().cast(pl.Int32),
        published_at=pl.lit(None, dtype=pl.Datetime("us", "UTC")),
    )
    members, _ = cluster_passages(located, matches)
    return members.select("passage_id", "cluster_id")


# ---------------------------------------------------------------------------------------------
# The synthetic benchmark
# ---------------------------------------------------------------------------------------------

FIRST_NAMES = (
    "Anna", "Mark", "Olga", "Daniel", "Sofia", "Peter", "Maria", "Jonas", "Elena", "Tomas", "Laura",
    "Victor", "Ines", "Pavel", "Nadia", "Hugo", "Dmitry", "Yuliya", "Oleksandr", "Kateryna", "Sergei",
    "Aleksei", "Natalya", "Mikhail", "Andriy", "Grace", "Kwame", "Amara", "Farid", "Leila",
)
LAST_NAMES = (
    "Novak", "Keller", "Petrov", "Moreau", "Lindqvist", "Haddad", "Kovalenko", "Shevchenko", "Ivanova",
    "Sokolov", "Fischer", "Rossi", "Garcia", "Okafor", "Nakamura", "Tkachenko", "Hoffmann", "Dubois",
    "Yilmaz", "Andersen", "Mensah", "Kowalski", "Horvath", "Bauer", "Marchenko", "Volkov",
)
KOREAN_SURNAMES = ("Park", "Kim", "Lee", "Choi", "Jung", "Kang", "Cho", "Yoon", "Wi", "Nam")
KOREAN_GIVEN = ("Ji-hoon", "Seo-yeon", "Min-jun", "Hye-jin", "Sung-lac", "Jae-in", "Dong-hyun", "Eun-ji", "Sung-wook", "Young-soo")
KOREAN_SURNAME_VARIANTS = {"Park": "Pak", "Lee": "Yi", "Choi": "Choe", "Jung": "Chung", "Kang": "Gang", "Cho": "Jo", "Yoon": "Yun"}
# Known spellings in the sample articles and their common variants.
NAME_VARIANTS = {
    "Wi Sung-lac": ("Wi Sunglac", "Wi Sung Lak"),
    "Kim Jong Un": ("Kim Jong-un", "Kim Jongun"),
    "Yoon Suk-yeol": ("Yoon Sukyeol", "Yun Suk-yeol"),
    "Volodymyr Zelensky": ("Volodymyr Zelenskyy", "Wolodymyr Selenskyj"),
    "Vladimir Putin": ("Wladimir Putin",),
    "Nam Sung-wook": ("Nam Sungwook", "Nam Sung Uk"),
    "Andrei Lankov": ("Andrey Lankov",),
    "Antony Blinken": ("Anthony Blinken",),
    "Niko Lange": ("Nico Lange",),
}
PLACE_VARIANTS = {
    "Pyongyang": "North Korea", "North Korea": "Pyongyang", "Moscow": "Russia", "Russia": "Moscow",
    "Seoul": "South Korea", "South Korea": "Seoul", "Kyiv": "Kiev", "Kiev": "Kyiv", "Kharkiv": "Kharkov",
    "Odesa": "Odessa", "Norway": "Oslo", "Poland": "Warsaw", "Chile": "Santiago", "Kenya": "Nairobi",
    "Turkey": "Ankara", "Canada": "Ottawa", "Hungary": "Budapest", "Ghana": "Accra", "Japan": "Tokyo",
    "Zaporizhzhia": "Zaporozhye", "Mykolaiv": "Nikolaev", "Donetsk": "Donetsk region",
}
COUNTRIES = ("Norway", "Poland", "Chile", "Kenya", "Turkey", "Canada", "Hungary", "Ghana", "Japan")
CITIES = ("Oslo", "Warsaw", "Santiago", "Nairobi", "Ankara", "Ottawa", "Budapest", "Accra", "Tokyo", "Lyon", "Porto", "Gdansk")
FRONT_TOWNS = ("Kharkiv", "Odesa", "Zaporizhzhia", "Mykolaiv", "Kyiv", "Donetsk", "Pokrovsk", "Kupiansk")
DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December")
TEAMS = ("Riverside United", "Northport City", "FC Valmont", "Eastbrook Rovers", "Sporting Alcor", "Lakeview Athletic", "Dynamo Ostrava", "Real Cantera")
ORGS = {
    "economy": ("the statistics office", "the finance ministry"), "trade": ("the statistics office", "the customs agency"),
    "sport": ("the league",), "weather": ("the national weather service", "the civil protection agency"),
    "conflict": ("the defence ministry", "the regional administration"),
}

# Slots: {p} person, {p2} a second person, {c} country, {city}, {town} front-line town, {day},
# {month}, {t1}/{t2} teams, {org}, {bank}; numeric slots come from `_numbers`, word-choice slots
# ({w_…}) from `WORD_CHOICES`. Word choices keep two stories built from one template apart by
# many more substitutions than a light edit makes, as two wire stories of one kind are.
TEMPLATES: dict[str, tuple[tuple[tuple[str, ...], float], ...]] = {
    "economy": (
        (("The central bank of {c} {w_raised} its {w_key} interest rate by {bp} basis points to {rate}% {w_when}, its {ord} {w_hike} {w_period}.",
          "{c}'s central bank {w_raised} its {w_key} rate to {rate}% {w_when}, up {bp} basis points, in its {ord} {w_hike} {w_period}.",
          "Policymakers in {city} {w_raised} {c}'s {w_key} rate {w_when} by {bp} basis points, taking it to {rate}%, the {ord} {w_hike} {w_period}."), 1.0),
        (("Inflation {w_reached} {infl}% in {month}, {w_well} above the bank's {w_target} of {tgt}%, according to {org}.",
          "Consumer prices {w_rose} {infl}% from a year earlier in {month}, {org} said, {w_well} from the {tgt}% {w_target}.",
          "Annual inflation stood at {infl}% in {month}, {org} {w_reported}, against a {w_target} of {tgt}%."), 0.8),
        (("“{q_econ},” Governor {p} {w_told} in {city}.",
          "Governor {p} said in {city}: “{q_econ}.”",
          "“{q_econ},” {p}, the bank's governor, {w_told} {w_when}."), 0.6),
        (("Analysts at {bank} {w_expect} {cnt} more {w_hike}s before {w_deadline}, which would raise repayments for about {hh} households.",
          "Economists polled by {bank} now {w_expect} {cnt} further {w_hike}s by {w_deadline}, a burden for some {hh} mortgage holders."), 0.5),
    ),
    "trade": (
        (("Exports from {c} {w_fell} {pct}% in {month} to {usd} billion dollars, the {w_weakest} {w_reading} since {year}, {org} {w_reported} {w_when}.",
          "{c} shipped goods worth {usd} billion dollars abroad in {month}, {pct}% less than a year earlier and the {w_weakest} {w_reading} since {year}.",
          "{c}'s exports {w_fell} to {usd} billion dollars in {month}, down {pct}% on the year, {org} {w_reported}."), 1.0),
        (("Shipments of {w_goods} {w_fell} by {pct2}%, while {w_energy} sales {w_rose} {pct3}% on higher prices.",
          "{w_goods_cap} sales abroad {w_fell} {pct2}%, offset only partly by a {pct3}% jump in {w_energy} exports."), 0.8),
        (("“{q_econ},” trade minister {p} {w_told} {w_when}.",
          "Trade minister {p} {w_told_parliament}: “{q_econ}.”"), 0.6),
        (("The trade surplus {w_narrowed} to {usd2} million dollars, against {usd3} million {w_expected} by analysts at {bank}.",
          "Analysts at {bank} had {w_expected} a surplus of {usd3} million dollars; it {w_narrowed} to {usd2} million."), 0.5),
    ),
    "sport": (
        (("{t1} {w_beat} {t2} {g1}-{g2} {w_when} to move {pts} points clear at the top of the table with {left} {w_games} left.",
          "A {g1}-{g2} win over {t2} {w_when} put {t1} {pts} points ahead at the top, with {left} {w_games} to play.",
          "{t1} are {pts} points clear with {left} {w_games} to go after a {g1}-{g2} {w_win} over {t2} {w_when}."), 1.0),
        (("{p} scored twice in the second half in front of {crowd} {w_fans} at {city}'s {w_ground}.",
          "Two second-half goals from {p} settled it before a crowd of {crowd} in {city}.",
          "{p} {w_netted} both goals after the break as {crowd} {w_fans} watched in {city}."), 0.8),
        (("“{q_sport},” {w_coach} {p2} said after the match.",
          "{w_coach_cap} {p2} {w_told}: “{q_sport}.”"), 0.7),
        (("{t2} have now lost {lost} of their last {played} league {w_games} and sit {pos}th.",
          "It was the {lost}th defeat in {played} {w_games} for {t2}, who are {pos}th."), 0.5),
    ),
    "weather": (
        (("{w_heavy} rain dropped up to {mm} millimetres on parts of {c} in {hours} hours {w_when}, flooding {w_roads} around {city}.",
          "Up to {mm} millimetres of rain fell within {hours} hours across {c} {w_when}, leaving {w_roads} near {city} under water.",
          "{w_heavy} downpours brought {mm} millimetres of rain to {c} in just {hours} hours {w_when}, and {w_roads} in {city} flooded."), 1.0),
        (("{org} issued a {w_level} warning for {regions} regions and said winds could reach {kmh} kilometres an hour.",
          "Winds of up to {kmh} km/h are {w_expected}, {org} said, raising its alert to {w_level} in {regions} regions."), 0.8),
        (("About {homes} homes were without power {w_when}, and {evac} people had been moved to {w_shelters}.",
          "Some {homes} households lost electricity and {evac} residents were {w_evacuated}."), 0.7),
        (("“{q_weather},” said {p}, the mayor of {city}.",
          "{p}, who is mayor of {city}, {w_told}: “{q_weather}.”"), 0.5),
    ),
    "conflict": (
        (("Russian forces launched {drones} drones and {missiles} missiles at {town} {w_overnight}, Ukraine's air force said {w_when}, adding that {down} were shot down.",
          "Ukraine's air force said {w_when} it downed {down} of the {drones} drones and {missiles} missiles fired at {town} {w_overnight}.",
          "{w_overnight_cap}, Russia fired {missiles} missiles and {drones} drones at {town}; air defences destroyed {down}, the air force {w_reported}."), 1.0),
        (("At least {killed} people were killed and {injured} {w_injured}, regional governor {p} said.",
          "Governor {p} said {killed} people died and {injured} were {w_injured} in the {w_attack}.",
          "The {w_attack} killed {killed} and {w_injured} {injured}, {p}, the regional governor, {w_reported}."), 0.8),
        (("“{q_conflict},” {p2} wrote on Telegram.",
          "{p2} said on Telegram: “{q_conflict}.”"), 0.6),
        (("The {w_attack} damaged {buildings} apartment buildings and a power substation that served about {homes} homes.",
          "{buildings} apartment blocks and a substation supplying some {homes} homes were damaged."), 0.5),
    ),
}
WORD_CHOICES = {
    "w_raised": ("raised", "lifted", "increased", "hiked", "pushed up"), "w_key": ("key", "benchmark", "main", "policy"),
    "w_hike": ("increase", "hike", "rise", "move"), "w_period": ("this year", "of the year", "since January", "in twelve months"),
    "w_reached": ("reached", "hit", "climbed to", "stood at"), "w_well": ("well", "far", "still", "clearly"),
    "w_target": ("target", "goal", "ceiling", "aim"), "w_rose": ("rose", "climbed", "increased", "grew"),
    "w_reported": ("reported", "said", "announced", "estimated"), "w_told": ("told reporters", "told journalists", "said", "told a news conference"),
    "w_expect": ("expect", "forecast", "predict", "see"), "w_deadline": ("the end of the year", "December", "next spring", "the summer"),
    "w_fell": ("fell", "dropped", "slid", "declined"), "w_weakest": ("weakest", "lowest", "poorest", "smallest"),
    "w_reading": ("reading", "figure", "result", "level"), "w_goods": ("cars and machinery", "steel and chemicals", "electronics", "farm products"),
    "w_energy": ("energy", "fuel", "gas", "oil"), "w_told_parliament": ("told parliament", "told lawmakers", "wrote on social media"),
    "w_narrowed": ("narrowed", "shrank", "fell", "eased"), "w_expected": ("expected", "forecast", "predicted", "anticipated"),
    "w_beat": ("beat", "defeated", "edged", "saw off"), "w_games": ("games", "matches", "fixtures", "rounds"),
    "w_win": ("win", "victory", "success"), "w_fans": ("fans", "supporters", "spectators"), "w_ground": ("home ground", "stadium", "arena"),
    "w_netted": ("scored", "netted", "struck"), "w_coach": ("coach", "manager", "head coach"),
    "w_heavy": ("Heavy", "Torrential", "Intense", "Persistent"), "w_roads": ("roads", "streets", "underpasses", "railway lines"),
    "w_level": ("red", "orange", "top-level", "severe"), "w_shelters": ("shelters", "schools", "sports halls", "hotels"),
    "w_evacuated": ("evacuated", "moved out", "taken to safety", "rehoused"), "w_overnight": ("overnight", "during the night", "before dawn", "late at night"),
    "w_injured": ("injured", "wounded", "hurt"), "w_attack": ("attack", "strike", "barrage", "assault"),
}
QUOTES = {
    "q_econ": (
        "We will do whatever it takes to bring prices back under control", "The worst of the slowdown is behind us but risks remain",
        "Our job is not done until inflation is back at target", "Households should not expect relief before the summer",
        "We see no reason to change course at this stage", "Wage growth is still too strong for comfort",
        "The numbers tell us demand is finally cooling", "This is a difficult year for every exporter in the country",
    ),
    "q_sport": (
        "We showed character after a slow start", "The players gave everything and deserved the three points",
        "Nothing is decided yet and we stay humble", "We were second best for an hour and then found our rhythm",
        "I am proud of this group and the way they fought", "The referee made a brave call but the right one",
    ),
    "q_weather": (
        "We have not seen water like this in a generation", "Please stay at home and keep away from the river banks",
        "Our crews are working through the night to restore power", "The drains simply could not cope with so much rain",
    ),
    "q_conflict": (
        "Every night Russia shows it wants this war to continue", "Rescuers are still pulling people from the rubble",
        "We need more air defence systems and we need them now", "This was a deliberate attack on civilian homes",
        "The city will recover but it will take time and help from our partners",
    ),
}
BOILERPLATE_SENTENCES = (
    "Read more: {headline}", "Follow us on Telegram.", "Subscribe to our newsletter for the day's top stories.",
    "(Reporting by {p}; editing by {p2})", "Related: {headline}",
)
HEADLINES = (
    "What the rate decision means for your mortgage", "Five things to know about the flood warnings",
    "Inside the race for the title", "How air defence works", "Markets close lower on trade worries",
)
SYNONYMS = {
    "raised": "increased", "increased": "raised", "lifted": "raised", "fell": "dropped", "dropped": "fell",
    "rose": "climbed", "reached": "hit", "expect": "anticipate", "expected": "anticipated", "said": "stated",
    "told": "informed", "reporters": "journalists", "key": "main", "benchmark": "reference", "increase": "rise",
    "increases": "rises", "well": "far", "above": "over", "target": "goal", "goal": "target", "worst": "hardest",
    "risks": "dangers", "remain": "persist", "households": "families", "homes": "houses", "houses": "homes",
    "relief": "respite", "change": "alter", "course": "direction", "strong": "robust", "comfort": "ease",
    "finally": "at last", "difficult": "hard", "every": "each", "country": "nation", "weakest": "lowest",
    "lowest": "weakest", "shipments": "deliveries", "goods": "products", "sales": "revenues", "energy": "power",
    "higher": "rising", "prices": "costs", "narrowed": "shrank", "analysts": "experts", "economists": "analysts",
    "beat": "defeated", "move": "go", "clear": "ahead", "top": "summit", "games": "matches", "matches": "games",
    "left": "remaining", "scored": "netted", "twice": "two goals", "half": "period", "fans": "supporters",
    "crowd": "audience", "coach": "manager", "match": "game", "character": "grit", "slow": "sluggish",
    "start": "opening", "players": "squad", "deserved": "earned", "decided": "settled", "proud": "pleased",
    "fought": "battled", "brave": "bold", "heavy": "intense", "rain": "rainfall", "parts": "areas",
    "flooding": "inundating", "roads": "streets", "issued": "released", "warning": "alert", "alert": "warning",
    "winds": "gusts", "could": "might", "without": "lacking", "power": "electricity", "electricity": "power",
    "people": "residents", "residents": "people", "moved": "relocated", "shelters": "refuges",
    "evacuated": "moved out", "mayor": "city head", "seen": "witnessed", "water": "flooding", "stay": "remain",
    "crews": "teams", "working": "laboring", "restore": "bring back", "simply": "just", "cope": "manage",
    "forces": "troops", "troops": "forces", "soldiers": "troops", "launched": "fired", "fired": "launched",
    "overnight": "during the night", "adding": "noting", "shot": "brought", "killed": "dead",
    "injured": "wounded", "wounded": "injured", "attack": "strike", "strike": "attack", "wrote": "posted",
    "wants": "seeks", "continue": "go on", "rescuers": "emergency workers", "still": "yet", "need": "require",
    "deliberate": "intentional", "civilian": "residential", "city": "town", "recover": "rebuild",
    "partners": "allies", "allies": "partners", "damaged": "hit", "buildings": "blocks", "served": "supplied",
    "according": "as reported", "believed": "thought", "helping": "assisting", "assisting": "helping",
    "advanced": "sophisticated", "technology": "technologies", "seeks": "aims", "launch": "send up",
    "another": "one more", "military": "armed", "provision": "delivery", "cover": "meet", "yearly": "annual",
    "annual": "yearly", "shortage": "deficit", "shortages": "deficits", "sent": "dispatched",
    "dispatched": "sent", "deal": "arrangement", "war": "conflict", "conflict": "war", "help": "assist", "possibly": "perhaps", "fight": "battle", "alongside": "together with",
    "event": "case", "report": "study", "decision": "move", "calculation": "reckoning", "early": "quick",
    "support": "backing", "backing": "support", "ongoing": "continuing", "officials": "authorities",
    "intelligence": "spy agencies", "estimated": "assessed", "estimates": "assessments", "monthly": "per month",
    "wage": "salary", "salary": "wage", "revenue": "income", "around": "about", "about": "roughly",
    "approximately": "about", "nearly": "almost", "significantly": "considerably", "significant": "considerable",
    "concern": "worry", "worldwide": "around the world", "believes": "thinks", "agreed": "consented",
    "cooperation": "collaboration", "ties": "relations", "relations": "ties", "signed": "concluded",
    "agreement": "accord", "pact": "treaty", "assistance": "aid", "aid": "assistance", "lose": "forfeit",
    "gains": "wins", "joining": "entering", "confirmed": "verified", "deployed": "stationed", "region": "area",
    "considerable": "substantial", "severe": "serious", "benefits": "advantages", "costs": "price",
    "analysis": "assessment", "experts": "specialists", "quoted": "cited", "briefing": "presentation",
    "lawmakers": "legislators", "training": "preparing", "weeks": "a few weeks", "payments": "transfers",
    "deliveries": "shipments", "receiving": "getting", "exchange": "return", "famous": "well known",
}
STOPWORDS = frozenset(
    "a an the and or but of to in on at by for with from as is are was were be been being that this these "
    "those it its their they them he she his her we our you your i not no so than then there which who whom "
    "whose what when where while if into over under about up down out more most less also only just very "
    "can will would should may might must has have had do does did said says".split()
)
_FIGURE = re.compile(r"\$?\d[\d,.]*\d%?(?:\s+(?:to|and)\s+\$?\d[\d,.]*\d%?)?(?:\s+[a-zA-Z/]+)?")
RELATED_DOMAIN = {"economy": "trade", "trade": "economy", "sport": "weather", "weather": "conflict", "conflict": "weather"}
_QUOTE = re.compile(r"[“\"]([^”\"]{20,}?)[,.]?[”\"]")
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])|(?<=[.!?][”\"]))\s+(?=[“\"A-Z0-9-])")
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")


@dataclass(frozen=True)
class _Base:
    passage_id: str
    doc_id: str
    text: str
    names: tuple[str, ...]
    domain: str


def _numbers(rng: random.Random) -> dict[str, str]:
    def n(lo, hi):
        return f"{rng.randint(lo, hi):,}"

    return {
        "bp": str(rng.choice((25, 50, 75, 100))), "rate": f"{rng.randint(10, 140) / 4:.2f}", "ord": rng.choice(("second", "third", "fourth", "fifth")),
        "infl": f"{rng.randint(21, 189) / 10:.1f}", "tgt": rng.choice(("2", "3", "2.5", "4")), "cnt": rng.choice(("two", "three", "four")),
        "hh": n(80_000, 2_400_000), "pct": f"{rng.randint(11, 199) / 10:.1f}", "pct2": f"{rng.randint(11, 299) / 10:.1f}",
        "pct3": f"{rng.randint(11, 299) / 10:.1f}", "usd": f"{rng.randint(30, 990) / 10:.1f}", "usd2": n(120, 9_800),
        "usd3": n(120, 9_800), "year": str(rng.randint(1998, 2021)), "g1": str(rng.randint(1, 5)), "g2": str(rng.randint(0, 1)),
        "pts": str(rng.randint(2, 12)), "left": str(rng.randint(3, 14)), "crowd": n(8_000, 81_000), "lost": str(rng.randint(3, 6)),
        "played": str(rng.randint(7, 10)), "pos": str(rng.randint(11, 19)), "mm": str(rng.randint(60, 380)), "hours": str(rng.choice((6, 12, 24, 48))),
        "regions": str(rng.randint(2, 11)), "kmh": str(rng.randint(9, 19) * 10), "homes": n(3_000, 240_000), "evac": n(120, 18_000),
        "drones": str(rng.randint(20, 190)), "missiles": str(rng.randint(2, 40)), "down": str(rng.randint(10, 150)),
        "killed": str(rng.randint(1, 19)), "injured": str(rng.randint(3, 90)), "buildings": str(rng.randint(2, 30)),
    }


def _person(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return f"{rng.choice(KOREAN_SURNAMES)} {rng.choice(KOREAN_GIVEN)}"
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def _slots(rng: random.Random) -> dict[str, str]:
    values = _numbers(rng)
    people = [_person(rng), _person(rng)]
    while people[1] == people[0]:
        people[1] = _person(rng)
    values |= {
        "p": people[0], "p2": people[1], "c": rng.choice(COUNTRIES), "city": rng.choice(CITIES), "town": rng.choice(FRONT_TOWNS),
        "day": rng.choice(DAYS), "month": rng.choice(MONTHS),  "bank": rng.choice(("Nordbank", "Halvorsen Capital", "Meridian Securities", "Atlas Research", "Keystone Partners", "Baltic Equity")),
        "t1": rng.choice(TEAMS), "headline": rng.choice(HEADLINES),
    }
    for key, options in WORD_CHOICES.items():
        values[key] = rng.choice(options)
    values["w_when"] = rng.choice((f"on {values['day']}", f"late on {values['day']}", f"on {values['day']} morning", f"this {values['day']}"))
    values["w_goods_cap"] = values["w_goods"][0].upper() + values["w_goods"][1:]
    values["w_coach_cap"] = values["w_coach"][0].upper() + values["w_coach"][1:]
    values["w_overnight_cap"] = values["w_overnight"][0].upper() + values["w_overnight"][1:]
    values["t2"] = rng.choice([t for t in TEAMS if t != values["t1"]])
    for key, options in QUOTES.items():
        values[key] = rng.choice(options)
    return values


def _fill(rng: random.Random, domain: str, min_sentences: int = 1) -> tuple[str, tuple[str, ...]]:
    """A paragraph from one domain's template and the person names in it."""
    values = _slots(rng) | {"org": rng.choice(ORGS[domain])}
    sentences = []
    for i, (options, probability) in enumerate(TEMPLATES[domain]):
        if i < min_sentences or rng.random() < probability:
            sentence = rng.choice(options).format(**values)
            sentences.append(sentence[0].upper() + sentence[1:])
    text = " ".join(sentences)
    return text, tuple(name for name in (values["p"], values["p2"]) if name in text)


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _replace_words(text: str, rng: random.Random, share: float | None, count: int | None) -> tuple[str, int, int]:
    """Replace content words by synonyms: `count` of them, or at least `share` of all content
    words. Returns (text, replaced, content words); `replaced` may fall short when the
    dictionary has too few of the passage's words."""
    words = list(_WORD.finditer(text))
    content = [m for m in words if m.group().lower() not in STOPWORDS]
    candidates = [m for m in content if m.group().lower() in SYNONYMS]
    rng.shuffle(candidates)
    wanted = count if count is not None else -(-int(share * 100) * len(content) // 100)
    chosen = sorted(candidates[:wanted], key=lambda m: m.start())
    pieces, last = [], 0
    for m in chosen:
        synonym = SYNONYMS[m.group().lower()]
        if m.group()[0].isupper():
            synonym = synonym[0].upper() + synonym[1:]
        pieces += [text[last:m.start()], synonym]
        last = m.end()
    return "".join(pieces) + text[last:], len(chosen), len(content)


_ATTRIBUTIONS = (
    (re.compile(r"(?<=,”) he said\.$"), " {name} was quoted as saying."),
    (re.compile(r"(?<=,”) she said\.$"), " {name} was quoted as saying."),
    (re.compile(r"\btold reporters\b"), "said"),
    (re.compile(r"\bsaid on (Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b"), "told reporters on \\1"),
    (re.compile(r", according to ([^,.]+)\."), ", {source_said}."),
    (re.compile(r"\bwrote on Telegram\b"), "said in a statement"),
    (re.compile(r"\bsaid after the match\b"), "told the club's website"),
    (re.compile(r"\bsaid\b"), "stated"),
)


def _attribution(text: str, rng: random.Random, names: tuple[str, ...]) -> str | None:
    for pattern, replacement in _ATTRIBUTIONS:
        match = pattern.search(text)
        if match:
            name = names[0] if names else "the official"
            source = match.group(1) if match.groups() and pattern.pattern.startswith(", according") else ""
            filled = replacement.format(name=name, source_said=f"{source} said" if source else "")
            return text[: match.start()] + match.expand(filled) + text[match.end():]
    return None


def _name_variant(name: str, rng: random.Random) -> str | None:
    if name in NAME_VARIANTS:
        return rng.choice(NAME_VARIANTS[name])
    parts = name.split(" ")
    options = []
    if parts[0] in KOREAN_SURNAME_VARIANTS:
        options.append(" ".join([KOREAN_SURNAME_VARIANTS[parts[0]], *parts[1:]]))
    if "-" in name:
        options.append(name.replace("-", ""))
    for old, new in (("y", "i"), ("ks", "x"), ("kh", "h"), ("oo", "u"), ("ei", "ey"), ("ch", "tch"), ("w", "v")):
        if old in name:
            options.append(name.replace(old, new))
    return rng.choice(options) if options else None


def _transliteration(text: str, rng: random.Random, names: tuple[str, ...]) -> str | None:
    """Re-spell one person's name everywhere, or swap one place for its metonym."""
    found = [n for n in (*names, *NAME_VARIANTS) if n in text]
    variants = [(n, v) for n in dict.fromkeys(found) if (v := _name_variant(n, rng))]
    places = [p for p in PLACE_VARIANTS if re.search(rf"\b{re.escape(p)}\b", text)]
    if variants and (not places or rng.random() < 0.6):
        name, variant = rng.choice(variants)
        return text.replace(name, variant)
    if places:
        place = rng.choice(places)
        return re.sub(rf"\b{re.escape(place)}\b", PLACE_VARIANTS[place], text, count=1)
    return None


def _light_edit(text: str, edit: str, rng: random.Random, names: tuple[str, ...]) -> str | None:
    """`text` with one light edit, or None when the edit does not apply to this passage."""
    sentences = _sentences(text)
    if edit == "synonym_swap":
        edited, replaced, _ = _replace_words(text, rng, None, rng.randint(1, 3))
        return edited if replaced else None
    if edit == "transliteration":
        return _transliteration(text, rng, names)
    if edit == "attribution":
        return _attribution(text, rng, names)
    if edit == "trim_sentence":
        if len(sentences) < 3:
            return None
        return " ".join(sentences[:-1] if rng.random() < 0.6 else sentences[1:])
    if edit == "cut_half":
        words = text.split()
        if len(sentences) >= 2:
            running = np.cumsum([len(s.split()) for s in sentences])
            keep = int(np.argmin(np.abs(running - len(words) / 2))) + 1
            return " ".join(sentences[: min(keep, len(sentences) - 1)])
        return " ".join(words[: len(words) // 2]).rstrip(",;:") + "…"
    if edit == "reorder":
        if len(sentences) < 2:
            return None
        order = list(range(len(sentences)))
        while order == sorted(order):
            rng.shuffle(order)
        return " ".join(sentences[i] for i in order)
    if edit == "boilerplate":
        values = {"p": _person(rng), "p2": _person(rng), "headline": rng.choice(HEADLINES)}
        extra = rng.choice(BOILERPLATE_SENTENCES).format(**values)
        if rng.random() < 0.8:
            return f"{text} {extra}"
        return f"{extra} {text}" if extra[-1] in ".)" else f"{extra}. {text}"
    raise ValueError(f"unknown light edit {edit!r}")


def _reorder_clauses(sentence: str) -> str:
    match = re.match(r"^(.+), according to ([^,]+)\.$", sentence)
    if match:
        return f"According to {match.group(2)}, {match.group(1)[0].lower()}{match.group(1)[1:]}."
    match = re.match(r"^According to ([^,]+), (.+)\.$", sentence)
    if match:
        return f"{match.group(2)[0].upper()}{match.group(2)[1:]}, according to {match.group(1)}."
    match = re.match(r"^(.+), ([A-Z][^,]{2,60}) said\.$", sentence)
    if match and not match.group(1).startswith("“"):
        return f"{match.group(2)} said {match.group(1)[0].lower()}{match.group(1)[1:]}."
    return sentence


def _paraphrase(text: str, rng: random.Random) -> str | None:
    """Synonyms for at least 30% of the content words, clauses and sentences reordered; None
    when the synonym dictionary knows too few of the passage's words."""
    share = rng.uniform(0.3, 0.45)
    edited, replaced, n_content = _replace_words(text, rng, share, None)
    if n_content == 0 or replaced / n_content < 0.3:
        return None
    sentences = [_reorder_clauses(s) for s in _sentences(edited)]
    if len(sentences) >= 2 and rng.random() < 0.5:
        sentences = sentences[1:] + sentences[:1]
    return " ".join(sentences)


def _verbatim(text: str, rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.5:
        return text, "identical"
    typographic = text.replace("“", '"').replace("”", '"').replace("’", "'").replace(" — ", " - ")
    if typographic == text:
        typographic = text.replace('"', "“", 1).replace('"', "”", 1).replace("'", "’")
    return typographic.replace(". ", ".  ", 1), "typography"


def _shared_quote_negative(base: _Base, rng: random.Random) -> str | None:
    """A different passage that repeats the base's whole quote in a new context."""
    match = _QUOTE.search(base.text)
    if not match or len(match.group(1).split()) < 6:
        return None
    lead, _ = _fill(rng, base.domain if base.domain in TEMPLATES else "conflict")
    speaker = _person(rng)
    frame = rng.choice((
        "Speaking in {city} on {day}, {speaker} repeated the line: “{quote}.”",
        "“{quote},” {speaker} wrote in a column on {day}, questioning the claim.",
        "{speaker} recalled the words “{quote}” when asked about the talks in {city}.",
    ))
    return f"{lead.split('. ')[0].rstrip('.')}. " + frame.format(
        city=rng.choice(CITIES), day=rng.choice(DAYS), speaker=speaker, quote=match.group(1).rstrip(",.")
    )


def _shared_numbers_negative(base: _Base, rng: random.Random) -> str | None:
    """A different passage that reports the same figures: the lead of another story of a
    related kind, then a speaker disputing the base's figures (each with its unit)."""
    figures = list(dict.fromkeys(_FIGURE.findall(base.text)))
    if len(figures) < 2:
        return None
    figures = figures[:4]
    lead, _ = _fill(rng, RELATED_DOMAIN.get(base.domain, "conflict"))
    listed = ", ".join(figures[:-1]) + " and " + figures[-1]
    return f"{_sentences(lead)[0]} {_person(rng)} questioned the figures given on {rng.choice(DAYS)}: {listed}, " \
        f"which, {rng.choice(('she', 'he'))} said, could not be checked independently."


def _article_bases(articles: pl.DataFrame, min_words: int) -> list[_Base]:
    kept = articles.filter(pl.col("text").str.count_matches(r"\S+") >= min_words).sort("passage_id")
    return [
        _Base(pid, doc, text, tuple(n for n in NAME_VARIANTS if n in text), "article")
        for pid, doc, text in kept.select("passage_id", "doc_id", "text").iter_rows()
    ]


def generate_eval_set(
    seed: int, n_base: int, articles: pl.DataFrame | None = None, min_article_words: int = 12
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(`passages`: passage_id, doc_id, text; `truth`: passage_id, group_id, kind, edit).

    Deterministic in `seed` and the inputs. `n_base` base passages: the body passages of
    `articles` with at least `min_article_words` words (pass one passage per gold group, see
    `seed_article_bases`, so that no two bases are already copies), then templated paragraphs.
    About 70% of bases get one to three copies in other documents — verbatim 20%, a light
    edit 55% (one of `LIGHT_EDITS`), a paraphrase 25% — and about 15% get a hard negative.
    An edit that does not apply to a passage (no name to re-spell, one sentence to reorder)
    is replaced by one that does, so the kind mix depends a little on the passages.
    """
    rng = random.Random(seed)
    bases = _article_bases(articles, min_article_words)[:n_base] if articles is not None else []
    domains = sorted(TEMPLATES)
    per_doc = 6
    while len(bases) < n_base:
        i = len(bases)
        domain = rng.choice(domains)
        text, names = _fill(rng, domain)
        bases.append(_Base(f"s{i:05d}", f"syn{i // per_doc:04d}", text, names, domain))

    n_outlets = max(8, n_base // 4)
    passages: list[tuple[str, str, str]] = []
    truth: list[tuple[str, str, str, str]] = []
    for base in bases:
        group = base.passage_id
        passages.append((base.passage_id, base.doc_id, base.text))
        truth.append((base.passage_id, group, "original", ""))
        n_copies = 0 if rng.random() < 0.3 else rng.randint(1, 3)
        outlets = rng.sample(range(n_outlets), n_copies)
        for j, outlet in enumerate(outlets):
            kind, edit, text = _make_copy(base, rng)
            copy_id = f"{base.passage_id}-c{j + 1}"
            passages.append((copy_id, f"out{outlet:04d}", text))
            truth.append((copy_id, group, kind, edit))
        if rng.random() < 0.15:
            makers = [("shared_quote", _shared_quote_negative), ("shared_numbers", _shared_numbers_negative)]
            rng.shuffle(makers)
            for edit, maker in makers:
                text = maker(base, rng)
                if text:
                    negative_id = f"{base.passage_id}-n1"
                    passages.append((negative_id, f"neg{rng.randrange(n_outlets):04d}", text))
                    truth.append((negative_id, negative_id, "negative", edit))
                    break
    return (
        pl.DataFrame(passages, schema=PASSAGES_SCHEMA, orient="row"),
        pl.DataFrame(truth, schema=TRUTH_SCHEMA, orient="row"),
    )


def _make_copy(base: _Base, rng: random.Random) -> tuple[str, str, str]:
    draw = rng.random()
    if draw < 0.25:
        text = _paraphrase(base.text, rng)
        if text is not None and text != base.text:
            return "paraphrase", "synonyms_reorder", text
    if draw < 0.45:
        text, edit = _verbatim(base.text, rng)
        return "verbatim", edit, text
    edits = list(LIGHT_EDITS)
    rng.shuffle(edits)
    for edit in edits:
        text = _light_edit(base.text, edit, rng, base.names)
        if text is not None and text != base.text:
            return "light_edit", edit, text
    text, edit = _verbatim(base.text, rng)
    return "verbatim", edit, text


def seed_article_bases(articles: pl.DataFrame, gold_truth: pl.DataFrame) -> pl.DataFrame:
    """The article passages that may serve as independent bases: one per gold group (its base).

    Gold copies of one another must not become separate bases, or the benchmark would count
    the algorithm's correct merge of them as a mistake.
    """
    keep = gold_truth.filter(pl.col("kind").is_in(["original", "negative"])).select("passage_id")
    return articles.join(keep, on="passage_id").sort("passage_id")

