-- Claim and fact layer. Safe to re-run.

-- one row per number mention in a non-boilerplate passage, as extracted (computed once per passage);
-- its quote and sentence are the document's text at [char_start, char_end) and
-- [sentence_start, sentence_end), stored in `claims` or `quarantine` once it is screened
-- claim_mentions and claims have no primary key: rows are only appended, deleted and relabelled
-- (never upserted), a claim_id is unique by construction (a hash of passage and offsets), and the
-- blocking `claims` check counts claim_id repeats over the whole table. The key's index cost more
-- than the rows: at 100,000 articles, 1.28 million mentions inserted and committed in 6.2 s with
-- it, 1.7 s without; a 13,000-row batch into both tables with its checkpoint 0.91 s against 0.12 s.
create table if not exists claim_mentions (
    claim_id       varchar not null,
    doc_id         varchar not null,
    passage_id     varchar not null,
    char_start     integer not null,
    char_end       integer not null,
    sentence_start integer not null,
    sentence_end   integer not null,
    value_low      double not null,
    value_high     double not null,
    unit           varchar not null,
    qualifier      varchar not null,
    period         varchar,
    measure        varchar not null,
    subject        varchar,
    attributed_to  varchar
);

-- one row per claim mention that passed the row-level checks, with its cluster
create table if not exists claims (
    claim_id           varchar not null,
    doc_id             varchar not null,
    passage_id         varchar not null,
    cluster_id         varchar not null,
    char_start         integer not null,
    char_end           integer not null,
    quote              varchar not null,
    sentence           varchar not null,
    value_low          double not null,
    value_high         double not null,
    unit               varchar not null,
    qualifier          varchar not null,
    period             varchar,
    measure            varchar not null,
    subject            varchar,
    attributed_to      varchar,
    is_syndicated_copy boolean not null
);

-- one row per claim mention held back by a row-level check, with the check and reason
create table if not exists quarantine (
    claim_id           varchar not null,
    doc_id             varchar not null,
    passage_id         varchar not null,
    cluster_id         varchar not null,
    char_start         integer not null,
    char_end           integer not null,
    quote              varchar not null,
    sentence           varchar not null,
    value_low          double not null,
    value_high         double not null,
    unit               varchar not null,
    qualifier          varchar not null,
    period             varchar,
    measure            varchar not null,
    subject            varchar,
    attributed_to      varchar,
    is_syndicated_copy boolean not null,
    failed_check       varchar not null,
    reason             varchar not null
);

-- one row per distinct claim (measure, unit, period, value range)
create table if not exists facts (
    fact_id               varchar primary key,
    measure               varchar not null,
    unit                  varchar not null,
    period                varchar,
    value_low             double not null,
    value_high            double not null,
    qualifiers            varchar[] not null,
    n_mentions            integer not null,
    n_documents           integer not null,
    n_independent_sources integer not null,
    attributed_to         varchar[] not null,
    first_seen_at         timestamp,
    -- every mention's id (1.3 million at 100,000 articles), rewritten with most facts by every
    -- batch: stored uncompressed, the checkpoint after the facts step took 0.14 s instead of
    -- 0.55 s compressing them again (a warehouse created before keeps its compression)
    claim_ids             varchar[] using compression uncompressed not null,
    conflicts_with        varchar[] not null
);

-- What the facts step merges into the facts instead of building them again from every claim
-- (pipelines.lib.facts.merge_facts). No primary keys: rows are deleted before they are written
-- again, and a batch's random ids would touch every page of an index.
-- The claims the facts have not seen yet, written by the claims step while the state below is
-- current: `added` (appended to claims), `relabelled` (their cluster changed; `cluster_before`
-- is the one the facts saw), `rebuild` (claims were deleted or extracted again: the facts are
-- built again from every claim; claim_id is null). Emptied by every facts run.
create table if not exists fact_backlog (
    claim_id       varchar,
    change         varchar not null,
    cluster_before varchar
);

-- per fact and source (an outlet, or a document without one), the component of the fact's
-- sources linked by shared clusters that the source is in, named by its smallest source
create table if not exists fact_sources (
    fact_id   varchar not null,
    source    varchar not null,
    component varchar not null
);

-- per fact, the earliest publication and ingest dates of its documents
create table if not exists fact_dates (
    fact_id          varchar not null,
    min_published_at timestamp,
    min_ingested_at  timestamp
);

-- one row per (cross-check rule, combination of input facts, stated fact compared with)
create table if not exists consistency (
    rule              varchar not null,
    input_fact_ids    varchar[] not null,
    derived_low       double not null,
    derived_high      double not null,
    stated_fact_id    varchar not null,
    stated_low        double not null,
    stated_high       double not null,
    stated_qualifiers varchar[] not null,
    ratio             double,
    tolerance         double not null,
    verdict           varchar not null
);
