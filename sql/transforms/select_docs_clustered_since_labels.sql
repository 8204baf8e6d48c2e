-- grain: one row per document clustered (`dedup` progress) since the claims step last computed
-- its mentions' cluster labels (`claim_labels` progress), or never labelled: the documents whose
-- clusters may have changed under their claims. Read by sql/transforms/compute_claim_labels.sql.
select w.doc_id
from stage_progress as w
left join stage_progress as l on l.stage = 'claim_labels' and l.doc_id = w.doc_id
where w.stage = 'dedup' and (l.processed_at is null or l.processed_at < w.processed_at)
