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

-- Counted records summed per hour of event time and per every report dimension, kept by a trigger in the
-- record's own transaction (a record is never updated, and the archive's deletes do not touch this
-- table): reports over whole hours read this instead of every record, and check it against the records.
CREATE TABLE report_hours (
    hour      TEXT    NOT NULL,                   -- substr(event_time, 1, 13): 'YYYY-MM-DDTHH', station local
    line      TEXT    NOT NULL,
    dispenser INTEGER NOT NULL,
    nzn       INTEGER NOT NULL,
    g_code    TEXT    NOT NULL,
    emp       INTEGER NOT NULL,
    kind      INTEGER NOT NULL,
    pay       INTEGER NOT NULL,                   -- UNIT b7..b4
    card_kind TEXT    NOT NULL,                   -- ASN digits 5-6 of a 20-digit card number, else ''
    count     INTEGER NOT NULL,
    volume    INTEGER NOT NULL,                   -- dispensed (kinds 0, 1, 7, 9), 0.01 unit
    amount    INTEGER NOT NULL,                   -- fen
    PRIMARY KEY (hour, line, dispenser, nzn, g_code, emp, kind, pay, card_kind)
) WITHOUT ROWID;
CREATE TRIGGER report_hours_add AFTER INSERT ON transactions
WHEN NEW.conflict_of IS NULL AND NEW.kind IN (0, 1, 3, 4, 7, 9)
BEGIN
    INSERT INTO report_hours (hour, line, dispenser, nzn, g_code, emp, kind, pay, card_kind, count, volume, amount)
    VALUES (substr(NEW.event_time, 1, 13), NEW.line, NEW.dispenser, NEW.nzn, NEW.g_code, NEW.emp, NEW.kind,
            (NEW.unit >> 4) & 15, CASE WHEN length(NEW.asn) = 20 THEN substr(NEW.asn, 5, 2) ELSE '' END, 1,
            CASE WHEN NEW.kind IN (0, 1, 7, 9) THEN NEW.vol ELSE 0 END, NEW.amn)
    ON CONFLICT (hour, line, dispenser, nzn, g_code, emp, kind, pay, card_kind) DO UPDATE SET
        count = count + 1, volume = volume + excluded.volume, amount = amount + excluded.amount;
END;
INSERT INTO report_hours (hour, line, dispenser, nzn, g_code, emp, kind, pay, card_kind, count, volume, amount)
SELECT substr(event_time, 1, 13), line, dispenser, nzn, g_code, emp, kind, (unit >> 4) & 15,
       CASE WHEN length(asn) = 20 THEN substr(asn, 5, 2) ELSE '' END, count(*),
       sum(CASE WHEN kind IN (0, 1, 7, 9) THEN vol ELSE 0 END), sum(amn)
FROM transactions WHERE conflict_of IS NULL AND kind IN (0, 1, 3, 4, 7, 9)
GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9;
