-- question: which raw files could not be ingested, and why?
-- grain: one row per rejected raw file version, grouped by reason (n_files_with_reason counts
--        the rows sharing it); `detail` says what to fix. Empty when every file was read.
-- parameter: the release folder, `set variable release = '<path>'` (see docs/queries.md).
with

rejected_files as (
    select * from read_parquet(getvariable('release') || '/rejected_files/*.parquet')
),

by_reason as (
    select
        reason,
        count(*) over (partition by reason) as n_files_with_reason,
        source_path,
        detail,
        seen_at,
        content_sha256
    from rejected_files
)

select *
from by_reason
order by reason, source_path, seen_at
