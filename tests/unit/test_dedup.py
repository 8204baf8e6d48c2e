"""Unit tests for pipelines.lib.dedup: normalisation, signatures, matching, clustering."""

from datetime import datetime

import polars as pl
import pytest

from pipelines.lib.dedup import (
    SIGNATURES_SCHEMA,
    DedupConfig,
    candidate_pairs,
    cluster_passages,
    compute_signatures,
    document_syndication,
    match_batch,
    normalised_text,
    normalised_texts,
)
from pipelines.lib.dedup import _by_slices, _coded_normalised, _shingle_plan

QUOTE = (
    "“North Korea is on record as having fought for Russia. If there ever is a war on the Korean "
    "Peninsula, North Korea can now expect Russia to come and help,” he said."
)
QUOTE_COPY = (
    "“North Korea is on record as having fought for Russia. If there ever is a war on the Korean "
    "Peninsula, North Korea can now expect Russia to come and help,” Representative Wi Sung-lac was quoted as saying."
)
OTHER = (
    "Russian President Vladimir Putin signed a mutual defense agreement with North Korean leader "
    "Kim Jong Un during a visit to the East Asian country in June."
)
LONG = (
    "Russia will pay North Korea over $200 million a year for the 10,000 soldiers and send up to "
    "700,000 metric tons of rice, Wi said, citing the National Intelligence Service’s briefing to "
    "South Korean lawmakers last week, according to people familiar with the matter, who added that "
    "the first shipments would leave Vladivostok before the end of the year."
)
TRIMMED = "Russia will pay North Korea over $200 million a year for the 10,000 soldiers and send up to 700,000 metric tons of rice."


def _frame(rows):
    return pl.DataFrame(rows, schema=["passage_id", "doc_id", "text"], orient="row")


def _no_history(ids):
    raise AssertionError("history was not expected to be fetched")


@pytest.mark.parametrize(
    ("text", "normalised"),
    [
        ("Wi Sung-lac’s “deal” — NAÏVE", "wi sung lacs deal naive"),
        ("  600,000 to 700,000 tons\t", "600 000 to 700 000 tons"),
        ("Élysée – Kyiv", "elysee kyiv"),
    ],
)
def test_normalised_text(text, normalised):
    assert pl.select(normalised_text(pl.lit(text))).item() == normalised


def test_normalised_texts_skip_the_unicode_folding_only_where_it_changes_nothing():
    texts = pl.Series(
        "text",
        [
            "Wi Sung-lac’s “deal” — NAÏVE",  # folded: quotes, dash, accent
            "Wi Sung-lac's \"deal\" - naive",  # ASCII: the same words
            "  600,000 to 700,000 tons\t",
            None,
            "",
            "Élysée – Kyiv",
            "ﬁve ＄2,000",  # compatibility forms: NFKD's business, not lower-casing's
            "O'Neil's   ROUND-up...",
        ],
    )
    expected = pl.select(normalised_text(pl.lit(texts))).to_series()
    got = normalised_texts(texts)
    assert got.name == "text"
    assert got.to_list() == expected.to_list()
    assert got.to_list()[:2] == ["wi sung lacs deal naive"] * 2
    assert got.to_list()[6] == "five 2 000"


def test_shingles_by_slices_are_the_shingles_of_one_pass():
    # passages of every length around the shingle size, so slices start and end on short ones
    words = "north korea sends troops to russia for pay and rice".split()
    frame = _frame([(f"p{i:02d}", "d1", " ".join(words[: i % 8])) for i in range(23)])
    coded = _coded_normalised(frame, ["passage_id"])
    config = DedupConfig()
    one = _by_slices(coded, lambda part: _shingle_plan(part, config, "code"), n=1)
    assert one.height > 0 and one["code"].n_unique() == coded.height
    for n in (2, 3, 7, 40):
        assert _by_slices(coded, lambda part: _shingle_plan(part, config, "code"), n=n).equals(one)


