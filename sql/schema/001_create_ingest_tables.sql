-- Ingest layer. Grain of each table is stated above it. Safe to re-run.

-- one row per ingest batch (one scan of the raw folder that found new or changed files)
create table if not exists ingest_batches (
    batch_id        varchar primary key,
    started_at      timestamp not null,
    raw_dir         varchar not null,
    n_files_seen    integer not null,
    n_new_documents integer not null,
    n_rejected      integer not null
);

-- one row per raw file version (content hash); the text is the decoded raw text
create table if not exists documents (
    doc_id          varchar primary key,
    source_path     varchar not null,
    content_sha256  varchar not null,
    size_bytes      bigint not null,
    encoding        varchar not null,
    title           varchar,
    outlet          varchar,
    published_at    timestamp,
    n_chars         integer not null,
    text            varchar not null,
    ingest_batch_id varchar not null,
    ingested_at     timestamp not null,
    is_current      boolean not null
);

-- one row per raw file version that could not be ingested, with the reason
create table if not exists rejected_files (
    source_path     varchar not null,
    content_sha256  varchar,
    reason          varchar not null,
    detail          varchar not null,
    seen_at         timestamp not null,
    ingest_batch_id varchar not null
);
