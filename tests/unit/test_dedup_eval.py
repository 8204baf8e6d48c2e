"""Unit tests for pipelines.lib.dedup_eval: scores, ARI, the gold file and the generated set."""

from pathlib import Path

import polars as pl
import pytest

from pipelines.lib.dedup import DedupConfig
from pipelines.lib.dedup_eval import (
    KIND_RANK,
    LIGHT_EDITS,
    adjusted_rand_index,
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

PROJECT_ROOT = Path(__file__).resolve().parents[2]
RAW_SEEDS = PROJECT_ROOT / "raw"
GOLD_PATH = PROJECT_ROOT / "tests" / "data" / "dedup_gold_seeds.jsonl"


def _members(rows):
    return pl.DataFrame(rows, schema=["passage_id", "cluster_id"], orient="row")


def _truth(rows):
    return pl.DataFrame(rows, schema=["passage_id", "group_id", "kind"], orient="row")


@pytest.mark.parametrize(
    ("labels_true", "labels_pred", "ari"),
    [
        ([1, 1, 2, 2, 3], ["x", "x", "y", "y", "z"], 1.0),  # identical up to renaming
        ([1, 2, 3, 4], [5, 6, 7, 8], 1.0),  # all singletons on both sides
        ([1, 1, 1, 1], [2, 2, 2, 2], 1.0),  # one cluster on both sides
        # {1,2,3},{4,5} vs {1,2},{3,4,5}: index 2, expected 4·4/10 = 1.6, max 4 → 0.4 / 2.4
        ([1, 1, 1, 2, 2], [1, 1, 2, 2, 2], 1 / 6),
        # {1,2},{3,4} vs {1,3},{2,4}: index 0, expected 2·2/6, max 2 → −(2/3) / (4/3)
        ([1, 1, 2, 2], [1, 2, 1, 2], -0.5),
    ],
)
def test_adjusted_rand_index(labels_true, labels_pred, ari):
    assert adjusted_rand_index(labels_true, labels_pred) == pytest.approx(ari, abs=1e-12)


def test_adjusted_rand_index_rejects_labellings_of_different_lengths():
    with pytest.raises(ValueError, match="same items"):
        adjusted_rand_index([1, 1, 2], [1, 2])


def test_score_clustering_counts_pairs_by_kind():
    # truth: g1 = a (base), b (verbatim), c (light edit); g2 = d (base), e (paraphrase); f a hard negative
    truth = _truth(
        [("a", "g1", "original"), ("b", "g1", "verbatim"), ("c", "g1", "light_edit"),
         ("d", "g2", "original"), ("e", "g2", "paraphrase"), ("f", "f", "negative")]
    )
    # predicted: c split off its group, f merged into g2
    members = _members([("a", "X"), ("b", "X"), ("c", "Y"), ("d", "Z"), ("e", "Z"), ("f", "Z")])
    scores = score_clustering(members, truth)
    assert scores["overall"] == {
        "n_true_pairs": 4, "n_predicted_pairs": 4, "n_correct_pairs": 2, "precision": 0.5, "recall": 0.5,
    }
    assert scores["by_kind"] == {
        "verbatim": {"n_true_pairs": 1, "n_predicted_pairs": 1, "n_correct_pairs": 1, "precision": 1.0, "recall": 1.0},
        # (a, c) and (b, c): the pair of a verbatim and a light-edit copy counts as light_edit
        "light_edit": {"n_true_pairs": 2, "n_predicted_pairs": 0, "n_correct_pairs": 0, "precision": None, "recall": 0.0},
        "paraphrase": {"n_true_pairs": 1, "n_predicted_pairs": 1, "n_correct_pairs": 1, "precision": 1.0, "recall": 1.0},
        # (d, f) and (e, f): wrong pairs that involve the hard negative
        "negative": {"n_true_pairs": 0, "n_predicted_pairs": 2, "n_correct_pairs": 0, "precision": 0.0, "recall": None},
    }
    # contingency g1: X 2, Y 1; g2: Z 2; f: Z 1 → index 2, expected 4·4/15, max 4 → 7/22
    assert scores["ari"] == pytest.approx(7 / 22, abs=1e-12)
    assert (scores["n_passages"], scores["n_groups"], scores["n_clusters"]) == (6, 3, 3)


def test_score_clustering_perfect_clustering():
    truth = _truth([("a", "g1", "original"), ("b", "g1", "verbatim"), ("c", "c", "original")])
    scores = score_clustering(_members([("a", "a"), ("b", "a"), ("c", "c")]), truth)
    assert scores["overall"]["precision"] == 1.0 and scores["overall"]["recall"] == 1.0
    assert scores["ari"] == 1.0


def test_score_clustering_requires_the_same_passages():
    truth = _truth([("a", "g1", "original"), ("b", "g1", "verbatim")])
    with pytest.raises(ValueError, match="same passages"):
        score_clustering(_members([("a", "a")]), truth)


def test_copy_recall_by_edit_and_merged_pairs():
    truth = pl.DataFrame(
        [("a", "g", "original", ""), ("b", "g", "light_edit", "cut_half"), ("c", "g", "light_edit", "cut_half"),
         ("d", "g", "verbatim", "identical")],
        schema=["passage_id", "group_id", "kind", "edit"], orient="row",
    )
    members = _members([("a", "a"), ("b", "a"), ("c", "c"), ("d", "a")])
    recall = copy_recall_by_edit(members, truth)
    assert recall.rows() == [("verbatim", "identical", 1, 1, 1.0), ("light_edit", "cut_half", 2, 1, 0.5)]
    pairs = pl.DataFrame({"a": ["a", "a"], "b": ["b", "c"], "kind": ["negative", "negative"]})
    assert merged_pairs(members, pairs).rows() == [("a", "b", "negative")]


def test_truth_from_gold_picks_the_lightest_edited_passage_as_base():
    gold = pl.DataFrame(
        [("a", "b", "light_edit", ""), ("a", "c", "paraphrase", ""), ("b", "c", "paraphrase", ""), ("d", "e", "negative", "")],
        schema=["a", "b", "kind", "note"], orient="row",
    )
    truth = truth_from_gold(gold, ["a", "b", "c", "d", "e", "f"])
    assert truth.select("passage_id", "group_id", "kind").rows() == [
        ("a", "a", "original"), ("b", "a", "light_edit"), ("c", "a", "paraphrase"),
        ("d", "d", "negative"), ("e", "e", "negative"), ("f", "f", "original"),
    ]


def test_truth_from_gold_rejects_a_group_with_an_unlabelled_pair():
    gold = pl.DataFrame([("a", "b", "verbatim", ""), ("b", "c", "verbatim", "")], schema=["a", "b", "kind", "note"], orient="row")
    with pytest.raises(ValueError, match="not labelled"):
        truth_from_gold(gold, ["a", "b", "c"])


# --- the gold file over the sample articles ---------------------------------------------------


@pytest.fixture(scope="module")
def articles():
    return load_article_passages(RAW_SEEDS)


@pytest.fixture(scope="module")
def gold_truth(articles):
    return truth_from_gold(load_gold_pairs(GOLD_PATH), articles["passage_id"].to_list())


def test_gold_pairs_name_body_passages_and_agree_with_their_partition(articles, gold_truth):
    gold = load_gold_pairs(GOLD_PATH)
    body = set(articles["passage_id"])
    assert set(gold["a"]) | set(gold["b"]) <= body
    assert gold.select("a", "b").is_duplicated().sum() == 0
    groups = dict(zip(gold_truth["passage_id"], gold_truth["group_id"]))
    kinds = dict(zip(gold_truth["passage_id"], gold_truth["kind"]))
    for a, b, kind in gold.select("a", "b", "kind").iter_rows():
        if kind == "negative":
            assert groups[a] != groups[b], (a, b)
        else:
            # every copy pair is labelled with the harder kind of its two passages
            assert groups[a] == groups[b] and max(kinds[a], kinds[b], key=KIND_RANK.get) == kind, (a, b)
    # every pair within a group is labelled (the file lists EVERY copy pair)
    labelled = {(a, b) for a, b, kind in gold.select("a", "b", "kind").iter_rows() if kind != "negative"}
    for group in gold_truth.filter(pl.col("kind") != "negative").group_by("group_id").agg("passage_id").iter_rows():
        members = sorted(group[1])
        assert {(x, y) for i, x in enumerate(members) for y in members[i + 1:]} <= labelled


def test_dedup_on_the_sample_articles_finds_only_the_verbatim_quote_copy(articles, gold_truth):
    members = run_dedup(articles, DedupConfig())
    multi = members.group_by("cluster_id").agg(pl.col("passage_id").sort()).filter(pl.col("passage_id").list.len() > 1)
    assert multi["passage_id"].to_list() == [["000-p0010", "002-p0003"]]
    scores = score_clustering(members, gold_truth)
    assert scores["by_kind"]["light_edit"]["recall"] == pytest.approx(1 / 3)
    assert scores["by_kind"]["paraphrase"]["recall"] == 0.0
    assert scores["overall"]["precision"] == 1.0


# --- the generated set ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def article_bases(articles, gold_truth):
    return seed_article_bases(articles, gold_truth)


def test_generate_eval_set_is_deterministic(article_bases):
    passages, truth = generate_eval_set(11, 200, article_bases)
    again_passages, again_truth = generate_eval_set(11, 200, article_bases)
    assert passages.equals(again_passages) and truth.equals(again_truth)
    other_passages, _ = generate_eval_set(12, 200, article_bases)
    assert not passages.equals(other_passages)


def test_generated_set_is_well_formed(article_bases):
    passages, truth = generate_eval_set(11, 200, article_bases)
    assert passages["passage_id"].is_unique().all() and passages.height == truth.height
    assert set(passages["passage_id"]) == set(truth["passage_id"])
    assert truth.filter(pl.col("kind") == "original").height == 200
    assert set(truth["kind"]) <= set(KIND_RANK)
    assert set(truth.filter(pl.col("kind") == "light_edit")["edit"]) <= set(LIGHT_EDITS)
    docs = truth.join(passages, on="passage_id")
    base_docs = docs.filter(pl.col("kind") == "original").select("group_id", base_doc="doc_id")
    copies = docs.filter(pl.col("kind").is_in(["verbatim", "light_edit", "paraphrase"])).join(base_docs, on="group_id")
    assert copies.height == docs.filter(pl.col("kind").is_in(["verbatim", "light_edit", "paraphrase"])).height
    assert (copies["doc_id"] != copies["base_doc"]).all()
    negatives = truth.filter(pl.col("kind") == "negative")
    assert negatives.height > 0 and (negatives["passage_id"] == negatives["group_id"]).all()
    # the article bases are the body passages of at least 12 words, one per gold group: so
    # 000-p0003 ("The INSS said in the report:") and gold copies such as 002-p0003 are not bases
    article_originals = truth.filter((pl.col("kind") == "original") & ~pl.col("passage_id").str.starts_with("s"))
    long_enough = article_bases.filter(pl.col("text").str.count_matches(r"\S+") >= 12)
    assert sorted(article_originals["passage_id"]) == sorted(long_enough["passage_id"])
    assert "000-p0010" in long_enough["passage_id"] and not {"000-p0003", "002-p0003"} & set(long_enough["passage_id"])


@pytest.fixture(scope="module")
def generated_scores(article_bases):
    passages, truth = generate_eval_set(7, 600, article_bases)
    members = run_dedup(passages, DedupConfig())
    return score_clustering(members, truth), copy_recall_by_edit(members, truth)


@pytest.mark.parametrize("kind", ["verbatim", "light_edit"])
def test_verbatim_and_light_edit_copies_are_clustered(generated_scores, kind):
    scores, _ = generated_scores
    assert scores["by_kind"][kind]["precision"] >= 0.98
    assert scores["by_kind"][kind]["recall"] >= 0.95


@pytest.mark.xfail(
    strict=True,
    reason=(
        "cut_half copies are missed (recall 0.90 here, 0.93 on the 1,500-base eval set): a half of a "
        "one-sentence passage has fewer than containment_min_shingles=12 shingles and Jaccard 0.41-0.45 "
        "< 0.5, so verification rejects it; a multi-sentence passage cut to its first sentence has "
        "Jaccard 0.33-0.40, and 40 bands of 3 rows make it a candidate with probability only 0.78-0.93 "
        "although its containment is 1.0"
    ),
)
def test_every_light_edit_has_recall_of_at_least_095(generated_scores):
    _, by_edit = generated_scores
    light = by_edit.filter(pl.col("kind") == "light_edit")
    assert set(light["edit"]) == set(LIGHT_EDITS)
    assert light["recall"].min() >= 0.95


def test_the_digest_estimate_loses_no_verified_copy(article_bases):
    # The estimate only saves verification work: on the generated set, verifying every band
    # collision (estimate_z so large that nothing is dropped) accepts exactly the same pairs.
    import dataclasses

    from pipelines.lib.dedup import SIGNATURES_SCHEMA, candidate_pairs, compute_signatures, verify_pairs

    passages, _ = generate_eval_set(7, 600, article_bases)
    config = DedupConfig()
    signatures, shingles = compute_signatures(passages, config)
    no_history = pl.DataFrame(schema=SIGNATURES_SCHEMA)
    exact, estimated = candidate_pairs(signatures, no_history, config)
    _, banded = candidate_pairs(signatures, no_history, dataclasses.replace(config, estimate_z=1e9))
    assert estimated.height < banded.height / 2
    assert verify_pairs(exact, estimated, shingles, config).equals(verify_pairs(exact, banded, shingles, config))


@pytest.mark.parametrize("new_share", [0.05, 0.5])
def test_a_small_batch_meets_the_same_buckets_as_a_large_one(article_bases, monkeypatch, new_share):
    # a batch with few probes keeps only the buckets its probes fall in before counting bucket
    # sizes; with the shortcut forced on or off, and with only the stored signatures the batch
    # can meet read from DuckDB (`stored_signatures_near`), the candidates are the same
    import duckdb

    import pipelines.lib.dedup as dedup
    from pipelines.defs.dedup import stored_signatures_near
    from pipelines.lib.dedup import candidate_pairs, compute_signatures

    passages, _ = generate_eval_set(7, 600, article_bases)
    config = DedupConfig(max_bucket_size=4)  # small buckets, so the size cap takes part
    signatures, _ = compute_signatures(passages, config)
    n_history = int(signatures.height * (1 - new_share))
    history, new = signatures.head(n_history), signatures.tail(signatures.height - n_history)
    # twins of stored passages in the batch, one named before its stored group's
    # representative and one after: the first takes the group over, the second joins it
    twins = history.filter(pl.col("n_shingles") >= config.min_shingles).head(2)
    new = pl.concat([new, twins.with_columns(pl.concat_str(pl.Series(["0", "~"]), "passage_id").alias("passage_id"))])
    # Groups whose members' band keys differ (a norm hash is what makes a group): a stored
    # passage the batch meets in a bucket, with a stored twin named before it that shares no
    # bucket with the batch (the twin represents the group, so the passage is no candidate),
    # and a new twin of a stored passage that shares no bucket with it (an exact pair).
    def other_keys(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.with_columns(pl.col("band_keys").list.eval(pl.element() ^ 0x5BD1E995))

    plain = candidate_pairs(new, history, config)[1]
    met = plain.filter(~pl.col("passage_id_a").is_in(new["passage_id"].implode()))["passage_id_a"][0]
    history = pl.concat([history, other_keys(history.filter(pl.col("passage_id") == met)).with_columns(passage_id=pl.lit("0" + met))])
    new_keys = new["band_keys"].explode().unique().implode()
    unmet = history.filter(~pl.col("band_keys").list.eval(pl.element().is_in(new_keys)).list.any())
    new = pl.concat([new, other_keys(unmet.head(1)).with_columns(pl.lit("~" + unmet["passage_id"][0]).alias("passage_id"))])
    results = []
    for share in (0.0, 2.0):  # never, always
        monkeypatch.setattr(dedup, "FEW_PROBES_SHARE", share)
        results.append(candidate_pairs(new, history, config))
    # the stage's way: the history's signatures stay in a DuckDB table; the groups and buckets
    # the batch meets, and the candidates' digests, are read
    conn = duckdb.connect()
    conn.register("_history", history)
    conn.execute("create table passage_signatures as select * from _history")
    near, fetch_bucket_members = stored_signatures_near(conn, new)
    results.append(
        candidate_pairs(
            new, near, config,
            lambda ids: history.filter(pl.col("passage_id").is_in(ids)).select("passage_id", "minhash"),
            fetch_bucket_members,
        )
    )
    (exact_off, lsh_off), (exact_on, lsh_on), (exact_stored, lsh_stored) = results
    assert lsh_off.height > 20
    assert near.height < history.height / 2
    in_exact = set(exact_off["passage_id_a"]) | set(exact_off["passage_id_b"])
    assert {*twins["passage_id"], unmet["passage_id"][0], "~" + unmet["passage_id"][0]} <= in_exact
    assert met not in set(lsh_off["passage_id_a"]) | set(lsh_off["passage_id_b"])
    assert exact_on.sort(exact_on.columns).equals(exact_off.sort(exact_off.columns))
    assert lsh_on.sort(lsh_on.columns).equals(lsh_off.sort(lsh_off.columns))
    assert exact_stored.sort(exact_stored.columns).equals(exact_off.sort(exact_off.columns))
    assert lsh_stored.sort(lsh_stored.columns).equals(lsh_off.sort(lsh_off.columns))
