-- question: for each measure, which values were reported on which day?
-- grain: one row per measure, unit, period and publication day. The day is the document's
--        published_at, or its ingested_at when the text carries no date (n_claims_dated_by_ingest
--        says how many claims of the row were dated that way). Unit and period are part of the
--        grain because values in different units or per different periods are not comparable.
--        min_value is the smallest value_low, max_value the largest value_high, median_value the
--        median of the claims' range midpoints.
-- parameter: the release folder, `set variable release = '<path>'` (see docs/queries.md).
with

claims as (
    select * from read_parquet(getvariable('release') || '/claims/*.parquet')
),

documents as (
    select * from read_parquet(getvariable('release') || '/documents/*.parquet')
),

dated_claims as (
    select
        claims.claim_id,
        claims.doc_id,
        claims.measure,
        claims.unit,
        claims.period,
        claims.value_low,
        claims.value_high,
        coalesce(documents.published_at, documents.ingested_at)::date as reported_on,
        documents.published_at is null as is_dated_by_ingest
    from claims
    join documents using (doc_id)
),

values_by_day as (
    select
        measure,
        unit,
        period,
        reported_on,
        min(value_low) as min_value,
        max(value_high) as max_value,
        median((value_low + value_high) / 2) as median_value,
        count(*) as n_claims,
        count(distinct doc_id) as n_documents,
        count(*) filter (where is_dated_by_ingest) as n_claims_dated_by_ingest
    from dated_claims
    group by measure, unit, period, reported_on
)

select *
from values_by_day
order by measure, unit, period nulls first, reported_on
