-- grain: one row per claim mention in a current document version that is in neither `claims`
-- nor `quarantine` yet (new documents, or every mention after the claims stage starts over),
-- with its passage cluster; the rows the claims step screens. `claim_labels_now` is the claims
-- step's temporary copy of the view `current_claim_labels`, computed once per run.
-- `not in`, not anti joins: on the first run (every mention unscreened, 1.29 million at 100,000
-- articles) the anti joins held 450 MB more (1.95 against 2.4 GB for the query alone) and
-- saved 0.06 s on a +1% batch. Not read by row id (`rows_where`): the step appended these rows
-- in its open transaction, and DuckDB 2.0 crashed committing after a row-id read of such rows.
-- A mention's quote and sentence are not stored with it: they are its passage's text at its
-- offsets (document offsets, the passage's own `char_start` subtracted; `substring` counts
-- characters from 1, as Python's offsets count them from 0).
select
    m.claim_id, m.doc_id, m.passage_id, l.cluster_id, m.char_start, m.char_end,
    substring(p.text, m.char_start - p.char_start + 1, m.char_end - m.char_start) as quote,
    substring(p.text, m.sentence_start - p.char_start + 1, m.sentence_end - m.sentence_start) as sentence,
    m.value_low, m.value_high, m.unit, m.qualifier, m.period, m.measure, m.subject, m.attributed_to,
    l.is_syndicated_copy
from claim_mentions as m
join claim_labels_now as l using (claim_id)
join passages as p on p.passage_id = m.passage_id
where m.claim_id not in (select claim_id from claims)
  and m.claim_id not in (select claim_id from quarantine)
order by m.doc_id, m.char_start, m.claim_id
