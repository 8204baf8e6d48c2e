-- Columns added after a table was first created: a warehouse built by an earlier version gets
-- them here (fresh warehouses have them from their create statement). Safe to re-run.

-- 2026-11-28: MinHash digests beside the band keys. Their rows are recomputed: the dedup
-- stage's signature version changed with them, which empties passage_signatures.
alter table passage_signatures add column if not exists minhash integer[];

-- 2026-12-01: a claim mention keeps its sentence's offsets instead of its quote and sentence
-- texts, which `claims` and `quarantine` hold. Its rows are extracted again: the claims stage's
-- version changed with its columns, which empties claim_mentions.
alter table claim_mentions add column if not exists sentence_start integer;
alter table claim_mentions add column if not exists sentence_end integer;
alter table claim_mentions drop column if exists quote;
alter table claim_mentions drop column if exists sentence;
