-- Views over the claim layer. Replaced on every connection, so a changed definition applies to
-- existing warehouses too. Safe to re-run.

-- grain: one row per claim mention in a current document version, with its passage cluster
-- (no texts). A mention is a syndicated copy when its passage is in a cluster that spans
-- several documents and is not that cluster's canonical passage.
create or replace view current_claim_labels as
with

mentions as (
    select m.claim_id, m.passage_id
    from claim_mentions m
    join documents d using (doc_id)
    where d.is_current
)

select
    mentions.claim_id,
    coalesce(members.cluster_id, mentions.passage_id) as cluster_id,
    coalesce(clusters.n_documents > 1 and clusters.canonical_passage_id <> mentions.passage_id, false)
        as is_syndicated_copy
from mentions
left join passage_cluster_members as members using (passage_id)
left join passage_clusters as clusters on clusters.cluster_id = members.cluster_id;
