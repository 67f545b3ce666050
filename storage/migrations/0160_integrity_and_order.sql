-- 0160_integrity_and_order: a checksum of every journal record, and the journal rows that bound a shift.
-- Documented in docs/database.md. The runner wraps this file in BEGIN IMMEDIATE ... COMMIT and sets
-- PRAGMA user_version = 160.

-- SHA-256 of (line, dispenser, POS_TTC, raw) as written by storage.integrity.record_sum: set for every
-- new row by Journal.store_record; rows stored before this migration get theirs when the daemon next
-- starts (storage.integrity.backfill_sums: their bytes are trusted as they are then). NULL = not yet.
ALTER TABLE transactions ADD COLUMN raw_sum BLOB CHECK (raw_sum IS NULL OR length(raw_sum) = 32);

-- The journal rows of a shift, by row id (the arrival order, which a wall-clock step cannot disturb):
-- rows with first_record_id < id <= last_record_id. first_record_id is the highest row id when the
-- shift opened, last_record_id the highest when it closed. NULL for shifts from before this migration
-- (their reports use the arrival-time window).
ALTER TABLE shifts ADD COLUMN first_record_id INTEGER;
ALTER TABLE shifts ADD COLUMN last_record_id INTEGER;
