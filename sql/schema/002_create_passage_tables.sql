-- Passage and dedup layer. Safe to re-run.

-- The passage layer's ids (hex digests, which compression shrinks little) are stored
-- uncompressed. Every batch scans and joins them whole (the dedup step's band keys,
-- candidates, reclustering and the release's fingerprints): DuckDB decoded the FSST-compressed
-- ids at every read, about 1 core-second of a +1% run at 100,000 articles. Alternating replays
-- of one state rebuilt both ways: the +1% run 11.00-11.34 against 11.61-11.89 s (the dedup step
-- 2.85-2.98 against 3.31-3.35 s), a file 3.7% larger (docs/benchmarks.md, twenty-fifth
-- session). A warehouse created before keeps its compression (DuckDB cannot alter it).

-- one row per paragraph of a document; offsets index the document's decoded text
create table if not exists passages (
    passage_id         varchar using compression uncompressed primary key,
    doc_id             varchar using compression uncompressed not null,
    ordinal            integer not null,
    char_start         integer not null,
    char_end           integer not null,
    text               varchar not null,
    is_boilerplate     boolean not null,
    boilerplate_reason varchar
);

-- one row per passage that takes part in matching: its normalised hash and MinHash signature
-- (band keys for LSH; the digests' low 32 bits, whose agreement estimates Jaccard)
-- No primary key here, nor on passage_matches and stage_progress: their rows are unique by how they
-- are written, and a key's index pages that a batch's random ids touch are written again at every
-- checkpoint (RETIRED_KEYS in pipelines/defs/resources.py, which drops them from older warehouses).
create table if not exists passage_signatures (
    passage_id  varchar using compression uncompressed not null,
    doc_id      varchar using compression uncompressed not null,
    norm_hash   ubigint not null,
    n_shingles  integer not null,
    band_keys   ubigint[] not null,
    minhash     integer[] not null
);

-- one row per verified pair of copies (passage_id_a < passage_id_b)
create table if not exists passage_matches (
    passage_id_a varchar using compression uncompressed not null,
    passage_id_b varchar using compression uncompressed not null,
    jaccard      double not null,
    containment  double not null,
    match_kind   varchar not null
);

-- one row per passage: the cluster it belongs to (recomputed from passage_matches)
create table if not exists passage_cluster_members (
    passage_id varchar using compression uncompressed primary key,
    cluster_id varchar using compression uncompressed not null
);

-- one row per cluster of syndicated copies
create table if not exists passage_clusters (
    cluster_id           varchar using compression uncompressed primary key,
    canonical_passage_id varchar using compression uncompressed not null,
    n_passages           integer not null,
    n_documents          integer not null,
    match_kind           varchar not null,
    min_similarity       double not null
);

-- one row per pair of documents that share passages
create table if not exists doc_syndication (
    doc_id_a          varchar using compression uncompressed not null,
    doc_id_b          varchar using compression uncompressed not null,
    n_shared_passages integer not null,
    shared_chars_a    integer not null,
    share_of_a        double not null,
    share_of_b        double not null,
    primary key (doc_id_a, doc_id_b)
);
