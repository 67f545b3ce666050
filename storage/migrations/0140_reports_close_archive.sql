-- 0140_reports_close_archive: reports read the journal by record time; the daily close (日结) freezes a
-- business day's figures; later records of a closed day are audited adjustments, never edits; the archive
-- remembers which closed days moved to the archive database. Documented in docs/database.md.
-- Times: instants are UTC ISO 8601 with microseconds (storage.clock.iso_instant); business-day windows are
-- naive station local ISO 8601 to the second, like transactions.event_time.
-- The runner wraps this file in BEGIN IMMEDIATE ... COMMIT and sets PRAGMA user_version = 140.

-- Reports select records by their event time (the record's TIME, else its reception in local time).
CREATE INDEX transactions_event_time ON transactions (event_time);

-- One row per closed business day. The figures are those of the records with event_time in
-- [starts_at, ends_at) and id <= last_record_id, frozen when the day was closed: never updated.
CREATE TABLE day_closes (
    day            TEXT    NOT NULL PRIMARY KEY,      -- YYYY-MM-DD, the business day
    starts_at      TEXT    NOT NULL,                  -- station local, the day boundary of `day`
    ends_at        TEXT    NOT NULL,                  -- station local, the next day's boundary
    closed_at      TEXT    NOT NULL,                  -- instant of the close
    closed_by      TEXT    NOT NULL,                  -- operator user name
    last_record_id INTEGER NOT NULL,                  -- transactions.id high-water mark at the close
    records        INTEGER NOT NULL CHECK (records >= 0),   -- counted records of the day
    volume         INTEGER NOT NULL,                  -- 0.01 of the product unit (dispensed)
    amount         INTEGER NOT NULL,                  -- fen
    figures        TEXT    NOT NULL,                  -- JSON of the frozen day report (storage.reports)
    digest         TEXT    NOT NULL                   -- SHA-256 of `figures`
) WITHOUT ROWID;
CREATE TRIGGER day_closes_no_update BEFORE UPDATE ON day_closes
BEGIN
    SELECT RAISE(ABORT, 'a closed day is frozen: add an adjustment instead');
END;
CREATE TRIGGER day_closes_no_delete BEFORE DELETE ON day_closes
BEGIN
    SELECT RAISE(ABORT, 'a closed day is frozen: add an adjustment instead');
END;

-- A record of a closed day that arrived after the close (a dispenser that was offline, a re-sent
-- record): counted here, with who noticed it, never folded into the frozen figures.
CREATE TABLE day_adjustments (
    id          INTEGER PRIMARY KEY,
    day         TEXT    NOT NULL REFERENCES day_closes (day),
    record_id   INTEGER NOT NULL UNIQUE,              -- transactions.id of the late record
    kind        INTEGER NOT NULL,                     -- its kind (t_type & 0x0F)
    counted     INTEGER NOT NULL CHECK (counted IN (0, 1)),
    volume      INTEGER NOT NULL,
    amount      INTEGER NOT NULL,
    noted_at    TEXT    NOT NULL,                     -- instant
    noted_by    TEXT    NOT NULL                      -- operator, or 'daemon'
);
CREATE INDEX day_adjustments_day ON day_adjustments (day, id);

-- Closed days whose records were moved to the archive database (`station archive`).
CREATE TABLE archived_days (
    day         TEXT    NOT NULL PRIMARY KEY REFERENCES day_closes (day),
    archived_at TEXT    NOT NULL,
    records     INTEGER NOT NULL,                     -- rows moved (conflict copies included)
    archive     TEXT    NOT NULL                      -- archive file name at the time
) WITHOUT ROWID;