def test_a_repeated_text_is_signed_once_and_every_twin_gets_its_signature(monkeypatch):
    import pipelines.lib.dedup as dedup_lib
    from pipelines.lib.dedup import shingle_hashes, sign_batch

    texts = [QUOTE, QUOTE_COPY, OTHER, LONG, TRIMMED, QUOTE.upper(), "Related: more", "x"]
    rows = [(f"p{(i * 37) % 101:03d}", f"d{i % 9}", texts[(i * 5) % len(texts)]) for i in range(60)]
    frame = _frame(rows)
    config = DedupConfig()
    # each passage signed on its own: what every twin's signature must be
    alone = pl.concat([compute_signatures(frame.slice(i, 1), config)[0] for i in range(frame.height)]).sort("passage_id")
    for chunk in (7, 13, 50_000):  # twins split across chunks, and all in one
        monkeypatch.setattr(dedup_lib, "SIGN_CHUNK_PASSAGES", chunk)
        signatures, coded = sign_batch(frame, config)
        assert signatures.sort("passage_id").equals(alone)
        assert compute_signatures(frame, config)[0].equals(alone)
        # shingles are kept for the smallest passage id of each distinct text, and are its own
        ids = signatures["passage_id"].gather(coded["code"].unique(maintain_order=True))
        norms = alone.select("passage_id", "norm_hash")
        smallest = norms.group_by("norm_hash").agg(pl.col("passage_id").min())["passage_id"]
        assert set(smallest) <= set(ids) and len(ids) < frame.height
        kept = coded.select(passage_id=signatures["passage_id"].gather(coded["code"]), shingle="shingle")
        expected = shingle_hashes(frame.filter(pl.col("passage_id").is_in(ids.implode())), config)
        assert kept.sort("passage_id", "shingle").equals(expected.sort("passage_id", "shingle"))


def test_signatures_are_deterministic_and_equal_for_equal_text():
    frame = _frame([("a", "d1", QUOTE), ("b", "d2", QUOTE.upper()), ("c", "d3", OTHER)])
    sig1, _ = compute_signatures(frame, DedupConfig())
    sig2, _ = compute_signatures(frame, DedupConfig())
    assert sig1.equals(sig2)
    keys = dict(zip(sig1["passage_id"], sig1["band_keys"].to_list()))
    assert keys["a"] == keys["b"] and keys["a"] != keys["c"]
    assert len(keys["a"]) == 40


def test_match_batch_finds_exact_near_and_trimmed_copies_only():
    frame = _frame(
        [("a", "d1", QUOTE), ("b", "d2", QUOTE_COPY), ("c", "d3", QUOTE), ("e", "d1", OTHER),
         ("f", "d2", LONG), ("g", "d3", TRIMMED)]
    )
    _, matches = match_batch(frame, pl.DataFrame(schema=SIGNATURES_SCHEMA), _no_history, DedupConfig())
    kinds = {(r["passage_id_a"], r["passage_id_b"]): r["match_kind"] for r in matches.iter_rows(named=True)}
    assert kinds == {("a", "c"): "exact", ("a", "b"): "near", ("f", "g"): "near"}
    trimmed = matches.filter(pl.col("passage_id_b") == "g").row(0, named=True)
    assert trimmed["containment"] == 1.0 and trimmed["jaccard"] < 0.5


def test_second_batch_is_matched_against_history():
    config = DedupConfig()
    first = _frame([("a", "d1", QUOTE), ("e", "d1", OTHER)])
    history, _ = match_batch(first, pl.DataFrame(schema=SIGNATURES_SCHEMA), _no_history, config)
    fetched = []

    def fetch(ids):
        fetched.extend(ids)
        return first.filter(pl.col("passage_id").is_in(ids)).select("passage_id", "text")

    second = _frame([("b", "d2", QUOTE_COPY)])
    signatures, matches = match_batch(second, history, fetch, config)
    assert signatures["passage_id"].to_list() == ["b"]
    assert matches.select("passage_id_a", "passage_id_b", "match_kind").rows() == [("a", "b", "near")]
    assert fetched == ["a"]


def test_cluster_passages_names_clusters_and_picks_canonical():
    passages = pl.DataFrame(
        {
            "passage_id": ["a", "b", "c", "z"],
            "doc_id": ["d1", "d2", "d3", "d3"],
            "char_start": [0, 0, 0, 100],
            "char_end": [100, 120, 100, 150],
            "published_at": [datetime(2024, 11, 4), None, datetime(2024, 10, 25), None],
            "is_boilerplate": [False, False, False, False],
        }
    )
    matches = pl.DataFrame(
        {"passage_id_a": ["a", "a"], "passage_id_b": ["b", "c"], "jaccard": [0.7, 1.0],
         "containment": [0.9, 1.0], "match_kind": ["near", "exact"]}
    )
    members, clusters = cluster_passages(passages, matches)
    assert members.rows() == [("a", "a"), ("b", "a"), ("c", "a"), ("z", "z")]
    assert clusters.rows() == [("a", "c", 3, 3, "near", 0.9), ("z", "z", 1, 1, "exact", 1.0)]
    syndication = document_syndication(passages, members)
    assert syndication.select("doc_id_a", "doc_id_b", "n_shared_passages", "shared_chars_a").rows() == [
        ("d1", "d2", 1, 100), ("d1", "d3", 1, 100), ("d2", "d3", 1, 120)
    ]
    assert syndication.filter(pl.col("doc_id_a") == "d1", pl.col("doc_id_b") == "d3")["share_of_b"].item() == 100 / 150


