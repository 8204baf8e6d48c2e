-- grain: one row per published claim, placed on the date its document was published
-- (the ingest date when the text states none), for charts of figures over time. Unordered:
-- the chart orders what it keeps.
with

claims as (
    select doc_id, measure, unit, period, value_low, value_high from claims
),

documents as (
    select
        doc_id,
        coalesce(published_at, ingested_at)::date as reported_on,
        coalesce(outlet, source_path) as source
    from documents
)

select claims.measure, claims.unit, claims.period, documents.reported_on,
       claims.value_low, claims.value_high, documents.source
from claims
join documents using (doc_id)
