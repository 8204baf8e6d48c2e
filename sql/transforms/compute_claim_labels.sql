-- The cluster labels the claims step writes, for the mentions whose label may have changed since
-- it last ran; into the temporary table `claim_labels_now` (rows of the view
-- `current_claim_labels`). Those mentions are:
--   * every mention in a cluster that holds a passage of a document clustered since its labels
--     were last computed (its `dedup` progress is newer than its `claim_labels` progress): a
--     cluster changes only when such a passage joins it, and then its name, canonical passage
--     and document count, which the labels are made of, may change for every member;
--   * every current mention in neither `claims` nor `quarantine` (new, or not screened yet).
-- After the first run this is the batch's documents and the clusters they join. When every
-- document was clustered since (the first run, or the dedup stage clustered everything again),
-- the claims step reads the whole view instead: the same rows, without finding the scope.
-- Needs `_clustered_docs` (sql/transforms/select_docs_clustered_since_labels.sql) and
-- `_unscreened_mentions`, the ids of the mentions in neither table (`_compute_claim_labels`).

create or replace temp table _label_scope as
select m.claim_id
from claim_mentions as m
where m.passage_id in (
    select passage_id from passage_cluster_members
    where cluster_id in (
        select cm.cluster_id
        from passage_cluster_members as cm
        join passages as p using (passage_id)
        where p.doc_id in (select doc_id from _clustered_docs)
    )
)
union
select claim_id from _unscreened_mentions;

create or replace temp table claim_labels_now as
select * from current_claim_labels where claim_id in (select claim_id from _label_scope);
