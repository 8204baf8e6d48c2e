"""Syndicated-passage deduplication on Apache Spark, with the results of `pipelines.lib.dedup`.

The same blocks as the embedded path, each a function from Spark DataFrames to Spark
DataFrames; nothing collects the corpus to the driver. The only actions are eager local
checkpoints (so a Python stage or a verification never runs twice) and the connected-components
loop's count per round.

1. `compute_signatures` — `mapInArrow` over Arrow batches of passages, calling the embedded
   path's own `compute_signatures` (normalisation, Polars shingle hashing, rensa MinHash, band
   folding) on each batch. A passage's signature depends on its own text only, so any
   partitioning of the corpus gives bit-identical signatures.
2. `candidate_pairs` — exact twins by normalised-text hash, then LSH: band keys exploded to
   (band, key) rows and joined, probes of the new batch against every known representative.
3. `verify_pairs` — exact Jaccard and containment from the shingle sets of both sides, held as
   arrays on the pair rows (`array_intersect`), same thresholds and same exact-twin handling.
4. `cluster_passages` — connected components (`pipelines.spark.graph`, the same smallest-id
   naming), canonical passage by a window (earliest published, then longest, then id).
5. `document_syndication` — document pairs sharing clusters, as joins and aggregates.

Spark has no unsigned integers: the u64 hashes (`norm_hash`, `band_keys`, shingles) are held in
`bigint` columns with the same 64 bits (two's complement). Equality — all these values are used
for — is unchanged. At the boundary: `signed_hashes` / `unsigned_hashes` for the warehouse's
Parquet (DuckDB UBIGINT, which Spark reads as decimal(20,0)), `from_polars` / `to_polars` for
small Polars frames (tests).
"""

from collections.abc import Iterator
from functools import partial

import polars as pl
import pyarrow as pa
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from pipelines.lib import dedup as embedded
from pipelines.lib.dedup import DedupConfig
from pipelines.spark.graph import connected_components

SIGNATURES_SCHEMA = T.StructType(
    [
        T.StructField("passage_id", T.StringType()),
        T.StructField("doc_id", T.StringType()),
        T.StructField("norm_hash", T.LongType()),
        T.StructField("n_shingles", T.IntegerType()),
        T.StructField("band_keys", T.ArrayType(T.LongType())),
        T.StructField("minhash", T.ArrayType(T.IntegerType())),
    ]
)
SHINGLE_SETS_SCHEMA = T.StructType(
    [T.StructField("passage_id", T.StringType()), T.StructField("shingles", T.ArrayType(T.LongType()))]
)
_SIGNED_SCHEMA = T.StructType(SIGNATURES_SCHEMA.fields + [SHINGLE_SETS_SCHEMA["shingles"]])
_ARROW_TYPES = {
    T.StringType(): pa.string(),
    T.LongType(): pa.int64(),
    T.IntegerType(): pa.int32(),
    T.ArrayType(T.LongType()): pa.list_(pa.int64()),
    T.ArrayType(T.IntegerType()): pa.list_(pa.int32()),
}


def _arrow_schema(schema: T.StructType) -> pa.Schema:
    return pa.schema([(f.name, _ARROW_TYPES[f.dataType]) for f in schema.fields])


def _signed(column: str) -> pl.Expr:
    """A u64 column as i64 with the same bits (Spark's `bigint`)."""
    return pl.col(column).reinterpret(signed=True)


# --- the boundary with Polars -------------------------------------------------------------------


def to_polars(frame: DataFrame, schema: dict) -> pl.DataFrame:
    """Collect a (small) Spark result as a Polars frame of the embedded path's `schema`.

    `bigint` columns whose target is `UInt64` (or a list of it) are reinterpreted bit for bit.
    For tests and for writing results into the embedded warehouse; not for the corpus.
    """
    collected = pl.from_arrow(frame.toArrow())
    columns = []
    for name, dtype in schema.items():
        column = pl.col(name)
        if dtype == pl.UInt64:
            column = column.reinterpret(signed=False)
        elif dtype == pl.List(pl.UInt64):
            column = column.list.eval(pl.element().reinterpret(signed=False))
        columns.append(column.cast(dtype).alias(name))
    return collected.select(columns)


