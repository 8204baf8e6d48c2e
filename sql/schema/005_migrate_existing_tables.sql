-- Columns added after a table was first created: a warehouse built by an earlier version gets
-- them here (fresh warehouses have them from their create statement). Safe to re-run.

-- 2026-11-28: MinHash digests beside the band keys. Their rows are recomputed: the dedup
-- stage's signature version changed with them, which empties passage_signatures.
alter table passage_signatures add column if not exists minhash integer[];