def test_config_rejects_inconsistent_banding():
    with pytest.raises(ValueError, match="must equal num_perm"):
        DedupConfig(num_perm=128, bands=20, rows_per_band=5)


def test_exact_twin_links_to_history_whichever_id_is_smaller():
    config = DedupConfig()
    for old_id, new_id in [("aaa-p0001", "zzz-p0001"), ("zzz-p0001", "aaa-p0001")]:
        history, _ = match_batch(_frame([(old_id, "d1", OTHER)]), pl.DataFrame(schema=SIGNATURES_SCHEMA), _no_history, config)
        _, matches = match_batch(_frame([(new_id, "d2", OTHER)]), history, _no_history, config)
        assert matches.select("passage_id_a", "passage_id_b", "match_kind").rows() == [("aaa-p0001", "zzz-p0001", "exact")]


def test_a_crowded_bucket_yields_no_candidates():
    import dataclasses

    frame = _frame([("a", "d1", QUOTE), ("b", "d2", QUOTE_COPY), ("e", "d1", OTHER)])
    config = DedupConfig()
    signatures, _ = compute_signatures(frame, config)
    _, lsh = candidate_pairs(signatures, pl.DataFrame(schema=SIGNATURES_SCHEMA), config)
    assert lsh.rows() == [("a", "b")]
    # every bucket a and b share holds two passages: over a cap of one, none of them is used
    crowded = dataclasses.replace(config, max_bucket_size=1)
    _, lsh = candidate_pairs(signatures, pl.DataFrame(schema=SIGNATURES_SCHEMA), crowded)
    assert lsh.is_empty()
    assert crowded.signature_version != config.signature_version


@pytest.mark.parametrize(
    ("n_a", "n_b", "lowest", "needed"),
    [
        (20, 20, 0.5, 60 - 4 * 30**0.5),  # containment 0.8 of equal sizes implies Jaccard 0.67: the Jaccard rule is lower
        (12, 100, 9.6 / 102.4, None),  # a 12-shingle passage inside a 100-shingle one: Jaccard 0.094 can still pass
        (11, 100, 0.5, 60 - 4 * 30**0.5),  # below containment_min_shingles only the Jaccard rule applies
        (30, 45, 24 / 51, 120 * 24 / 51 - 4 * (120 * 24 / 51 * 27 / 51) ** 0.5),
    ],
)
def test_lowest_acceptable_jaccard_and_required_digests(n_a, n_b, lowest, needed):
    from pipelines.lib.dedup import lowest_acceptable_jaccard, required_equal_digests

    config = DedupConfig()
    frame = pl.DataFrame({"n_a": [n_a], "n_b": [n_b]})
    got = frame.select(lowest_acceptable_jaccard(pl.col("n_a"), pl.col("n_b"), config)).item()
    assert got == pytest.approx(lowest, rel=1e-12)
    required = frame.select(required_equal_digests(lowest_acceptable_jaccard(pl.col("n_a"), pl.col("n_b"), config), config)).item()
    if needed is None:
        assert required < 0  # no estimate can rule such a pair out
    else:
        assert required == pytest.approx(needed, rel=1e-12)