def from_polars(spark: SparkSession, frame: pl.DataFrame) -> DataFrame:
    """A Polars frame as a Spark DataFrame; `UInt64` columns (and lists of them) become `bigint`."""
    columns = []
    for name, dtype in frame.schema.items():
        if dtype == pl.UInt64:
            columns.append(_signed(name))
        elif dtype == pl.List(pl.UInt64):
            columns.append(pl.col(name).list.eval(pl.element().reinterpret(signed=True)))
        else:
            columns.append(pl.col(name))
    table = frame.select(columns).to_arrow()
    if frame.is_empty():
        # Arrow's empty table carries no rows to infer from; give Spark the types explicitly.
        return spark.createDataFrame([], _spark_schema(table.schema))
    return spark.createDataFrame(table)


def _spark_schema(schema: pa.Schema) -> T.StructType:
    by_arrow = {
        pa.string(): T.StringType(), pa.large_string(): T.StringType(), pa.string_view(): T.StringType(),
        pa.int64(): T.LongType(), pa.int32(): T.IntegerType(), pa.float64(): T.DoubleType(), pa.bool_(): T.BooleanType(),
        pa.list_(pa.int64()): T.ArrayType(T.LongType()), pa.large_list(pa.int64()): T.ArrayType(T.LongType()),
        pa.list_(pa.int32()): T.ArrayType(T.IntegerType()), pa.large_list(pa.int32()): T.ArrayType(T.IntegerType()),
    }
    fields = []
    for field in schema:
        if pa.types.is_timestamp(field.type):
            spark_type = T.TimestampNTZType() if field.type.tz is None else T.TimestampType()
        else:
            spark_type = by_arrow[field.type]
        fields.append(T.StructField(field.name, spark_type))
    return T.StructType(fields)


HASH_COLUMNS = ("norm_hash", "band_keys")
_U64 = T.DecimalType(20, 0)


def _two_to_the(power: int) -> Column:
    # built when called: a Column needs an active session, and executors import this module
    return F.lit(str(2**power)).cast(T.DecimalType(21, 0))


def _map_hash_columns(frame: DataFrame, columns: tuple[str, ...], convert, source: type) -> DataFrame:
    for name in columns:
        dtype = frame.schema[name].dataType
        if isinstance(dtype, source):
            frame = frame.withColumn(name, convert(F.col(name)))
        elif isinstance(dtype, T.ArrayType) and isinstance(dtype.elementType, source):
            frame = frame.withColumn(name, F.transform(name, convert))
    return frame


def signed_hashes(frame: DataFrame, columns: tuple[str, ...] = HASH_COLUMNS) -> DataFrame:
    """u64 hash columns read from the warehouse's Parquet as bigint with the same bits.

    DuckDB writes UBIGINT as unsigned INT64, which Spark reads as decimal(20,0); bigint
    columns are left as they are, so this is safe on either form.
    """
    return _map_hash_columns(
        frame, columns, lambda c: F.when(c >= _two_to_the(63), c - _two_to_the(64)).otherwise(c).cast("long"), T.DecimalType
    )


def unsigned_hashes(frame: DataFrame, columns: tuple[str, ...] = HASH_COLUMNS) -> DataFrame:
    """bigint hash columns as decimal(20,0) holding the unsigned value, for Parquet that DuckDB
    inserts into its UBIGINT columns exactly (a negative bigint would not cast)."""
    return _map_hash_columns(
        frame, columns, lambda c: F.when(c < 0, c.cast(_U64) + _two_to_the(64)).otherwise(c.cast(_U64)).cast(_U64), T.LongType
    )


def empty_signatures(spark: SparkSession) -> DataFrame:
    """The history of a first batch: no signatures."""
    return spark.createDataFrame([], SIGNATURES_SCHEMA)


# --- 1. signatures ------------------------------------------------------------------------------


def _sign_batches(batches: Iterator[pa.RecordBatch], config: DedupConfig) -> Iterator[pa.RecordBatch]:
    target = _arrow_schema(_SIGNED_SCHEMA)
    for batch in batches:
        signatures, shingles = embedded.compute_signatures(pl.from_arrow(batch), config)
        sets = shingles.group_by("passage_id").agg(_signed("shingle").alias("shingles"))
        signed = signatures.join(sets, on="passage_id", how="left").select(
            "passage_id",
            "doc_id",
            _signed("norm_hash"),
            "n_shingles",
            pl.col("band_keys").list.eval(pl.element().reinterpret(signed=True)),
            "minhash",
            "shingles",
        )
        yield from signed.to_arrow().cast(target).to_batches()


