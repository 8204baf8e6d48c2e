"""Passage assets: `passages` (split and boilerplate marked) and `passage_clusters` (syndicated copies)."""

import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import polars as pl
from dagster import AssetExecutionContext, AssetKey, AssetSpec, MaterializeResult, MetadataValue, asset, multi_asset

from pipelines.defs.common import (
    OWNERS,
    WAREHOUSE_KINDS,
    create_batch_rows,
    frame_metadata,
    mark_processed,
    mark_reclustered,
    markdown_table,
    record_table_version,
    reset_stage_if_changed,
    table_frame,
    unprocessed_doc_ids,
    utc_now,
)
from pipelines.defs.engine import Engine, load_parquet
from pipelines.defs.resources import Warehouse, append_table, read_frame, registered, replace_table, rows_where, transaction
from pipelines.lib.dedup import (
    DedupConfig,
    cluster_passages,
    document_syndication,
    match_signed,
    sign_batch,
)
from pipelines.lib.passages import load_boilerplate_rules, mark_boilerplate, split_passages


@asset(
    deps=["documents"],
    group_name="ingest",
    owners=OWNERS,
    kinds=WAREHOUSE_KINDS,
    description=(
        "One row per paragraph of a document, with character offsets into the decoded text. "
        "Boilerplate (donation appeals, related-link lists, navigation, datelines, captions, "
        "disclaimers, bylines) is marked with a reason, never deleted."
    ),
)
def passages(context: AssetExecutionContext, warehouse: Warehouse, engine: Engine) -> MaterializeResult:
    """Split new documents into passages and mark boilerplate by the rules in pipelines/data."""
    rules = load_boilerplate_rules()
    new_documents = f"select doc_id, text from ({rows_where('documents', 'doc_id in (select unnest(?))')})"
    with warehouse.get_connection() as conn:
        with transaction(conn):
            if reset_stage_if_changed(conn, "passages", _rules_version(rules)):
                conn.execute("delete from passages")
            todo = unprocessed_doc_ids(conn, "passages")
            if engine.is_spark and todo:
                from pipelines.spark.passages import split_and_mark_passages

                staged = engine.run_stage(
                    conn, context.run.run_id, "passages", {"documents": (new_documents, [todo])},
                    lambda documents: split_and_mark_passages(documents, rules), "passages",
                )
                new, n_new = staged.preview, staged.n_rows
            else:
                new = mark_boilerplate(split_passages(read_frame(conn, new_documents, [todo])), rules)
                n_new = new.height
                append_table(conn, "passages", new)
            mark_processed(conn, "passages", todo)
            n_rows = record_table_version(conn, "passages", context.run.run_id)
            reasons = read_frame(
                conn,
                "select boilerplate_reason, count(*) as n_passages from passages where is_boilerplate group by 1 order by 1",
            )
    return MaterializeResult(
        metadata={
            **frame_metadata(new, n_rows=n_rows),
            "new_passages": MetadataValue.int(n_new),
            "engine": MetadataValue.text(engine.name),
            "boilerplate_by_reason": MetadataValue.md(markdown_table(reasons)),
        }
    )


def _rules_version(rules) -> str:
    return hashlib.sha256(repr(rules).encode()).hexdigest()[:16]


