-- grain: one row per document clustered (`dedup` progress) or reclustered (`reclustered`
-- progress: the dedup step renamed or rebuilt a cluster of one of its passages) since the claims
-- step last computed its mentions' cluster labels (`claim_labels` progress), or never labelled:
-- the documents whose clusters may have changed under their claims. `reclustered` says whether
-- the dedup step recorded the document as reclustered since (it records every document of every
-- cluster it touches; a warehouse last clustered by an earlier version has `dedup` rows only).
-- Read by sql/transforms/compute_claim_labels.sql.
select w.doc_id, bool_or(w.stage = 'reclustered') as reclustered
from stage_progress as w
left join stage_progress as l on l.stage = 'claim_labels' and l.doc_id = w.doc_id
where w.stage in ('dedup', 'reclustered') and (l.processed_at is null or l.processed_at < w.processed_at)
group by w.doc_id