def _shingle_batches(batches: Iterator[pa.RecordBatch], config: DedupConfig) -> Iterator[pa.RecordBatch]:
    target = _arrow_schema(SHINGLE_SETS_SCHEMA)
    for batch in batches:
        shingles = embedded.shingle_hashes(pl.from_arrow(batch), config)
        sets = shingles.group_by("passage_id").agg(_signed("shingle").alias("shingles"))
        yield from sets.to_arrow().cast(target).to_batches()


def compute_signatures(passages: DataFrame, config: DedupConfig) -> tuple[DataFrame, DataFrame]:
    """(`signatures`, `shingle_sets`) for passages with `passage_id`, `doc_id`, `text`.

    `signatures` has the columns of `SIGNATURES_SCHEMA` (the embedded `SIGNATURES_SCHEMA` with
    u64 as bigint); `shingle_sets` one row per signed passage with its distinct shingle hashes
    as an array. Passages whose normalised text is empty get neither. The signed frame is
    checkpointed (eagerly, on the executors) so the Python stage runs once.
    """
    signed = passages.select("passage_id", "doc_id", "text").mapInArrow(
        partial(_sign_batches, config=config), _SIGNED_SCHEMA
    ).localCheckpoint(eager=True)
    return signed.select(*SIGNATURES_SCHEMA.fieldNames()), signed.select("passage_id", "shingles")


def shingle_sets(passages: DataFrame, config: DedupConfig) -> DataFrame:
    """`passage_id`, `shingles` (distinct hashes, array of bigint) for passages with `passage_id`, `text`.

    The embedded `shingle_hashes`, one array per passage; a passage without shingles has no row.
    """
    return passages.select("passage_id", "text").mapInArrow(
        partial(_shingle_batches, config=config), SHINGLE_SETS_SCHEMA
    )


# --- 2. candidates ------------------------------------------------------------------------------


def _ordered_pairs(frame: DataFrame) -> DataFrame:
    return (
        frame.select(F.least("x", "y").alias("passage_id_a"), F.greatest("x", "y").alias("passage_id_b"))
        .filter(F.col("passage_id_a") != F.col("passage_id_b"))
        .distinct()
    )


def _explode_bands(signatures: DataFrame) -> DataFrame:
    return signatures.select("passage_id", F.posexplode("band_keys").alias("band", "key"))


def candidate_pairs(new: DataFrame, history: DataFrame, config: DedupConfig) -> tuple[DataFrame, DataFrame]:
    """(`exact_pairs`, `lsh_pairs`) — `passage_id_a` < `passage_id_b` — between a new batch and
    itself plus the history; both inputs are signatures. As the embedded `candidate_pairs`: an
    exact twin links to the smallest passage id with its normalised hash (and a new
    representative to the history's), and only representatives go through LSH.
    """
    universe = history.select("passage_id", "norm_hash").unionByName(new.select("passage_id", "norm_hash"))
    representative = universe.groupBy("norm_hash").agg(F.min("passage_id").alias("rep"))
    history_rep = history.groupBy("norm_hash").agg(F.min("passage_id").alias("history_rep"))
    new_rep = new.join(representative, on="norm_hash").join(history_rep, on="norm_hash", how="left")
    exact = _ordered_pairs(
        new_rep.select(F.col("passage_id").alias("x"), F.col("rep").alias("y")).unionByName(
            new_rep.filter(F.col("history_rep").isNotNull()).select(
                F.col("rep").alias("x"), F.col("history_rep").alias("y")
            )
        )
    )

    long_enough = F.col("n_shingles") >= config.min_shingles
    probes = new_rep.filter((F.col("passage_id") == F.col("rep")) & long_enough)
    known_reps = (
        history.withColumn("is_new", F.lit(False))
        .unionByName(new.withColumn("is_new", F.lit(True)))
        .join(representative, on="norm_hash")
        .filter((F.col("passage_id") == F.col("rep")) & long_enough)
    )
    probe_bands = _explode_bands(probes)
    known_bands = known_reps.select(
        F.col("passage_id").alias("passage_id_k"), "is_new", F.posexplode("band_keys").alias("band", "key")
    )
    # a bucket shared by more than max_bucket_size representatives yields no candidates
    crowded = known_bands.groupBy("band", "key").count().filter(F.col("count") > config.max_bucket_size)
    probe_bands = probe_bands.join(crowded, on=["band", "key"], how="left_anti")
    known_bands = known_bands.join(crowded, on=["band", "key"], how="left_anti")
    # a pair of two new probes would meet twice, once from each side: keep one meeting (and
    # never a probe with itself); the set of ordered pairs is the embedded one
    one_side = ~F.col("is_new") | (F.col("passage_id") < F.col("passage_id_k"))
    lsh = _ordered_pairs(
        probe_bands.join(known_bands, on=["band", "key"])
        .filter(one_side)
        .select(F.col("passage_id").alias("x"), F.col("passage_id_k").alias("y"))
    )
    lsh = _plausible_pairs(lsh, known_reps, config).join(exact, on=["passage_id_a", "passage_id_b"], how="left_anti")
    return exact, lsh


