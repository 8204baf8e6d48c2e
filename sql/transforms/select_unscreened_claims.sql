-- grain: one row per claim mention in a current document version that is in neither `claims`
-- nor `quarantine` yet (new documents, or every mention after the claims stage starts over);
-- the rows the claims step screens. Without their cluster labels: screening does not read
-- them, so it runs while the step computes the labels (the claims step joins them after).
select
    m.claim_id, m.doc_id, m.passage_id, m.char_start, m.char_end, m.quote, m.sentence,
    m.value_low, m.value_high, m.unit, m.qualifier, m.period, m.measure, m.subject, m.attributed_to
from claim_mentions as m
join documents as d using (doc_id)
where d.is_current
  and m.claim_id not in (select claim_id from claims)
  and m.claim_id not in (select claim_id from quarantine)
order by m.doc_id, m.char_start, m.claim_id
