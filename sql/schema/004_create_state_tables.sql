-- Pipeline bookkeeping: what each stage has processed, and when tables were written and checked.

-- one row per raw file path as last seen: lets a rescan skip hashing files that did not change
create table if not exists raw_file_states (
    source_path    varchar primary key,
    size_bytes     bigint not null,
    mtime_ns       bigint not null,
    content_sha256 varchar,
    seen_at        timestamp not null
);

-- one row per (stage, document) a stage has processed, so a stage works only on what is new; kept
-- unique by its writers (set_progress, mark_processed in pipelines/defs/common.py), without a
-- primary key (see passage_signatures)
create table if not exists stage_progress (
    stage        varchar not null,
    doc_id       varchar not null,
    processed_at timestamp not null
);

-- one row per stage: the version of its parameters or rules; a change means recompute
create table if not exists stage_state (
    stage      varchar primary key,
    version    varchar not null,
    updated_at timestamp not null
);

-- one row per warehouse table the graph writes: when, by which run, and how many rows
create table if not exists table_versions (
    table_name varchar primary key,
    written_at timestamp not null,
    run_id     varchar not null,
    n_rows     bigint not null
);

-- one row per validation of a table by its expectation suite
create table if not exists validation_results (
    table_name   varchar not null,
    suite        varchar not null,
    validated_at timestamp not null,
    run_id       varchar not null,
    success      boolean not null,
    n_rows       bigint not null,
    n_failed     bigint not null,
    data_docs    varchar,
    results_json varchar not null
);

-- one row per (path, content) ever seen there, with when it was last seen: the current version
-- of a path is the content it held most recently, so a file that returns to an earlier text
-- makes that earlier document current again
create table if not exists path_versions (
    source_path    varchar not null,
    content_sha256 varchar not null,
    last_seen_at   timestamp not null,
    primary key (source_path, content_sha256)
);