def _plausible_pairs(pairs: DataFrame, known_reps: DataFrame, config: DedupConfig) -> DataFrame:
    """The embedded `_plausible_pairs`: a pair goes on to verification only when its count of
    equal MinHash digests reaches `required_equal_digests` (the same double arithmetic, in
    the same order, so the same pairs pass)."""
    sides = known_reps.select("passage_id", "n_shingles", "minhash")
    side_a = sides.select(F.col("passage_id").alias("passage_id_a"), F.col("n_shingles").alias("n_a"), F.col("minhash").alias("m_a"))
    side_b = sides.select(F.col("passage_id").alias("passage_id_b"), F.col("n_shingles").alias("n_b"), F.col("minhash").alias("m_b"))
    equal = F.aggregate(F.zip_with("m_a", "m_b", lambda x, y: (x == y).cast("int")), F.lit(0), lambda total, v: total + v)
    smaller = F.least("n_a", "n_b").cast("double")
    shared = F.lit(config.containment_threshold) * smaller
    by_containment = shared / (F.col("n_a").cast("double") + F.col("n_b").cast("double") - shared)
    lowest = F.when(smaller >= config.containment_min_shingles, F.least(F.lit(config.jaccard_threshold), by_containment)).otherwise(
        F.lit(config.jaccard_threshold)
    )
    p = config.num_perm
    needed = F.lit(p) * lowest - F.lit(config.estimate_z) * F.sqrt(F.lit(p) * lowest * (F.lit(1.0) - lowest))
    return (
        pairs.join(side_a, on="passage_id_a")
        .join(side_b, on="passage_id_b")
        .filter(equal >= needed)
        .select("passage_id_a", "passage_id_b")
    )


# --- 3. verification ----------------------------------------------------------------------------

MATCHES_SCHEMA = T.StructType(
    [
        T.StructField("passage_id_a", T.StringType()),
        T.StructField("passage_id_b", T.StringType()),
        T.StructField("jaccard", T.DoubleType()),
        T.StructField("containment", T.DoubleType()),
        T.StructField("match_kind", T.StringType()),
    ]
)


