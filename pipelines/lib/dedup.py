"""Syndicated-passage deduplication: which passages are copies of one another.

Blocks, in the order they run (datatrove's split of MinHash dedup):

1. `normalised_text` — matching-only normalisation: case, accents, quote and dash variants,
   punctuation, whitespace. Offsets in published tables still point into the original text.
2. `compute_signatures` — word shingles hashed by Polars, MinHash digests by rensa (a native,
   maintained MinHash) from one flat buffer, folded into one 64-bit key per LSH band.
3. `candidate_pairs` — exact duplicates by normalised-text hash first (the cheap path);
   passages that have an exact twin already known skip LSH, since their twin's matches are
   theirs too. The rest are candidates when they share any band key with a known or new passage.
4. `verify_pairs` — exact Jaccard and containment of the shingle sets, computed as joins.
5. `cluster_passages` — connected components of the verified pairs, with a canonical passage
   (earliest published, then longest), `match_kind` and `min_similarity` per cluster.
6. `document_syndication` — document pairs and how much text they share.

Incremental by construction: signatures of everything ingested stay in the warehouse, a new
batch is signed once and compared against them, and only the cheap component labelling
(step 5) is recomputed over all verified pairs.
"""

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import polars as pl

from pipelines.lib.graph import connected_components


@dataclass(frozen=True)
class DedupConfig:
    """Parameters, and why they have these values.

    - shingle_size 3: news copies are edited at the word level (a name re-spelled, a clause
      cut); a 3-word shingle survives more of those edits than 5-word shingles while still
      rarely occurring by chance in unrelated passages of one story.
    - num_perm 120 as 40 bands × 3 rows: a pair becomes a candidate with probability 0.99 at
      Jaccard 0.6, 0.83 at 0.35 and 0.04 at 0.1. The low rows per band are for trimmed copies:
      a paragraph cut to a third of its length has Jaccard ~0.35 with the original but
      containment 1.0, and verification (exact, cheap) removes the extra false candidates.
    - jaccard_threshold 0.5 / containment_threshold 0.8: lightly edited copies of 30–80-word
      paragraphs measure 0.55–0.9 Jaccard; a copy cut in half has Jaccard ~0.5 but containment
      ~1.0. Distinct paragraphs of one story that share a quote stay below both (they share
      the quote's shingles but not the rest), hence containment_min_shingles.
    - min_shingles 5: passages shorter than this (headings, "Related:") match only exactly.
    - verify_slice_pairs 50,000: candidate pairs verified per slice; bounds the memory of the
      overlap join (a row per pair and shingle) without changing any result. At 100,000
      generated articles, verifying the first batch 200,000 pairs a slice peaked 0.9 GB
      higher and was no faster.
    - max_bucket_size 100: an LSH bucket (band, key) shared by more than this many distinct
      passages (exact twins count once) yields no candidates, like a stop word. Such buckets
      are short passages agreeing on a stock phrase ("the ministry said"), not copies: a copy
      group is a handful of outlets, and its members share several bands, not one. Without the
      cap their pairs grow with the square of the corpus (at 10,000 generated articles, 27
      buckets over 100 held 829,000 of 1.79 million candidate slots, one bucket 272,000). The
      cap is applied to the buckets as known when a batch is matched; pairs verified earlier
      stay.
    - estimate_z 4: an LSH candidate goes on to exact verification only when its MinHash
      estimate (equal digests of the num_perm) is within 4 standard deviations of the lowest
      Jaccard at which it could still be accepted (0.5, or the Jaccard that containment 0.8
      implies for its two sizes). Three-row bands let through pairs of one story that share a
      quote (Jaccard 0.05–0.2): at 10,000 generated articles 485,000 candidates, 27,000 of
      them copies. A copy is lost only when its estimate falls 4 standard deviations below its
      mean (probability ~3·10⁻⁵).
    """

    shingle_size: int = 3
    num_perm: int = 120
    bands: int = 40
    rows_per_band: int = 3
    seed: int = 20241104
    jaccard_threshold: float = 0.5
    containment_threshold: float = 0.8
    containment_min_shingles: int = 12
    min_shingles: int = 5
    verify_slice_pairs: int = 50_000
    max_bucket_size: int = 100
    estimate_z: float = 4.0

    def __post_init__(self):
        if self.bands * self.rows_per_band != self.num_perm:
            raise ValueError(f"bands × rows_per_band ({self.bands}×{self.rows_per_band}) must equal num_perm ({self.num_perm})")

    @property
    def signature_version(self) -> str:
        """Changes whenever stored signatures stop being comparable with new ones."""
        return (
            f"polars-{pl.__version__}/k{self.shingle_size}/p{self.num_perm}/b{self.bands}/s{self.seed}"
            f"/m{self.max_bucket_size}/z{self.estimate_z:g}"
        )


SIGNATURES_SCHEMA = {
    "passage_id": pl.Utf8,
    "doc_id": pl.Utf8,
    "norm_hash": pl.UInt64,
    "n_shingles": pl.Int32,
    "band_keys": pl.List(pl.UInt64),
    "minhash": pl.List(pl.Int32),
}
MATCHES_SCHEMA = {
    "passage_id_a": pl.Utf8,
    "passage_id_b": pl.Utf8,
    "jaccard": pl.Float64,
    "containment": pl.Float64,
    "match_kind": pl.Utf8,
}