@multi_asset(
    specs=[
        AssetSpec(
            "passage_clusters",
            deps=["passages", "documents"],
            group_name="dedup",
            owners=OWNERS,
            kinds=WAREHOUSE_KINDS,
            description=(
                "One row per cluster of syndicated copies of a passage (exact, near-identical or "
                "trimmed), with its canonical passage (earliest published, then longest). Every "
                "passage belongs to exactly one cluster. New batches are matched against the "
                "MinHash signatures of everything already ingested."
            ),
        ),
        AssetSpec(
            "doc_syndication",
            deps=["passage_clusters"],
            group_name="dedup",
            owners=OWNERS,
            kinds=WAREHOUSE_KINDS,
            description="One row per pair of documents that share passages: how many, and what share of each document's body text.",
        ),
    ]
)
def cluster_syndicated_passages(context: AssetExecutionContext, warehouse: Warehouse, engine: Engine):
    """Sign new passages, verify their copies against all history, relabel clusters."""
    config = DedupConfig()
    with warehouse.get_connection() as conn:
        with transaction(conn):
            if reset_stage_if_changed(conn, "dedup", config.signature_version):
                conn.execute("delete from passage_signatures")
                conn.execute("delete from passage_matches")
            todo = unprocessed_doc_ids(conn, "dedup")
            if engine.is_spark and todo:
                n_signatures, n_matches = _match_and_cluster_on_spark(conn, engine, context.run.run_id, todo, config)
                n_reclustered = None
                _record_clustering(conn, config)
                _mark_all_reclustered(conn)
                clusters = read_frame(conn, "select * from passage_clusters order by cluster_id limit 10")
                syndication = read_frame(conn, "select * from doc_syndication order by all limit 10")
            else:
                n_signatures, new_matches = _match_batch_embedded(conn, todo, config, lambda: warehouse.drop_cached_blocks(conn))
                n_matches = new_matches.height
                clustering_is_current = _clustering_is_current(conn, config)
                # Polars relabels next: after a large batch, or before every passage is clustered
                # again, DuckDB need not keep what this step wrote cached meanwhile
                if not clustering_is_current or n_signatures >= DROP_CACHE_AFTER_MATCHING_SIGNATURES:
                    warehouse.drop_cached_blocks(conn)
                if clustering_is_current:
                    n_reclustered = _recluster_touched(conn, new_matches, todo)
                else:
                    n_reclustered = _recluster_all(conn, config)
                del new_matches
                clusters = read_frame(conn, "select * from passage_clusters order by cluster_id limit 10")
                syndication = read_frame(conn, "select * from doc_syndication order by all limit 10")
            mark_processed(conn, "dedup", todo)
            n_clusters = record_table_version(conn, "passage_clusters", context.run.run_id)
            n_pairs = record_table_version(conn, "doc_syndication", context.run.run_id)
            n_multi = conn.sql("select count(*) from passage_clusters where n_passages > 1").fetchall()[0][0]
            largest = read_frame(conn, LARGEST_CLUSTERS)
    yield MaterializeResult(
        asset_key=AssetKey("passage_clusters"),
        metadata={
            **frame_metadata(clusters, n_rows=n_clusters),
            "new_signatures": MetadataValue.int(n_signatures),
            "new_verified_pairs": MetadataValue.int(n_matches),
            "reclustered_passages": MetadataValue.int(n_reclustered) if n_reclustered is not None else MetadataValue.text("on spark: all"),
            "multi_passage_clusters": MetadataValue.int(n_multi),
            "engine": MetadataValue.text(engine.name),
            "largest_clusters": MetadataValue.md(markdown_table(largest, max_chars=120)),
            "dedup_config": MetadataValue.json(config.__dict__ | {"signature_version": config.signature_version}),
        },
    )
    yield MaterializeResult(asset_key=AssetKey("doc_syndication"), metadata=frame_metadata(syndication, n_rows=n_pairs))


# Signing a batch whose texts take this much holds several times as much in Polars and rensa's
# digest rows (the dedup step's peak at 100,000 articles): DuckDB's cached blocks, up to
# `HAND_ON_CACHE` from the steps before, are given up first. A small batch keeps them: its
# lookups of stored signatures, digests and texts read the same tables.
DROP_CACHE_BEFORE_SIGNING_BYTES = 64 * 2**20
# A batch of fewer signatures is relabelled (`_recluster_touched`) with the cache it matched
# with: the clusters it touches are read from the tables it just read. At 100,000 articles the
# +1% batch (about 8,000 signatures) took 2.62-2.79 s in the dedup step against 2.76-3.00 s when
# the cache was given up first (five alternating replays, `/tmp/s28/trace.py`); the full run
# (781,000 signatures, every passage clustered) gives it up, as before.
DROP_CACHE_AFTER_MATCHING_SIGNATURES = 20_000
NEW_BODY_PASSAGES = (
    f"select passage_id, doc_id, text from ({rows_where('passages', 'doc_id in (select unnest(?))')}) where not is_boilerplate"
)
ALL_PASSAGES = """
    select p.passage_id, p.doc_id, p.char_start, p.char_end, p.is_boilerplate, d.published_at
    from passages p join documents d using (doc_id)
"""


def _clustering_version(conn, config: DedupConfig) -> str:
    """What the clusters were computed from: the passage rules' version and the signatures'."""
    passages_version = conn.sql("select version from stage_state where stage = 'passages'").fetchall()
    return f"{passages_version[0][0] if passages_version else '-'}/{config.signature_version}"