def verify_pairs(exact: DataFrame, candidates: DataFrame, sets: DataFrame, config: DedupConfig) -> DataFrame:
    """Verified copies (`MATCHES_SCHEMA`): the exact pairs, and the candidates whose shingle sets
    have Jaccard ≥ threshold, or containment ≥ threshold when the smaller set is large enough.

    `sets` (`passage_id`, `shingles`) must hold every passage named in `candidates`; a
    candidate whose side has no set is dropped, as the embedded inner joins drop it. Sets are
    distinct hashes, so the size of `array_intersect` is the number of shared shingles.
    """
    exact_matches = exact.select(
        "passage_id_a",
        "passage_id_b",
        F.lit(1.0).alias("jaccard"),
        F.lit(1.0).alias("containment"),
        F.lit("exact").alias("match_kind"),
    )
    side_a = sets.select(F.col("passage_id").alias("passage_id_a"), F.col("shingles").alias("shingles_a"))
    side_b = sets.select(F.col("passage_id").alias("passage_id_b"), F.col("shingles").alias("shingles_b"))
    scored = (
        candidates.join(side_a, on="passage_id_a")
        .join(side_b, on="passage_id_b")
        .select(
            "passage_id_a",
            "passage_id_b",
            F.size("shingles_a").alias("n_a"),
            F.size("shingles_b").alias("n_b"),
            F.size(F.array_intersect("shingles_a", "shingles_b")).alias("shared"),
        )
        .withColumns(
            {
                "jaccard": F.col("shared").cast("double") / (F.col("n_a") + F.col("n_b") - F.col("shared")).cast("double"),
                "containment": F.col("shared").cast("double") / F.least("n_a", "n_b").cast("double"),
            }
        )
    )
    accepted = scored.filter(
        (F.col("jaccard") >= config.jaccard_threshold)
        | (
            (F.col("containment") >= config.containment_threshold)
            & (F.least("n_a", "n_b") >= config.containment_min_shingles)
        )
    ).withColumn("match_kind", F.lit("near"))
    columns = MATCHES_SCHEMA.fieldNames()
    return exact_matches.select(columns).unionByName(accepted.select(columns))


def match_batch(
    new_passages: DataFrame, history_signatures: DataFrame, history_texts: DataFrame, config: DedupConfig
) -> tuple[DataFrame, DataFrame]:
    """(signatures of the new passages, verified matches that involve at least one new passage).

    The embedded `match_batch` with `fetch_texts` replaced by a DataFrame: `history_texts`
    (`passage_id`, `text`) may be every stored passage; only the history passages that are
    LSH candidates are shingled (a semi join), on the executors. `history_signatures` may hold
    its hashes as bigint or as Spark reads the warehouse's UBIGINT Parquet (`signed_hashes`);
    the returned signatures hold bigint (`unsigned_hashes` before writing them for DuckDB).
    The matches are checkpointed, so the caller can count and write them without verifying
    twice.
    """
    signatures, new_sets = compute_signatures(new_passages, config)
    exact, candidates = candidate_pairs(
        signatures, signed_hashes(history_signatures.select(*SIGNATURES_SCHEMA.fieldNames())), config
    )
    candidates = candidates.localCheckpoint(eager=True)
    involved = candidates.select(F.col("passage_id_a").alias("passage_id")).unionByName(
        candidates.select(F.col("passage_id_b").alias("passage_id"))
    )
    old_ids = involved.join(signatures.select("passage_id"), on="passage_id", how="left_anti").distinct()
    old_texts = history_texts.join(old_ids, on="passage_id", how="left_semi")
    sets = new_sets.unionByName(shingle_sets(old_texts, config))
    matches = verify_pairs(exact, candidates, sets, config).localCheckpoint(eager=True)
    return signatures, matches


# --- 4. clusters --------------------------------------------------------------------------------

MEMBERS_SCHEMA = T.StructType(
    [T.StructField("passage_id", T.StringType()), T.StructField("cluster_id", T.StringType())]
)
CLUSTERS_SCHEMA = T.StructType(
    [
        T.StructField("cluster_id", T.StringType()),
        T.StructField("canonical_passage_id", T.StringType()),
        T.StructField("n_passages", T.IntegerType()),
        T.StructField("n_documents", T.IntegerType()),
        T.StructField("match_kind", T.StringType()),
        T.StructField("min_similarity", T.DoubleType()),
    ]
)


