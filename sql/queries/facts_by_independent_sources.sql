-- question: which figures are best supported, counting sources that did not copy each other?
-- grain: one row per fact (distinct measure, unit, period and value range), most independent
--        sources first; ties broken by documents, then mentions, then measure and value.
-- parameter: the release folder, `set variable release = '<path>'` (see docs/queries.md).
with

facts as (
    select * from read_parquet(getvariable('release') || '/facts/*.parquet')
),

ranked as (
    select
        rank() over (order by n_independent_sources desc) as source_rank,
        fact_id,
        measure,
        value_low,
        value_high,
        unit,
        period,
        list_sort(attributed_to) as attributed_to,
        n_independent_sources,
        n_mentions,
        n_documents
    from facts
)

select *
from ranked
order by
    source_rank,
    n_documents desc,
    n_mentions desc,
    measure,
    unit,
    value_low,
    value_high,
    fact_id