def _clustering_is_current(conn, config: DedupConfig) -> bool:
    stored = conn.sql("select version from stage_state where stage = 'clustering'").fetchall()
    return bool(stored) and stored[0][0] == _clustering_version(conn, config)


def _mark_all_reclustered(conn) -> None:
    """Every document's clusters were written again: its progress says so (the checks read it)."""
    conn.execute("update stage_progress set processed_at = ? where stage = 'dedup'", [utc_now()])
    mark_reclustered(conn, "select doc_id from documents")


def _record_clustering(conn, config: DedupConfig) -> None:
    conn.execute("insert or replace into stage_state values ('clustering', ?, ?)", [_clustering_version(conn, config), utc_now()])


def _recluster_all(conn, config: DedupConfig) -> int:
    """Every cluster from every passage and verified pair (first run, or after the passage rules
    or the signatures changed)."""
    all_passages = read_frame(conn, ALL_PASSAGES)
    members, clusters = cluster_passages(all_passages, table_frame(conn, "passage_matches"))
    # The documents' syndication (Polars) is computed on a thread of its own while DuckDB writes
    # the members and clusters on this one: both let go of the interpreter lock. At 100,000
    # articles this part took 4.07-4.48 s against 4.42-5.10 s one after the other (four
    # alternations of the dedup step on a copy of the state before it, `/tmp/s29/ab_dd.py`; the
    # same rows, and the same peak: 3.16-3.41 GB against 3.19-3.50).
    with ThreadPoolExecutor(1) as syndicating:
        syndication = syndicating.submit(document_syndication, all_passages, members)
        replace_table(conn, "passage_cluster_members", members)
        replace_table(conn, "passage_clusters", clusters)
        replace_table(conn, "doc_syndication", syndication.result())
    _record_clustering(conn, config)
    _mark_all_reclustered(conn)
    return all_passages.height


# The passages that belong to no cluster yet: those of the batch's documents (`_batch_docs`).
# Every other passage got its cluster when its document was clustered, in the same transaction
# as its progress, so the counts prove it: when the passages outnumber the members by exactly
# the batch's passages, those are the ones, found without comparing 1.6 million passage ids
# with as many members (0.3-0.6 s at 100,000 articles). Otherwise (a member whose passage is
# gone, a passage left without one) the tables are compared whole.
UNCLUSTERED_IN_BATCH = "select passage_id from passages where doc_id in (select doc_id from _batch_docs)"
UNCLUSTERED_ANYWHERE = "select passage_id from passages anti join passage_cluster_members using (passage_id)"
COUNTS_PROVE_BATCH = f"""
    select (select count(*) from passages) - (select count(*) from passage_cluster_members)
         = (select count(*) from ({UNCLUSTERED_IN_BATCH}))
"""
# Passages whose cluster may change in this run: new passages (no cluster yet), the ends of the
# new matches, and every passage of a cluster those belong to. Clusters are the connected
# components of the verified pairs, so this set is closed: a pair with one end in it has both.
# The clusters they were in (`_old_clusters`) are those of the touched passages: every other
# reclustered passage is a member of one of them.
RECLUSTERED = """
    create or replace temp table _touched as
    select passage_id from _unclustered
    union select passage_id_a from _new_matches
    union select passage_id_b from _new_matches;

    create or replace temp table _old_clusters as
    select distinct cluster_id from passage_cluster_members where passage_id in (select passage_id from _touched);

    create or replace temp table _reclustered as
    select passage_id from _touched
    union
    select passage_id from passage_cluster_members where cluster_id in (select cluster_id from _old_clusters);

    create or replace temp table _syndicated_docs as
    select distinct doc_id from passages where passage_id in (select passage_id from _reclustered);
"""

# Documents whose syndication rows are recomputed from: the documents of reclustered passages
# and every document that shares a cluster with one of them (for its body length).
# Each table is filtered before it is joined (the clusters of those documents' body passages,
# then their members, then the members' documents): 0.3 s against 0.5 s for joining passages to
# members whole at 100,000 articles, the same documents.
SYNDICATION_DOCS = """
    with clusters as (
        select distinct cluster_id
        from passage_cluster_members
        semi join (
            select passage_id from passages
            where not is_boilerplate and doc_id in (select doc_id from _syndicated_docs)
        ) using (passage_id)
    ),
    clustered as (
        select passage_id from passage_cluster_members semi join clusters using (cluster_id)
    )
    select distinct doc_id from passages semi join clustered using (passage_id) where not is_boilerplate
    union select doc_id from _syndicated_docs
"""