def cluster_passages(passages: DataFrame, matches: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(`members`: passage_id → cluster_id, `clusters`) as the embedded `cluster_passages`.

    `passages` has `passage_id`, `doc_id`, `char_start`, `char_end`, `published_at`; `matches`
    the verified pairs of every batch. Every passage (and every passage a match names) gets a
    cluster, named by its smallest passage id; the canonical passage is the earliest
    published, then the longest, then the smallest id (nulls last throughout).
    """
    labels = connected_components(matches, "passage_id_a", "passage_id_b")
    nodes = (
        passages.select(F.col("passage_id").alias("node"))
        .unionByName(labels.select("node"))
        .distinct()
    )
    members = nodes.join(labels, on="node", how="left").select(
        F.col("node").alias("passage_id"), F.coalesce("component", "node").alias("cluster_id")
    ).localCheckpoint(eager=True)

    ranking = Window.partitionBy("cluster_id").orderBy(
        F.col("published_at").asc_nulls_last(), F.col("n_chars").desc_nulls_last(), F.col("passage_id").asc_nulls_last()
    )
    ranked = (
        passages.join(members, on="passage_id")
        .withColumn("n_chars", F.col("char_end") - F.col("char_start"))
        .withColumn("rank", F.row_number().over(ranking))
    )
    per_cluster = ranked.groupBy("cluster_id").agg(
        F.min_by("passage_id", "rank").alias("canonical_passage_id"),
        F.count(F.lit(1)).alias("n_passages"),
        # Polars' n_unique counts a null as one more value; Spark's count distinct skips it
        (F.countDistinct("doc_id") + F.max(F.col("doc_id").isNull().cast("int"))).alias("n_documents"),
    )
    edge_stats = (
        matches.join(members.withColumnRenamed("passage_id", "passage_id_a"), on="passage_id_a")
        .groupBy("cluster_id")
        .agg(
            F.min(F.greatest("jaccard", "containment")).alias("min_similarity"),
            F.bool_and(F.col("match_kind") == "exact").alias("all_exact"),
        )
    )
    clusters = per_cluster.join(edge_stats, on="cluster_id", how="left").select(
        "cluster_id",
        "canonical_passage_id",
        F.col("n_passages").cast("int").alias("n_passages"),
        F.col("n_documents").cast("int").alias("n_documents"),
        F.when(F.coalesce(F.col("all_exact"), F.lit(True)), F.lit("exact")).otherwise(F.lit("near")).alias("match_kind"),
        F.coalesce(F.col("min_similarity"), F.lit(1.0)).alias("min_similarity"),
    )
    return members, clusters


# --- 5. document syndication --------------------------------------------------------------------

SYNDICATION_SCHEMA = T.StructType(
    [
        T.StructField("doc_id_a", T.StringType()),
        T.StructField("doc_id_b", T.StringType()),
        T.StructField("n_shared_passages", T.IntegerType()),
        T.StructField("shared_chars_a", T.IntegerType()),
        T.StructField("share_of_a", T.DoubleType()),
        T.StructField("share_of_b", T.DoubleType()),
    ]
)


def _ratio(numerator: str, denominator: str) -> Column:
    return F.col(numerator).cast("double") / F.col(denominator).cast("double")


def document_syndication(passages: DataFrame, members: DataFrame) -> DataFrame:
    """One row per document pair sharing at least one cluster (`SYNDICATION_SCHEMA`).

    `passages` has `passage_id`, `doc_id`, `char_start`, `char_end`, `is_boilerplate`; shares
    are of each document's non-boilerplate characters, as the embedded `document_syndication`.
    """
    body = (
        passages.filter(~F.col("is_boilerplate"))
        .join(members, on="passage_id")
        .withColumn("n_chars", F.col("char_end") - F.col("char_start"))
    )
    body_chars = body.groupBy("doc_id").agg(F.sum("n_chars").alias("body_chars"))
    per_doc = body.groupBy("cluster_id", "doc_id").agg(F.sum("n_chars").alias("n_chars"))
    other = per_doc.select("cluster_id", F.col("doc_id").alias("doc_id_b"), F.col("n_chars").alias("n_chars_b"))
    shared = (
        per_doc.join(other, on="cluster_id")
        .filter(F.col("doc_id") < F.col("doc_id_b"))
        .groupBy("doc_id", "doc_id_b")
        .agg(
            F.count(F.lit(1)).alias("n_shared_passages"),
            F.sum("n_chars").alias("shared_chars_a"),
            F.sum("n_chars_b").alias("shared_chars_b"),
        )
    )
    return (
        shared.join(body_chars, on="doc_id")
        .join(body_chars.select(F.col("doc_id").alias("doc_id_b"), F.col("body_chars").alias("body_chars_b")), on="doc_id_b")
        .select(
            F.col("doc_id").alias("doc_id_a"),
            "doc_id_b",
            F.col("n_shared_passages").cast("int").alias("n_shared_passages"),
            F.col("shared_chars_a").cast("int").alias("shared_chars_a"),
            _ratio("shared_chars_a", "body_chars").alias("share_of_a"),
            _ratio("shared_chars_b", "body_chars_b").alias("share_of_b"),
        )
    )
