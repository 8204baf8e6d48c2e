-- Columns added after a table was first created: a warehouse built by an earlier version gets
-- them here (fresh warehouses have them from their create statement). Safe to re-run.

-- 2026-11-28: MinHash digests beside the band keys. Their rows are recomputed: the dedup
-- stage's signature version changed with them, which empties passage_signatures.
alter table passage_signatures add column if not exists minhash integer[];

-- 2026-11-30: whether a mention's passage was read in its document. Earlier rows stay null
-- (not recorded): their texts are read again when copied, as before.
alter table claim_mentions add column if not exists read_in_document boolean;