# The ten clusters spanning the most documents, for the step's metadata: their documents' paths
# and canonical text. This step writes neither passages nor documents, so their few rows are
# picked by row id (`rows_where`) instead of joined whole: at 100,000 articles 0.05-0.09 s
# against 0.13-0.80 s, which read every passage's text.
LARGEST_CLUSTERS = f"""
    with largest as (
        select * from passage_clusters where n_passages > 1
        order by n_documents desc, n_passages desc, cluster_id limit 10
    ),
    members as materialized (
        select cluster_id, passage_id from passage_cluster_members where cluster_id in (select cluster_id from largest)
    ),
    member_documents as materialized (
        select passage_id, doc_id from ({rows_where('passages', 'passage_id in (select passage_id from members)')})
    ),
    paths as (
        select doc_id, source_path from ({rows_where('documents', 'doc_id in (select doc_id from member_documents)')})
    ),
    canonical as (
        select passage_id, text from ({rows_where('passages', 'passage_id in (select canonical_passage_id from largest)')})
    )
    select c.cluster_id, c.n_passages, c.n_documents, c.match_kind,
           round(c.min_similarity, 3) as min_similarity,
           string_agg(distinct p.source_path, ', ' order by p.source_path) as documents,
           any_value(k.text) as canonical_text
    from largest c
    join members m using (cluster_id)
    join member_documents using (passage_id)
    join paths p using (doc_id)
    left join canonical k on k.passage_id = c.canonical_passage_id
    group by all
    order by c.n_documents desc, c.n_passages desc, c.cluster_id
    limit 10
"""


# The reclustered passages' members (`_members`) that are new or name another cluster, written.
CHANGED_MEMBERS = """
    insert or replace into passage_cluster_members by name
    select m.* from _members as m
    anti join (
        select passage_id, cluster_id from passage_cluster_members
        where passage_id in (select passage_id from _reclustered)
    ) as t using (passage_id, cluster_id)
"""


# The syndication rows of the reclustered passages' documents become `_syndication`'s: rows that
# differ from it are deleted, its rows that are not there inserted. A pair of older documents
# that a new copy joined keeps its row (their shared passages did not change), so those rows,
# spread over the table, are not deleted and written again.
SYNDICATION_COLUMNS = "doc_id_a, doc_id_b, n_shared_passages, shared_chars_a, share_of_a, share_of_b"
CHANGED_SYNDICATION = f"""
    create or replace temp table _old_syndication as
    select {SYNDICATION_COLUMNS} from doc_syndication
    where doc_id_a in (select doc_id from _syndicated_docs) or doc_id_b in (select doc_id from _syndicated_docs);

    delete from doc_syndication as t
    using (select {SYNDICATION_COLUMNS} from _old_syndication except select {SYNDICATION_COLUMNS} from _syndication) as gone
    where t.doc_id_a = gone.doc_id_a and t.doc_id_b = gone.doc_id_b;

    insert into doc_syndication by name
    select {SYNDICATION_COLUMNS} from _syndication except select {SYNDICATION_COLUMNS} from _old_syndication;

    drop table _old_syndication;
"""