def test_a_band_collision_far_below_the_thresholds_is_not_verified():
    # Two passages of one story that share a long quote and nothing else: Jaccard 0.31, under
    # both rules. With 40 bands of 3 rows they share a band; their 120 digests agree far less
    # often than a copy's would, so the estimate drops them before exact verification.
    import dataclasses

    quote = (
        "the ministry said the shipments of rice would continue through the winter and that the "
        "soldiers would be paid every month in foreign currency"
    )
    frame = _frame(
        [
            (
                "a",
                "d1",
                "In Seoul, officials briefed lawmakers on Tuesday about the deployment near Kursk, where units "
                f"have trained since the autumn under Russian officers and with Russian equipment; {quote}.",
            ),
            (
                "b",
                "d2",
                f"{quote}. In Washington, analysts warned that satellite imagery confirms none of it so far and "
                "that every figure traces back to a single intelligence briefing.",
            ),
        ]
    )
    config = DedupConfig()
    signatures, shingles = compute_signatures(frame, config)
    everything = dataclasses.replace(config, estimate_z=1e9)
    _, banded = candidate_pairs(signatures, pl.DataFrame(schema=SIGNATURES_SCHEMA), everything)
    _, estimated = candidate_pairs(signatures, pl.DataFrame(schema=SIGNATURES_SCHEMA), config)
    sets = shingles.group_by("passage_id").agg("shingle")
    a, b = (set(s) for s in sets.sort("passage_id")["shingle"].to_list())
    jaccard = len(a & b) / len(a | b)
    assert jaccard < 0.35 and len(a & b) / min(len(a), len(b)) < 0.8
    assert banded.rows() == [("a", "b")]
    equal = sum(x == y for x, y in zip(*signatures.sort("passage_id")["minhash"].to_list()))
    assert equal == 25  # of 120; a pair needs 60 − 4·√30 ≈ 38.1
    assert estimated.is_empty()


def test_history_digests_fetched_for_candidates_only_give_the_same_pairs():
    """The embedded stage reads history signatures without their digests and fetches the
    digests of the history's candidates; the pairs are the ones the full history gives."""
    from tests.conftest import RAW_SEEDS

    config = DedupConfig()
    paragraphs = [
        (f"{path.stem[:3]}-{i:03d}", path.stem[:3], text)
        for path in sorted(RAW_SEEDS.glob("*.txt"))
        for i, text in enumerate(path.read_text(encoding="utf-8").split("\n\n"))
        if len(text.split()) >= 8
    ]
    history_rows = [r for r in paragraphs if r[1] in ("000", "001", "002")]
    # the new batch: the other seeds, and near copies of history paragraphs (shuffled ids)
    new_rows = [r for r in paragraphs if r[1] not in ("000", "001", "002")] + [
        (f"new-{i:03d}", "new", text.replace(" the ", " a ", 1) + " he added.") for i, (_, _, text) in enumerate(history_rows[::3])
    ] + [("new-twin", "new", QUOTE), ("new-copy", "new", QUOTE_COPY)]
    history, _ = compute_signatures(_frame(history_rows + [("000-zzz", "000", QUOTE)]), config)
    new, _ = compute_signatures(_frame(new_rows), config)
    expected = candidate_pairs(new, history, config)
    fetched = []

    def fetch_digests(ids):
        fetched.extend(ids)
        return history.filter(pl.col("passage_id").is_in(ids)).select("passage_id", "minhash").sample(fraction=1.0, shuffle=True, seed=1)

    got = candidate_pairs(new, history.drop("minhash"), config, fetch_digests)
    assert expected[1].height > 5  # LSH pairs with the history exist
    for mine, theirs in zip(got, expected):  # (exact pairs, LSH pairs), in any order
        assert mine.sort(pl.all()).equals(theirs.sort(pl.all()))
    assert 0 < len(fetched) < history.height and set(fetched) <= set(history["passage_id"])
    with pytest.raises(ValueError, match="need fetch_digests"):
        candidate_pairs(new, history.drop("minhash"), config)


def test_band_keys_fold_each_bands_rows_into_the_stored_key():
    """Stored band keys must stay comparable with new ones: the in-place fold gives the keys of
    the plain formula, key = ((b·φ ^ d₀)·P ^ d₁)·P … over a band's rows, mod 2⁶⁴."""
    import numpy as np

    from pipelines.lib.dedup import DedupConfig, _band_keys

    config = DedupConfig()
    rng = np.random.default_rng(7)
    digests = rng.integers(0, 2**32, size=(257, config.num_perm), dtype=np.uint64).astype(np.uint32)
    digests[0] = 2**32 - 1  # the largest digest everywhere
    digests[1] = 0
    mask = (1 << 64) - 1
    expected = np.empty((len(digests), config.bands), dtype=np.uint64)
    for i, row in enumerate(digests.tolist()):
        for band in range(config.bands):
            key = (band * 0x9E3779B97F4A7C15) & mask
            for r in range(config.rows_per_band):
                key = ((key ^ row[band * config.rows_per_band + r]) * 0x100000001B3) & mask
            expected[i, band] = key
    assert np.array_equal(_band_keys(digests, config), expected)