_QUOTES_AND_DASHES = {
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
}


def _by_slices(frame: pl.DataFrame, plan: Callable[[pl.LazyFrame], pl.LazyFrame], n: int | None = None) -> pl.DataFrame:
    """`plan` run on consecutive row slices of `frame`, one per Polars thread, and concatenated
    in order: the same rows as one run when `plan` treats each row (a passage) apart. Polars
    runs a string expression over one column on one thread; the slices' plans run side by side
    (at 78,000 passages, shingling 0.36 -> 0.19 s on 2 cores)."""
    if n is None:
        n = max(1, min(pl.thread_pool_size(), frame.height // MIN_SLICE_ROWS))
    size = -(-frame.height // n) if frame.height else 0
    lazy = frame.lazy()
    return pl.concat([plan(lazy.slice(i * size, size)) for i in range(n)]).collect()


# Rows below which a frame is not sliced (the threads would cost more than they save).
MIN_SLICE_ROWS = 5_000


def normalised_text(text: pl.Expr) -> pl.Expr:
    """Text for matching only: lower case, no accents, no punctuation, single spaces.

    Apostrophes are dropped rather than spaced ("Russia's" → "russias") so possessives stay one
    token; hyphens become spaces, so "Sung-lac" and "Sung lac" match.
    """
    folded = text.str.normalize("NFKD").str.replace_all(r"\p{Mn}", "").str.to_lowercase()
    folded = folded.str.replace_many(list(_QUOTES_AND_DASHES), list(_QUOTES_AND_DASHES.values()))
    return _spaced_words(folded)


def _spaced_words(folded: pl.Expr) -> pl.Expr:
    return folded.str.replace_all("'", "", literal=True).str.replace_all(r"[^\p{L}\p{N}]+", " ").str.strip_chars()


def normalised_texts(text: pl.Series) -> pl.Series:
    """`normalised_text` of each text, the Unicode folding (decomposition, accents, quote and
    dash variants) applied to the texts that are not pure ASCII only: it cannot change an ASCII
    text, and it was a third of the normalisation's time on generated news (83% ASCII)."""
    frame = pl.DataFrame({"text": text})
    out = _by_slices(frame, lambda part: part.select(_spaced_words(pl.col("text").str.to_lowercase()))).to_series()
    unicode_rows = (text.str.len_bytes() != text.str.len_chars()).arg_true()
    if len(unicode_rows):
        folded = _by_slices(frame[unicode_rows], lambda part: part.select(normalised_text(pl.col("text"))))
        out = out.scatter(unicode_rows, folded.to_series())
    return out.alias(text.name)


def shingle_hashes(passages: pl.DataFrame, config: DedupConfig) -> pl.DataFrame:
    """Distinct hashed word shingles per passage: `passage_id`, `shingle` (u64).

    A passage shorter than one shingle is a single shingle of all its words. Rows of one
    passage are contiguous, in the order of `passages`.
    """
    return _shingles_of_normalised(
        passages.select("passage_id", norm=normalised_texts(passages["text"])), config
    )


def _shingles_of_normalised(normalised: pl.DataFrame, config: DedupConfig, key: str = "passage_id") -> pl.DataFrame:
    """`shingle_hashes` from `key` (a passage's id or code) and `norm` (normalised text).

    Each word is hashed once; a shingle is the hash of its k word hashes (missing words past
    the end of a short passage are nulls). Everything is over one flat word column: a word's
    followers are the next rows, kept only while they belong to the same passage. Repeated
    shingles are dropped per passage (a grouped `unique`, in first-seen order: a flat unique
    over (key, shingle) pairs costs twenty times as much).
    """
    return _by_slices(normalised, lambda part: _shingle_plan(part, config, key))


def _shingle_plan(normalised: pl.LazyFrame, config: DedupConfig, key: str) -> pl.LazyFrame:
    k = config.shingle_size
    words = (
        normalised.filter(pl.col("norm").str.len_chars() > 0)
        .select(key, tok=pl.col("norm").str.split(" "))
        .with_columns(n_tok=pl.col("tok").list.len(), pos=pl.int_ranges(pl.col("tok").list.len()))
        .explode("tok", "pos")
        .with_columns(word=pl.col("tok").hash(seed=config.seed))
    )
    following = [
        pl.when(pl.col("pos") + i < pl.col("n_tok")).then(pl.col("word").shift(-i)).alias(f"w{i}") for i in range(k)
    ]
    return (
        words.with_columns(following)
        .filter(pl.col("pos") <= pl.max_horizontal(pl.col("n_tok") - k, pl.lit(0)))
        .select(key, pl.struct([f"w{i}" for i in range(k)]).hash(seed=config.seed).alias("shingle"))
        .group_by(key, maintain_order=True)
        .agg(pl.col("shingle").unique(maintain_order=True))
        .explode("shingle")
    )


def compute_signatures(passages: pl.DataFrame, config: DedupConfig) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(`signatures`, `shingles`) for passages with `passage_id`, `doc_id`, `text`.

    Signatures carry the normalised-text hash, the shingle count, one u64 key per band and the
    MinHash digests themselves (their low 32 bits as i32: equal digests estimate Jaccard).
    Passages whose normalised text is empty get no signature (they cannot be compared).
    Signatures are sorted by `passage_id`. `shingles` (`passage_id`, `shingle`, a passage's rows
    contiguous) holds the shingles of each distinct normalised text once, under the smallest
    passage id that holds it: the only twin `candidate_pairs` makes a representative, and the
    only one of them ever verified.
    """
    signatures, coded = sign_batch(passages, config)
    shingles = coded.select(passage_id=signatures["passage_id"].gather(coded["code"]), shingle="shingle")
    return signatures.sort("passage_id"), shingles


def _coded_normalised(passages: pl.DataFrame, columns: list[str], offset: int = 0) -> pl.DataFrame:
    """`columns`, `norm` and `code` (u32 row number from `offset`, in passage_id order) of the
    passages whose normalised text is not empty: the only ones that have shingles."""
    return (
        passages.select(*columns, norm=normalised_texts(passages["text"]))
        .filter(pl.col("norm").str.len_chars() > 0)
        .sort("passage_id")
        .with_row_index("code", offset=offset)
    )


def sign_batch(passages: pl.DataFrame, config: DedupConfig) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`compute_signatures` with shingles keyed by `code` (u32), the row of their passage's
    signature: 12 bytes a shingle instead of a repeated id string. The first half of
    `match_batch`: a caller that lets go of the passages' texts before `match_signed` holds
    less while pairs are found.

    A text repeated word for word (once normalised) is signed once: reprints repeat most
    passages (43% of the 100,000-article benchmark's). The passages are signed in the order of
    their normalised text's hash, then passage id, so twins are neighbours; each chunk signs its
    distinct texts and gives every twin the first one's signature. Signatures come in that
    order (`code` is the row); shingles are kept for the first passage of each distinct text
    in a chunk (the smallest passage id of its twins there).
    """
    keyed = _coded_normalised(passages, ["passage_id", "doc_id"])
    # the texts are let go here (a caller that passes the frame it read holds no other
    # reference); Polars reuses their memory for the shingles
    del passages
    if keyed.is_empty():
        return pl.DataFrame(schema=SIGNATURES_SCHEMA), pl.DataFrame(schema={"code": pl.UInt32, "shingle": pl.UInt64})
    keyed = (
        keyed.with_columns(norm_hash=pl.col("norm").hash(seed=config.seed))
        .sort("norm_hash", "code")
        .drop("code")
        .with_row_index("code")
    )
    # A signature depends on its own text only, so the batch is signed in chunks: the token
    # table (a row per word) and rensa's digest rows are held for two chunks at a time. Every
    # text left has at least one word, hence at least one shingle: one run per distinct text.
    # The next chunk's shingles are hashed on a thread while this one reads the digests out of
    # rensa (its only export is a list of rows of Python ints, which holds the interpreter
    # lock: about half the signing time); Polars lets go of the lock while it hashes.
    signed_parts, shingle_parts = [], []
    chunks = list(keyed.iter_slices(SIGN_CHUNK_PASSAGES))
    with ThreadPoolExecutor(1) as shingler:
        prepared = shingler.submit(_chunk_shingles, chunks[0], config)
        for i, chunk in enumerate(chunks):
            which, shingles, counts = prepared.result()
            if i + 1 < len(chunks):
                prepared = shingler.submit(_chunk_shingles, chunks[i + 1], config)
            digests = _minhash_digests(shingles["shingle"].to_numpy(), counts, config)
            signed_parts.append(
                chunk.select(
                    "passage_id",
                    "doc_id",
                    "norm_hash",
                    n_shingles=pl.Series(counts[which]).cast(pl.Int32),
                    band_keys=pl.Series(_band_keys(digests, config)[which]).cast(pl.List(pl.UInt64)),
                    minhash=pl.Series(digests[which].view(np.int32)).cast(pl.List(pl.Int32)),
                )
            )
            shingle_parts.append(shingles)
    return pl.concat(signed_parts).cast(SIGNATURES_SCHEMA), pl.concat(shingle_parts)


def _chunk_shingles(chunk: pl.DataFrame, config: DedupConfig) -> tuple[np.ndarray, pl.DataFrame, np.ndarray]:
    """For one chunk of `sign_batch` (`code`, `norm`, sorted by `norm_hash`): each passage's
    row among the chunk's distinct texts (`which`), the shingles of those texts (`code` of the
    first passage holding each, `shingle`; one run per text, in order) and the run lengths."""
    firsts = chunk.select("code", "norm").unique(subset="norm", keep="first", maintain_order=True)
    which = (
        chunk.select("norm")
        .join(firsts.select("norm", first=pl.int_range(pl.len(), dtype=pl.UInt32)), on="norm", how="left", maintain_order="left")
        ["first"].to_numpy()
    )
    shingles = _shingles_of_normalised(firsts, config, key="code")
    counts = shingles["code"].rle().struct.field("len")
    if counts.len() != firsts.height:
        raise AssertionError("every signed text must have one run of shingles")
    return which, shingles, counts.to_numpy()


# Passages signed per chunk (bounds the token table and the digest rows, not any result). Two
# chunks are in hand at once (one hashed on the thread, one read out of rensa), and the signing
# is the dedup step's peak at 100,000 articles: 20,000 a chunk peaked 0.08-0.10 GB lower than
# 50,000 in the same time (docs/benchmarks.md, nineteenth session).
SIGN_CHUNK_PASSAGES = 20_000


def _minhash_digests(flat_hashes: np.ndarray, counts: np.ndarray, config: DedupConfig) -> np.ndarray:
    from rensa import RMinHash

    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.uint64)
    matrix = RMinHash.digest_matrix_from_flat_token_hashes(
        flat_hashes.astype(np.uint64), offsets, config.num_perm, config.seed
    )
    # RMinHash digests are u32; building the array as u32 from rensa's rows (its only export)
    # is a third faster than as u64.
    return np.array(matrix.to_rows(), dtype=np.uint32).reshape(len(counts), config.num_perm)


def _band_keys(digests: np.ndarray, config: DedupConfig) -> np.ndarray:
    """Fold each band's rows into one 64-bit key; the band number is mixed in so equal values
    in different bands never collide."""
    n = len(digests)
    # in place on one (n, bands) u64 array: no u64 copy of the digests, no temporaries (at
    # 79,000 passages 0.15 s became 0.02 s)
    bands = digests.reshape(n, config.bands, config.rows_per_band)
    with np.errstate(over="ignore"):
        key = np.empty((n, config.bands), dtype=np.uint64)
        key[:] = np.arange(config.bands, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        for r in range(config.rows_per_band):
            key ^= bands[:, :, r]
            key *= np.uint64(0x100000001B3)
    return key


def _ordered_pairs(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.select(
        passage_id_a=pl.min_horizontal("x", "y"), passage_id_b=pl.max_horizontal("x", "y")
    ).filter(pl.col("passage_id_a") != pl.col("passage_id_b")).unique()


def candidate_pairs(
    new: pl.DataFrame,
    history: pl.DataFrame,
    config: DedupConfig,
    fetch_digests: Callable[[list[str]], pl.DataFrame] | None = None,
    fetch_bucket_members: Callable[[pl.Series, pl.DataFrame], pl.DataFrame] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(`exact_pairs`, `lsh_pairs`) between a new batch and itself plus the history.

    Both frames hold signatures. An exact twin links to the smallest passage id with the
    same normalised hash; only passages without an earlier twin go through LSH. `history` may
    leave out `minhash` when `fetch_digests(passage_ids)` returns `passage_id`, `minhash` of
    stored signatures: the digests are then read for the history's candidates only.

    `history` may leave out `band_keys` too, when `fetch_bucket_members(keys, reps)` returns
    `code`, `band` (from 0), `key`: one row per band key of a stored signature named in `reps`
    (`passage_id`, `code`) that is one of `keys`. Only the buckets the batch's probes fall in
    are read then, not every stored key: the same pairs (a bucket's members are all the
    signatures with its key, and a pair needs a probe in it).
    """
    # Twins and representatives are found on the slim columns; the band keys and digests of
    # the representatives are gathered once, straight into arrays (no frame copies of them).
    slim = ["passage_id", "norm_hash", "n_shingles"]
    slim_history = history.select(slim).with_columns(source=pl.lit(0, pl.UInt8), row=pl.int_range(pl.len(), dtype=pl.UInt32))
    slim_new = new.select(slim).with_columns(source=pl.lit(1, pl.UInt8), row=pl.int_range(pl.len(), dtype=pl.UInt32))
    universe = pl.concat([slim_history, slim_new])
    representative = universe.group_by("norm_hash").agg(pl.col("passage_id").min().alias("rep"))
    history_rep = slim_history.group_by("norm_hash").agg(pl.col("passage_id").min().alias("history_rep"))
    new_rep = slim_new.join(representative, on="norm_hash").join(history_rep, on="norm_hash", how="left")
    # Each new twin links to its group's representative; a new representative also links to
    # the history's, which earlier batches already linked to every older twin.
    exact = _ordered_pairs(
        pl.concat(
            [
                new_rep.select(pl.col("passage_id").alias("x"), pl.col("rep").alias("y")),
                new_rep.filter(pl.col("history_rep").is_not_null()).select(
                    pl.col("rep").alias("x"), pl.col("history_rep").alias("y")
                ),
            ]
        )
    )

    probes = new_rep.filter(
        (pl.col("passage_id") == pl.col("rep")) & (pl.col("n_shingles") >= config.min_shingles)
    )
    # LSH on integer codes: a representative's code is its rank by passage id, so a pair
    # ordered by codes is ordered by ids. One band at a time: the join holds one key per
    # representative, and a pair is one u64 (code_a << 32 | code_b).
    known_reps = (
        universe.join(representative, on="norm_hash")
        .filter((pl.col("passage_id") == pl.col("rep")) & (pl.col("n_shingles") >= config.min_shingles))
        .sort("passage_id")
        .select("passage_id", "n_shingles", "source", "row")
    )
    codes = known_reps.select("passage_id").with_row_index("code")
    if "band_keys" in history.columns:
        is_probe = codes["passage_id"].is_in(probes["passage_id"].implode())
        pairs = _banded_pairs(history, new, known_reps, codes, is_probe, config)
    elif fetch_bucket_members is not None:
        pairs = _banded_pairs_fetched(new, known_reps, codes, fetch_bucket_members, config)
    else:
        raise ValueError("history signatures without band_keys need fetch_bucket_members")
    coded = pairs.select(
        passage_id_a=(pl.col("pair") // (1 << 32)).cast(pl.UInt32), passage_id_b=(pl.col("pair") % (1 << 32)).cast(pl.UInt32)
    )
    if not coded.is_empty():
        # digests of the pairs' passages only (rows in code order, so pairs stay sorted by side a)
        # the codes named by a pair, sorted: marked in a mask over every code (np.unique hashed
        # the 2 x 5 million codes of the 100,000-article first batch in 1.3 s)
        named = np.zeros(codes.height, dtype=bool)
        named[coded["passage_id_a"].to_numpy()] = True
        named[coded["passage_id_b"].to_numpy()] = True
        involved = np.flatnonzero(named).astype(coded["passage_id_a"].to_numpy().dtype)
        rows = known_reps[involved]
        history_digests = history
        if "minhash" not in history.columns:
            if fetch_digests is None:
                raise ValueError("history signatures without minhash need fetch_digests")
            # the history candidates' digests, in the order their rows are asked for
            wanted = rows.filter(pl.col("source") == 0)
            ids = history["passage_id"].gather(wanted["row"])
            history_digests = pl.DataFrame({"passage_id": ids}).join(
                fetch_digests(ids.to_list()), on="passage_id", how="left", maintain_order="left"
            )
            if history_digests.height != wanted.height or history_digests["minhash"].null_count():
                raise ValueError("fetch_digests did not return one digest row per history candidate")
            rows = rows.with_columns(
                row=pl.when(pl.col("source") == 0).then(pl.cum_count("source").over("source") - 1).otherwise("row").cast(pl.UInt32)
            )
        digests = _gathered_lists((history_digests, new), "minhash", config.num_perm, np.int32, rows)
        local = coded.select(
            passage_id_a=pl.Series(np.searchsorted(involved, coded["passage_id_a"].to_numpy()).astype(np.uint32)),
            passage_id_b=pl.Series(np.searchsorted(involved, coded["passage_id_b"].to_numpy()).astype(np.uint32)),
        )
        keep = _plausible_pairs(local.with_row_index("i"), digests, rows["n_shingles"], config)["i"]
        coded = coded[keep]
    lsh = coded.join(codes.rename({"code": "passage_id_a", "passage_id": "id_a"}), on="passage_id_a").join(
        codes.rename({"code": "passage_id_b", "passage_id": "id_b"}), on="passage_id_b"
    ).select(passage_id_a="id_a", passage_id_b="id_b")
    lsh = lsh.join(exact, on=["passage_id_a", "passage_id_b"], how="anti")
    return exact, lsh


def _banded_pairs(
    history: pl.DataFrame, new: pl.DataFrame, known_reps: pl.DataFrame, codes: pl.DataFrame, is_probe: pl.Series, config: DedupConfig
) -> pl.DataFrame:
    """The LSH pairs (`pair`: code_a << 32 | code_b, sorted) from the band keys of every known
    representative, gathered from both frames."""
    keys = _gathered_lists((history, new), "band_keys", config.bands, np.uint64, known_reps)
    # A small batch meets only the buckets its probes fall in: those buckets' members are
    # found first (their sizes are the same), so a batch of 1,000 articles does not group the
    # whole history's keys 40 times.
    few_probes = int(is_probe.sum()) < FEW_PROBES_SHARE * len(is_probe)
    bands = (pl.LazyFrame({"code": codes["code"], "key": keys[:, band], "probe": is_probe}) for band in range(config.bands))
    return _bucket_pairs(bands, few_probes, config)


def _banded_pairs_fetched(
    new: pl.DataFrame,
    known_reps: pl.DataFrame,
    codes: pl.DataFrame,
    fetch_bucket_members: Callable[[pl.Series, pl.DataFrame], pl.DataFrame],
    config: DedupConfig,
) -> pl.DataFrame:
    """`_banded_pairs` when the history's band keys stay in the store: the probes (the new
    representatives) bring their keys, the store the stored representatives that share one
    (`code`, `band`, `key`), so only the buckets a probe falls in are read."""
    is_new = known_reps["source"] == 1
    probe_codes = codes["code"].filter(is_new)
    keys = _gathered_lists((new,), "band_keys", config.bands, np.uint64, known_reps.filter(is_new).with_columns(source=pl.lit(0, pl.UInt8)))
    stored_reps = codes.filter(~is_new)
    if stored_reps.is_empty():  # the first batch: nothing stored to look up
        stored = pl.DataFrame(schema={"code": pl.UInt32, "band": pl.UInt8, "key": pl.UInt64})
    else:
        stored = fetch_bucket_members(pl.Series("key", keys.ravel()).unique(), stored_reps)
    if not stored["code"].is_in(stored_reps["code"].implode()).all():
        raise ValueError("fetch_bucket_members returned codes that name no stored representative")
    stored = stored.select(pl.col("code").cast(pl.UInt32), pl.col("band").cast(pl.UInt8), pl.col("key").cast(pl.UInt64), probe=pl.lit(False))
    by_band = stored.partition_by("band", as_dict=True, include_key=False)
    empty = stored.drop("band").clear()
    bands = (
        pl.concat(
            [
                pl.DataFrame([probe_codes.cast(pl.UInt32), pl.Series("key", keys[:, band], pl.UInt64)]).with_columns(probe=pl.lit(True)),
                by_band.get((band,), empty),
            ]
        ).lazy()
        for band in range(config.bands)
    )
    # every stored row shares a probe's key: no bucket to leave out first
    return _bucket_pairs(bands, False, config)


def _bucket_pairs(bands, few_probes: bool, config: DedupConfig) -> pl.DataFrame:
    """The pairs (`pair`: code_a << 32 | code_b, sorted, once each) of a probe and another
    representative in one bucket of a band, from one LazyFrame (`code`, `key`, `probe`) a band.
    With `few_probes`, each band first keeps only the buckets a probe falls in."""
    pair_parts = []
    for known in bands:
        if few_probes:
            known = known.join(known.filter("probe").select("key").unique(), on="key", how="semi")
        # a bucket of one yields no pair; one over the cap yields none either
        known = known.filter(pl.len().over("key").is_between(2, config.max_bucket_size))
        met = known.filter("probe").join(known, on="key", suffix="_k").filter(pl.col("code") != pl.col("code_k"))
        pair_parts.append(
            met.select(
                pair=pl.min_horizontal("code", "code_k").cast(pl.UInt64) * (1 << 32)
                + pl.max_horizontal("code", "code_k").cast(pl.UInt64)
            )
        )
    # every band's plan in one query: Polars runs them side by side (at 78,000 passages 0.41 s
    # one collect per band, 0.16 s together); a pair found in several bands is kept once
    return pl.concat(pair_parts).unique().sort("pair").collect() if pair_parts else pl.DataFrame(schema={"pair": pl.UInt64})


def _gathered_lists(
    frames: tuple[pl.DataFrame, ...], column: str, width: int, dtype, rows: pl.DataFrame
) -> np.ndarray:
    """A (len(rows), width) array of the fixed-width list `column`, row i taken from
    `frames[rows.source[i]]` at row `rows.row[i]`: one frame's list values at a time."""
    out = np.empty((rows.height, width), dtype=dtype)
    source = rows["source"].to_numpy()
    row = rows["row"].to_numpy()
    for index, frame in enumerate(frames):
        at = np.flatnonzero(source == index)
        if len(at) == 0:
            continue
        flat = frame[column].list.explode().to_numpy().reshape(frame.height, width)
        out[at] = flat[row[at]]
        del flat
    return out


def _explode_bands(signatures: pl.DataFrame) -> pl.DataFrame:
    return (
        signatures.rename({"band_keys": "key"})
        .with_columns(band=pl.int_ranges(pl.col("key").list.len(), dtype=pl.UInt8))
        .explode("key", "band")
    )


# Below this share of probes among the known representatives, each band first keeps only the
# buckets a probe falls in (the same pairs, far less grouping for a small batch).
FEW_PROBES_SHARE = 0.25

# Candidate pairs whose digests are compared per slice (bounds two gathered digest rows per pair).
ESTIMATE_SLICE_PAIRS = 50_000


def lowest_acceptable_jaccard(n_a: pl.Expr, n_b: pl.Expr, config: DedupConfig) -> pl.Expr:
    """The lowest Jaccard at which a pair of these shingle counts can still be accepted: the
    Jaccard threshold, or below it the Jaccard that the containment threshold implies when
    the smaller set is large enough (shared = c·min, Jaccard = shared / (n_a + n_b − shared))."""
    smaller = pl.min_horizontal(n_a, n_b).cast(pl.Float64)
    shared = config.containment_threshold * smaller
    by_containment = shared / (n_a.cast(pl.Float64) + n_b.cast(pl.Float64) - shared)
    return (
        pl.when(smaller >= config.containment_min_shingles)
        .then(pl.min_horizontal(pl.lit(config.jaccard_threshold), by_containment))
        .otherwise(pl.lit(config.jaccard_threshold))
    )


def required_equal_digests(lowest_jaccard: pl.Expr, config: DedupConfig) -> pl.Expr:
    """Equal digests (of num_perm) below which a pair is dropped: estimate_z standard
    deviations of the binomial count under its lowest acceptable Jaccard."""
    p = config.num_perm
    return p * lowest_jaccard - config.estimate_z * (p * lowest_jaccard * (1.0 - lowest_jaccard)).sqrt()


def _plausible_pairs(coded: pl.DataFrame, digests: np.ndarray, sizes: pl.Series, config: DedupConfig) -> pl.DataFrame:
    """Coded pairs (`passage_id_a`, `passage_id_b` as rows of `digests` and `sizes`) whose
    count of equal MinHash digests reaches `required_equal_digests`. Pairs come sorted by
    side a, so the gather of side a's digests walks memory in order."""
    equal_parts = []
    for part in coded.iter_slices(ESTIMATE_SLICE_PAIRS):
        a = part["passage_id_a"].to_numpy()
        b = part["passage_id_b"].to_numpy()
        equal_parts.append(np.count_nonzero(np.take(digests, a, axis=0) == np.take(digests, b, axis=0), axis=1))
    scored = coded.with_columns(
        equal=pl.Series(np.concatenate(equal_parts)),
        n_a=sizes.gather(coded["passage_id_a"]),
        n_b=sizes.gather(coded["passage_id_b"]),
    )
    needed = required_equal_digests(lowest_acceptable_jaccard(pl.col("n_a"), pl.col("n_b"), config), config)
    return scored.filter(pl.col("equal") >= needed).drop("equal", "n_a", "n_b")


def verify_pairs(
    exact: pl.DataFrame, candidates: pl.DataFrame, shingles: pl.DataFrame, config: DedupConfig
) -> pl.DataFrame:
    """Verified copies among the candidates: exact Jaccard and containment of shingle sets.

    `shingles` must hold the shingles of every passage named in `candidates`.
    """
    # Passages become integer codes (their run number). A passage's shingles are one run of
    # rows as `shingle_hashes` writes them; other input is sorted first.
    coded = shingles.select("passage_id", "shingle")
    runs = coded["passage_id"].rle().struct.unnest()
    if not runs["value"].is_unique().all():
        coded = coded.sort("passage_id")
        runs = coded["passage_id"].rle().struct.unnest()
    ids = runs.select(passage_id="value", code=pl.int_range(pl.len(), dtype=pl.UInt32), n="len")
    coded = pl.DataFrame(
        {"code": np.repeat(ids["code"].to_numpy(), ids["n"].to_numpy()), "shingle": coded["shingle"]}
    )
    return _verify_coded(exact, candidates, ids, coded, config)


def _verify_coded(
    exact: pl.DataFrame, candidates: pl.DataFrame, ids: pl.DataFrame, coded: pl.DataFrame, config: DedupConfig
) -> pl.DataFrame:
    """`verify_pairs` over coded shingles: `ids` (`passage_id`, `code`, `n` shingles) and
    `coded` (`code`, `shingle`, a passage's rows contiguous).

    Pairs are verified in slices: the overlap join has a row per candidate pair and shingle of
    side a, and its build side is only the shingles of the slice's b passages.
    """
    exact_matches = exact.with_columns(
        jaccard=pl.lit(1.0), containment=pl.lit(1.0), match_kind=pl.lit("exact")
    )
    pairs = (
        candidates.join(ids.rename({"passage_id": "passage_id_a", "code": "a", "n": "n_a"}), on="passage_id_a")
        .join(ids.rename({"passage_id": "passage_id_b", "code": "b", "n": "n_b"}), on="passage_id_b")
        .with_row_index("pair")
    )
    shared_parts = []
    for part in pairs.select("pair", "a", "b").iter_slices(config.verify_slice_pairs):
        side_b = coded.filter(pl.col("code").is_in(part["b"].unique().implode())).rename({"code": "b"})
        shared_parts.append(
            part.join(coded, left_on="a", right_on="code")
            .join(side_b, on=["b", "shingle"])
            .group_by("pair")
            .len("shared")
        )
    shared = pl.concat(shared_parts) if shared_parts else pl.DataFrame(schema={"pair": pl.UInt32, "shared": pl.UInt32})
    scored = (
        pairs.join(shared, on="pair", how="left")
        .with_columns(pl.col("shared").fill_null(0))
        .with_columns(
            jaccard=pl.col("shared") / (pl.col("n_a") + pl.col("n_b") - pl.col("shared")),
            containment=pl.col("shared") / pl.min_horizontal("n_a", "n_b"),
        )
    )
    accepted = scored.filter(
        (pl.col("jaccard") >= config.jaccard_threshold)
        | (
            (pl.col("containment") >= config.containment_threshold)
            & (pl.min_horizontal("n_a", "n_b") >= config.containment_min_shingles)
        )
    ).with_columns(match_kind=pl.lit("near"))
    columns = list(MATCHES_SCHEMA)
    return pl.concat([exact_matches.select(columns), accepted.select(columns)]).cast(MATCHES_SCHEMA).sort(
        "passage_id_a", "passage_id_b"
    )


def match_batch(
    new_passages: pl.DataFrame,
    history_signatures: pl.DataFrame,
    fetch_texts: Callable[[list[str]], pl.DataFrame],
    config: DedupConfig,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Sign a batch of passages and verify its copies against itself and the history.

    `fetch_texts(passage_ids)` returns `passage_id`, `text` of already-stored passages; it is
    called once, only for history passages that are candidates. Returns (signatures of the
    new passages, verified matches that involve at least one new passage).
    """
    return match_signed(*sign_batch(new_passages, config), history_signatures, fetch_texts, config)


def match_signed(
    new_signatures: pl.DataFrame,
    new_shingles: pl.DataFrame,
    history_signatures: pl.DataFrame,
    fetch_texts: Callable[[list[str]], pl.DataFrame],
    config: DedupConfig,
    fetch_digests: Callable[[list[str]], pl.DataFrame] | None = None,
    fetch_bucket_members: Callable[[pl.Series, pl.DataFrame], pl.DataFrame] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The second half of `match_batch`, from `sign_batch`'s output (`fetch_digests` and
    `fetch_bucket_members`: see `candidate_pairs`)."""
    exact, candidates = candidate_pairs(new_signatures, history_signatures, config, fetch_digests, fetch_bucket_members)
    involved = pl.concat([candidates["passage_id_a"], candidates["passage_id_b"]]).unique()
    old_ids = involved.filter(~involved.is_in(new_signatures["passage_id"].implode())).sort().to_list()
    # History passages are coded after the new ones; their texts are shingled again here.
    old = fetch_texts(old_ids) if old_ids else pl.DataFrame(schema={"passage_id": pl.Utf8, "text": pl.Utf8})
    old = _coded_normalised(old, ["passage_id"], offset=new_signatures.height)
    old_shingles = _shingles_of_normalised(old, config, key="code")
    ids = pl.concat(
        [
            new_signatures.select("passage_id", code=pl.int_range(pl.len(), dtype=pl.UInt32), n=pl.col("n_shingles")),
            old.select("passage_id", "code").join(
                old_shingles["code"].rle().struct.unnest().select(code="value", n="len"), on="code", maintain_order="left"
            ),
        ],
        how="vertical_relaxed",
    ).cast({"code": pl.UInt32, "n": pl.UInt32})
    matches = _verify_coded(exact, candidates, ids, pl.concat([new_shingles, old_shingles]), config)
    return new_signatures, matches


CLUSTERS_SCHEMA = {
    "cluster_id": pl.Utf8,
    "canonical_passage_id": pl.Utf8,
    "n_passages": pl.Int32,
    "n_documents": pl.Int32,
    "match_kind": pl.Utf8,
    "min_similarity": pl.Float64,
}


def cluster_passages(passages: pl.DataFrame, matches: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(`members`: passage_id → cluster_id, `clusters`) over every passage and verified pair.

    `passages` has `passage_id`, `doc_id`, `char_start`, `char_end`, `published_at`. Every
    passage gets a cluster (a singleton when it has no copy). A cluster is named by its
    smallest passage id, so names depend on content only, never on the order of ingest.
    `match_kind` is the weakest kind of verified pair in the cluster (`exact` for
    singletons); `min_similarity` the lowest pair similarity, where a pair's similarity is
    the larger of its Jaccard and containment (the measure that accepted it).
    """
    components = connected_components(
        passages["passage_id"],
        matches.select(pl.col("passage_id_a").alias("a"), pl.col("passage_id_b").alias("b")),
    )
    members = components.select(pl.col("node").alias("passage_id"), pl.col("component").alias("cluster_id"))
    ranked = (
        passages.join(members, on="passage_id")
        .with_columns(n_chars=pl.col("char_end") - pl.col("char_start"))
        .sort(["cluster_id", "published_at", "n_chars", "passage_id"], descending=[False, False, True, False], nulls_last=True)
    )
    edge_stats = (
        matches.join(members, left_on="passage_id_a", right_on="passage_id")
        .group_by("cluster_id")
        .agg(
            min_similarity=pl.max_horizontal("jaccard", "containment").min(),
            all_exact=(pl.col("match_kind") == "exact").all(),
        )
    )
    clusters = (
        ranked.group_by("cluster_id", maintain_order=True)
        .agg(
            canonical_passage_id=pl.col("passage_id").first(),
            n_passages=pl.len(),
            n_documents=pl.col("doc_id").n_unique(),
        )
        .join(edge_stats, on="cluster_id", how="left")
        .with_columns(
            match_kind=pl.when(pl.col("all_exact").fill_null(True)).then(pl.lit("exact")).otherwise(pl.lit("near")),
            min_similarity=pl.col("min_similarity").fill_null(1.0),
        )
        .select(list(CLUSTERS_SCHEMA))
        .cast(CLUSTERS_SCHEMA)
        .sort("cluster_id")
    )
    return members.sort("passage_id"), clusters


SYNDICATION_SCHEMA = {
    "doc_id_a": pl.Utf8,
    "doc_id_b": pl.Utf8,
    "n_shared_passages": pl.Int32,
    "shared_chars_a": pl.Int32,
    "share_of_a": pl.Float64,
    "share_of_b": pl.Float64,
}


def document_syndication(passages: pl.DataFrame, members: pl.DataFrame) -> pl.DataFrame:
    """One row per document pair sharing at least one cluster: shared passages and text share.

    `passages` has `passage_id`, `doc_id`, `char_start`, `char_end`, `is_boilerplate`; shares
    are of each document's non-boilerplate characters.
    """
    # One lazy query on the streaming engine: the cluster self-join (a row per cluster and pair of
    # its documents) is grouped as it streams instead of held whole (at 100,000 generated
    # articles, 0.39 GB over the inputs instead of 0.63 GB, and no slower).
    body = passages.lazy().filter(~pl.col("is_boilerplate")).join(members.lazy(), on="passage_id").with_columns(
        n_chars=pl.col("char_end") - pl.col("char_start")
    )
    body_chars = body.group_by("doc_id").agg(pl.col("n_chars").sum().alias("body_chars"))
    per_doc = body.group_by("cluster_id", "doc_id").agg(pl.col("n_chars").sum())
    pairs = per_doc.join(per_doc, on="cluster_id", suffix="_b").filter(pl.col("doc_id") < pl.col("doc_id_b"))
    shared = pairs.group_by("doc_id", "doc_id_b").agg(
        n_shared_passages=pl.len(), shared_chars_a=pl.col("n_chars").sum(), shared_chars_b=pl.col("n_chars_b").sum()
    )
    return (
        shared.join(body_chars, on="doc_id")
        .join(body_chars.rename({"doc_id": "doc_id_b", "body_chars": "body_chars_b"}), on="doc_id_b")
        .select(
            doc_id_a="doc_id",
            doc_id_b="doc_id_b",
            n_shared_passages="n_shared_passages",
            shared_chars_a="shared_chars_a",
            share_of_a=pl.col("shared_chars_a") / pl.col("body_chars"),
            share_of_b=pl.col("shared_chars_b") / pl.col("body_chars_b"),
        )
        .cast(SYNDICATION_SCHEMA)
        .sort("doc_id_a", "doc_id_b")
        .collect(engine="streaming")
    )
