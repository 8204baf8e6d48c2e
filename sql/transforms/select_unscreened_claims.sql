-- grain: one row per claim mention in a current document version that is in neither `claims`
-- nor `quarantine` yet (new documents, or every mention after the claims stage starts over),
-- with its passage cluster; the rows the claims step screens. `claim_labels_now` is the claims
-- step's temporary copy of the view `current_claim_labels`, computed once per run.
-- The mentions are found among the labelled ones by their ids (anti joins that hash the labels,
-- not the 1.3 million claims at 100,000 articles). They are not read by row id
-- (`pipelines.defs.resources.rows_where`): the step appended them in its open transaction, and
-- DuckDB 2.0 crashed committing after a row-id read of such rows.
with

unscreened as (
    select claim_id from claim_labels_now
    anti join claims using (claim_id)
    anti join quarantine using (claim_id)
),

mentions as (
    select * from claim_mentions semi join unscreened using (claim_id)
)

select
    m.claim_id, m.doc_id, m.passage_id, l.cluster_id, m.char_start, m.char_end, m.quote, m.sentence,
    m.value_low, m.value_high, m.unit, m.qualifier, m.period, m.measure, m.subject, m.attributed_to,
    l.is_syndicated_copy
from mentions as m
join claim_labels_now as l using (claim_id)
order by m.doc_id, m.char_start, m.claim_id
