-- grain: one row per validated table: its latest validation and when the table was last written.
with

ranked as (
    select
        *,
        row_number() over (partition by table_name order by validated_at desc) as recency
    from validation_results
),

latest as (
    select * exclude (recency) from ranked where recency = 1
)

select
    latest.table_name,
    latest.suite,
    latest.validated_at,
    latest.run_id,
    latest.success,
    latest.n_rows,
    latest.n_failed,
    latest.data_docs,
    latest.results_json,
    versions.written_at
from latest
left join table_versions as versions using (table_name)
order by latest.table_name
