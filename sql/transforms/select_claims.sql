-- grain: one row per claim mention in a current document version, with its passage cluster.
-- A mention is a syndicated copy when its passage is in a cluster that spans several
-- documents and is not that cluster's canonical passage.
with

mentions as (
    select m.*
    from claim_mentions m
    join documents d using (doc_id)
    where d.is_current
),

clustered as (
    select
        mentions.*,
        coalesce(members.cluster_id, mentions.passage_id) as cluster_id,
        coalesce(clusters.n_documents > 1 and clusters.canonical_passage_id <> mentions.passage_id, false)
            as is_syndicated_copy
    from mentions
    left join passage_cluster_members as members using (passage_id)
    left join passage_clusters as clusters using (cluster_id)
)

select
    claim_id, doc_id, passage_id, cluster_id, char_start, char_end, quote, sentence,
    value_low, value_high, unit, qualifier, period, measure, subject, attributed_to,
    is_syndicated_copy
from clustered
order by doc_id, char_start, claim_id