def _recluster_touched(conn, new_matches: pl.DataFrame, batch_doc_ids: list[str]) -> int:
    """Relabel only the clusters this run's passages and matches touch; the rest stay as they are.

    The same rows as `_recluster_all`: a cluster is named by its smallest passage id and its
    canonical passage depends on its own members only, so a cluster no new pair reaches keeps
    its name and row; a document pair's syndication changes only when one of them has a
    reclustered passage. `tests/e2e/test_incremental.py` compares both after every batch.
    """
    create_batch_rows(conn, "_unclustered", batch_doc_ids, UNCLUSTERED_IN_BATCH, COUNTS_PROVE_BATCH, UNCLUSTERED_ANYWHERE)
    with registered(conn, "_new_matches", new_matches.select("passage_id_a", "passage_id_b")):
        conn.execute(RECLUSTERED)
    # every member of a cluster this run may rename: its document's rows that carry the cluster
    # (passages as published, claims) are what the checks count those rules over
    mark_reclustered(conn, "select doc_id from _syndicated_docs")
    in_scope = "passage_id in (select passage_id from _reclustered)"
    touched = read_frame(conn, f"select * from ({ALL_PASSAGES}) where {in_scope}")
    matches = read_frame(
        conn, "select * from passage_matches where passage_id_a in (select passage_id from _reclustered)"
    )
    members, clusters = cluster_passages(touched, matches)
    conn.execute("delete from passage_clusters where cluster_id in (select cluster_id from _old_clusters)")
    append_table(conn, "passage_clusters", clusters, or_replace=True)
    # a member whose cluster kept its name (the smallest passage id, which a new passage seldom
    # undercuts) is left as it is: most reclustered members, whose rows are spread over the table
    with registered(conn, "_members", members):
        conn.execute(CHANGED_MEMBERS)

    conn.execute(f"create or replace temp table _around_docs as {SYNDICATION_DOCS}")
    docs = "doc_id in (select doc_id from _around_docs)"
    around = read_frame(conn, f"select * from ({ALL_PASSAGES}) where {docs}")
    around_members = read_frame(
        conn, f"select * from passage_cluster_members where passage_id in (select passage_id from passages where {docs})"
    )
    changed = read_frame(conn, "select doc_id from _syndicated_docs")["doc_id"]
    syndication = document_syndication(around, around_members).filter(
        pl.col("doc_id_a").is_in(changed) | pl.col("doc_id_b").is_in(changed)
    )
    with registered(conn, "_syndication", syndication):
        conn.execute(CHANGED_SYNDICATION)
    for table in ("_unclustered", "_touched", "_reclustered", "_old_clusters", "_syndicated_docs", "_around_docs"):
        conn.execute(f"drop table {table}")
    return touched.height


# What a batch can meet in the store, for `candidate_pairs`: every band key a stored signature
# shares with the batch (DuckDB unnests the stored lists and keeps the matching keys: at 100,000
# articles 31 million keys in 0.35 s), and the slim rows of every norm-hash group that holds
# such a signature or a twin of a new passage. A bucket's members and a twin's group are all
# there, so the pairs are those of the whole history; the rest of it is not read.
NEAR_KEYS = """
    select passage_id, norm_hash, key, band
    from (
        select passage_id, norm_hash, unnest(band_keys) as key, generate_subscripts(band_keys, 1) - 1 as band
        from passage_signatures
    )
    semi join _batch_keys using (key)
"""
NEAR_GROUPS = """
    select passage_id, norm_hash, n_shingles, rowid as signature_row
    from passage_signatures
    where norm_hash in (select norm_hash from _near_hashes)
    order by passage_id
"""


def stored_signatures_near(conn, new: pl.DataFrame) -> tuple[pl.DataFrame, Callable[[pl.Series, pl.DataFrame], pl.DataFrame]]:
    """(`history`, `fetch_bucket_members`) for `candidate_pairs` on the batch `new` (signatures
    with `norm_hash` and `band_keys`), from `passage_signatures`: the history is the slim rows
    (`passage_id`, `norm_hash`, `n_shingles`, and the row id `signature_row` their digests are
    read by) of the stored norm-hash groups the batch meets,
    whole, and the bucket members are looked up among the stored band keys the batch shares.

    The same candidates as the whole history: a stored signature becomes a candidate only in a
    bucket a new one falls in, or as the twin of a new passage, and whether it represents its
    group depends on its group's other members only, which come with it.
    """
    empty_keys = pl.DataFrame(schema={"passage_id": pl.Utf8, "norm_hash": pl.UInt64, "key": pl.UInt64, "band": pl.Int64})
    empty_history = pl.DataFrame(
        schema={"passage_id": pl.Utf8, "norm_hash": pl.UInt64, "n_shingles": pl.Int32, "signature_row": pl.Int64}
    )
    if new.is_empty() or not conn.sql("select exists (select 1 from passage_signatures)").fetchall()[0][0]:
        near, history = empty_keys, empty_history  # the first batch: nothing stored to meet
    else:
        with registered(conn, "_batch_keys", new.select(pl.col("band_keys").explode().unique().alias("key"))):
            near = read_frame(conn, NEAR_KEYS)
        with registered(conn, "_near_hashes", pl.concat([near["norm_hash"], new["norm_hash"]]).unique().to_frame()):
            history = read_frame(conn, NEAR_GROUPS)

    def bucket_members(keys: pl.Series, reps: pl.DataFrame) -> pl.DataFrame:
        """`code`, `band`, `key` of each stored band key that is one of `keys`, for the
        signatures `reps` (`passage_id`, `code`) names."""
        return (
            near.filter(pl.col("key").is_in(keys.implode()))
            .join(reps.select("passage_id", "code"), on="passage_id")
            .select("code", "band", "key")
        )

    return history, bucket_members


