-- question: who is quoted for which figures, and in how many documents?
-- grain: one row per attributed_to (canonical source name); the row with a null attributed_to
--        collects the claims no source was named for, and sorts last.
-- parameter: the release folder, `set variable release = '<path>'` (see docs/queries.md).
with

claims as (
    select * from read_parquet(getvariable('release') || '/claims/*.parquet')
),

by_source as (
    select
        attributed_to,
        count(*) as n_claims,
        count(distinct doc_id) as n_documents,
        count(distinct measure) as n_measures,
        list(distinct measure order by measure) as measures,
        count(*) filter (where is_syndicated_copy) as n_syndicated_copies
    from claims
    group by attributed_to
)

select *
from by_source
order by attributed_to is null, n_claims desc, attributed_to
