-- question: which documents (and outlets) share text with which, and how much of each?
-- grain: one row per pair of documents that share at least one passage, as doc_syndication
--        stores it (doc_id_a < doc_id_b); the pair with the largest share of either document
--        comes first. share_of_a / share_of_b are the fractions of each document's characters
--        that are shared; shared_chars_a counts those characters in document a.
-- parameter: the release folder, `set variable release = '<path>'` (see docs/queries.md).
with

doc_syndication as (
    select * from read_parquet(getvariable('release') || '/doc_syndication/*.parquet')
),

documents as (
    select * from read_parquet(getvariable('release') || '/documents/*.parquet')
),

pairs as (
    select
        doc_a.source_path as source_path_a,
        doc_a.outlet as outlet_a,
        doc_b.source_path as source_path_b,
        doc_b.outlet as outlet_b,
        doc_syndication.n_shared_passages,
        doc_syndication.shared_chars_a,
        round(doc_syndication.share_of_a, 3) as share_of_a,
        round(doc_syndication.share_of_b, 3) as share_of_b,
        doc_syndication.doc_id_a,
        doc_syndication.doc_id_b
    from doc_syndication
    join documents as doc_a on doc_a.doc_id = doc_syndication.doc_id_a
    join documents as doc_b on doc_b.doc_id = doc_syndication.doc_id_b
)

select *
from pairs
order by greatest(share_of_a, share_of_b) desc, source_path_a, source_path_b
