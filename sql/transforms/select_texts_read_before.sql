-- grain: one row per (normalised-text hash, length in characters) of a body passage of the
-- batch (`_batch_docs`) that a passage read before by the claims stage on its own also has:
-- that passage (the smallest id) and its row id in `passages`. The claims step reads its text,
-- and where it equals a text of the batch, gives the batch's copies its mentions instead of
-- reading the text again (`pipelines.lib.claims.ReadTexts`). Equal texts have equal hashes and
-- lengths, so every text read before that a batch's text equals is found, one passage per text.
--
-- Read before: its document's claims progress is not older than its passages progress (a
-- document split again since has not been read again). On its own: none of its mentions was
-- read in its document ("he said") or comes from a run that did not record how it was read (a
-- null `read_in_document`: Spark, earlier versions). A passage without mentions said nothing.
-- `passage_signatures` holds every body passage with the hash of its normalised text.
with

batch as (
    select norm_hash from passage_signatures where doc_id in (select doc_id from _batch_docs)
),

read_documents as (
    select claims.doc_id
    from stage_progress as claims
    join stage_progress as split on split.doc_id = claims.doc_id and split.stage = 'passages'
    where claims.stage = 'claims' and claims.processed_at >= split.processed_at
),

read_in_document as (
    select passage_id from claim_mentions where read_in_document is distinct from false
),

candidates as (
    select passage_id, norm_hash
    from passage_signatures
    where norm_hash in (select norm_hash from batch)
      and doc_id not in (select doc_id from _batch_docs)
      and doc_id in (select doc_id from read_documents)
      and passage_id not in (select passage_id from read_in_document)
)

select
    candidates.norm_hash,
    p.char_end - p.char_start as n_chars,
    min(p.passage_id) as passage_id,
    arg_min(p.rowid, p.passage_id) as passage_row
from passages as p
join candidates using (passage_id)
group by all
