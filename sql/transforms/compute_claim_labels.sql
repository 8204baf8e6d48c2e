-- The cluster labels the claims step writes, for the mentions whose label may have changed since
-- it last ran; into the temporary table `claim_labels_now` (rows of the view
-- `current_claim_labels`). A mention's label is made of its passage's cluster (name, canonical
-- passage, document count), which changes only when the dedup step renames or rebuilds that
-- cluster; the dedup step then records every document of the cluster as `reclustered`. Those
-- mentions are:
--   * every mention of a document reclustered since its labels were last computed;
--   * every mention in a cluster that holds a passage of a document clustered since but not
--     recorded as reclustered (a warehouse last clustered by an earlier version, or a document
--     without passages): the clusters are looked up, as before `reclustered` was recorded;
--   * every current mention in neither `claims` nor `quarantine` (new, or not screened yet).
-- After the first run this is the batch's documents and those sharing a cluster with them.
-- When every document was clustered since (the first run, or the dedup stage clustered
-- everything again), the claims step reads the whole view instead: the same rows, without
-- finding the scope.
-- Needs `_clustered_docs` (sql/transforms/select_docs_clustered_since_labels.sql) and
-- `_unscreened_mentions`, the ids of the mentions in neither table (`_compute_claim_labels`).

create or replace temp table _label_scope as
select claim_id from claim_mentions
where doc_id in (select doc_id from _clustered_docs where reclustered)
union
select m.claim_id
from claim_mentions as m
where m.passage_id in (
    select passage_id from passage_cluster_members
    where cluster_id in (
        select cm.cluster_id
        from passage_cluster_members as cm
        join passages as p using (passage_id)
        where p.doc_id in (select doc_id from _clustered_docs where not reclustered)
    )
)
union
select claim_id from _unscreened_mentions;

create or replace temp table claim_labels_now as
select * from current_claim_labels where claim_id in (select claim_id from _label_scope);
