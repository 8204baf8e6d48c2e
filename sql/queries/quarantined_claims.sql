-- question: which claims did the checks hold back from the release, and why?
-- grain: one row per quarantined claim; `failed_check` names the check and `reason` the rule(s)
--        it broke. Empty when every claim passed.
-- parameter: the release folder, `set variable release = '<path>'` (see docs/queries.md).
with

quarantine as (
    select * from read_parquet(getvariable('release') || '/quarantine/*.parquet')
),

documents as (
    select * from read_parquet(getvariable('release') || '/documents/*.parquet')
),

held_back as (
    select
        quarantine.failed_check,
        quarantine.reason,
        documents.source_path,
        quarantine.measure,
        quarantine.value_low,
        quarantine.value_high,
        quarantine.unit,
        quarantine.period,
        quarantine.attributed_to,
        quarantine.quote,
        quarantine.char_start,
        quarantine.claim_id
    from quarantine
    left join documents using (doc_id)
)

select *
from held_back
order by failed_check, source_path, char_start, claim_id