def _batch_texts(conn, todo: list[str], drop_cache: Callable[[], None] | None) -> pl.DataFrame:
    """The new body passages' texts; DuckDB's cached blocks are given up when they are large."""
    texts = read_frame(conn, NEW_BODY_PASSAGES, [todo])
    if drop_cache is not None and texts.estimated_size() >= DROP_CACHE_BEFORE_SIGNING_BYTES:
        drop_cache()
    return texts


def _match_batch_embedded(
    conn, todo: list[str], config: DedupConfig, drop_cache: Callable[[], None] | None = None
) -> tuple[int, pl.DataFrame]:
    """Sign the new batch and verify its copies against all history, in process (Polars + rensa).
    `drop_cache` lets DuckDB give up its cached blocks; it is called before a large batch is
    signed (see `DROP_CACHE_BEFORE_SIGNING_BYTES`)."""
    # the batch's texts are let go once normalised (no name here holds them): matching holds
    # signatures and shingles only
    signed = sign_batch(_batch_texts(conn, todo, drop_cache), config)
    # the history's band keys and digests stay in the warehouse: only the signatures the batch
    # can meet are read, and the digests (120 a passage) for the history's candidates only
    history, bucket_members = stored_signatures_near(conn, signed[0])

    def fetch_texts(ids: list[str]) -> pl.DataFrame:
        return read_frame(conn, "select passage_id, text from passages where passage_id in (select unnest(?))", [ids])

    def fetch_digests(ids: list[str]) -> pl.DataFrame:
        # picked by the row ids the history was read with (this transaction has not written
        # `passage_signatures` yet): at 100,000 articles 0.05-0.22 s for 80,000 rows spread
        # over the table, against 0.15-0.35 s by passage id (a join over every stored id)
        wanted = pl.DataFrame({"passage_id": ids}, schema={"passage_id": pl.Utf8})
        rows = wanted.join(history.select("passage_id", "signature_row"), on="passage_id")
        with registered(conn, "_digest_rows", rows.select("signature_row")):
            return read_frame(
                conn, "select passage_id, minhash from passage_signatures where rowid in (select signature_row from _digest_rows)"
            )

    signatures, matches = match_signed(
        *signed, history, fetch_texts, config, fetch_digests, bucket_members
    )
    del signed
    append_table(conn, "passage_signatures", signatures)
    append_table(conn, "passage_matches", matches)
    return signatures.height, matches


def _match_and_cluster_on_spark(conn, engine: Engine, run_id: str, todo: list[str], config: DedupConfig) -> tuple[int, int]:
    """The same stage on Spark (`pipelines.spark.dedup`): inputs and outputs cross as Parquet."""
    from pipelines.spark import dedup as spark_dedup

    spark = engine.spark
    with engine.staging_area(run_id, "dedup") as folder:
        def staged(name: str, query: str, params: list | None = None):
            path = str(folder / f"in_{name}.parquet")
            conn.sql(query, params=params).write_parquet(path)
            return spark.read.parquet(path)

        signatures, matches = spark_dedup.match_batch(
            staged("new", NEW_BODY_PASSAGES, [todo]),
            staged("history", "select * from passage_signatures"),
            staged("texts", "select passage_id, text from passages where not is_boilerplate"),
            config,
        )
        spark_dedup.unsigned_hashes(signatures).write.parquet(str(folder / "signatures"))
        matches.write.parquet(str(folder / "matches"))
        n_signatures = load_parquet(conn, "passage_signatures", folder / "signatures").n_rows
        n_matches = load_parquet(conn, "passage_matches", folder / "matches").n_rows

        all_passages = staged("all_passages", ALL_PASSAGES)
        members, clusters = spark_dedup.cluster_passages(all_passages, staged("all_matches", "select * from passage_matches"))
        syndication = spark_dedup.document_syndication(all_passages, members)
        for table, frame in (("passage_cluster_members", members), ("passage_clusters", clusters), ("doc_syndication", syndication)):
            frame.write.parquet(str(folder / table))
            load_parquet(conn, table, folder / table, replace=True)
    return n_signatures, n_matches
