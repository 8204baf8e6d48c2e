-- grain: one row per passage of a document, with the cluster of syndicated copies it belongs to.
-- Unordered: the release orders it (by doc_id, ordinal); the checks scan it as it is.
with

members as (
    select passage_id, cluster_id from passage_cluster_members
)

select
    p.passage_id, p.doc_id, p.ordinal, p.char_start, p.char_end, p.text,
    p.is_boilerplate, p.boilerplate_reason,
    coalesce(members.cluster_id, p.passage_id) as cluster_id
from passages as p
left join members using (passage_id)
