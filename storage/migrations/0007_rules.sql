-- 0007_rules: the local card rules on the wire: decisions, daily counters, grey records distributed by the
-- centre, the working-day calendar, price tables and their receipts. Documented in docs/rules.md.
-- Times: instants are UTC ISO 8601 with microseconds and offset (storage.clock.iso_instant); times a
-- dispenser or the centre meant in station local time are naive ISO 8601 to the second.
-- The runner wraps this file in BEGIN IMMEDIATE ... COMMIT and sets PRAGMA user_version = 7.

-- Every card decision the station made: 0x36 list queries, 0x35 grey queries, desk look-ups, and the
-- re-check of a card whose CNG profile arrived (0x31) after its 0x36 answer.
CREATE TABLE decisions (
    id          INTEGER PRIMARY KEY,
    at          TEXT    NOT NULL,                 -- instant of the decision
    local_at    TEXT    NOT NULL,                 -- the rules' clock (naive station local)
    line        TEXT    NOT NULL,
    dispenser   INTEGER NOT NULL,
    nzn         INTEGER NOT NULL DEFAULT 0,       -- 0 = not known
    asn         TEXT    NOT NULL,
    kind        TEXT    NOT NULL CHECK (kind IN ('0x36', '0x35', 'desk', '0x31')),
    allowed     INTEGER NOT NULL CHECK (allowed IN (0, 1)),
    reason      INTEGER NOT NULL,                 -- protocol.reasons.RefusalReason (0 = none)
    reason_name TEXT    NOT NULL,
    words       TEXT    NOT NULL,                 -- what the attendant read
    warnings    TEXT    NOT NULL DEFAULT '[]',    -- JSON array of {kind, words, due?, amount?}
    m_flag      INTEGER,                          -- the 0x36 / 0x35 answer's M_FLAG byte
    generation  INTEGER NOT NULL DEFAULT 0,       -- list store generation the decision used
    details     TEXT    NOT NULL DEFAULT '{}'     -- JSON object (price level, unit price, unlock rule ...)
);
CREATE INDEX decisions_card ON decisions (asn, id);
CREATE INDEX decisions_at ON decisions (at);

-- What each card used on one station-local day (fills, fen, 0.01 units), from the stored sale records.
CREATE TABLE card_counters (
    day    TEXT    NOT NULL,                      -- YYYY-MM-DD, station local (the sale's TIME)
    asn    TEXT    NOT NULL,
    fills  INTEGER NOT NULL CHECK (fills >= 0),
    amount INTEGER NOT NULL CHECK (amount >= 0),
    volume INTEGER NOT NULL CHECK (volume >= 0),
    PRIMARY KEY (day, asn)
) WITHOUT ROWID;
-- The journal rows already counted (written with the counter update): a restart counts the others.
CREATE TABLE counted_sales (
    record_id INTEGER PRIMARY KEY,                -- transactions.id
    day       TEXT    NOT NULL
);

-- Grey records (T_TYPE 1) of other stations that this station may unlock, as the centre distributed
-- them (`station lists import --kind grey`, later the MQTT downlink). One set: an import replaces it.
CREATE TABLE remote_greys (
    id         INTEGER PRIMARY KEY,
    asn        TEXT    NOT NULL,
    bal        INTEGER NOT NULL,
    ctc        INTEGER NOT NULL,
    ds         INTEGER NOT NULL,
    time       TEXT    NOT NULL,                  -- the record's TIME (naive station local)
    amn        INTEGER NOT NULL,
    gmac       INTEGER NOT NULL,
    psam_tid   BLOB    NOT NULL CHECK (length(psam_tid) = 6),
    psam_ttc   INTEGER NOT NULL,
    station_id TEXT    NOT NULL,                  -- where it was locked (S_ID)
    province   INTEGER NOT NULL,                  -- that station's province (0x11 form)
    line       TEXT    NOT NULL DEFAULT '',
    dispenser  INTEGER NOT NULL,
    locked_at  TEXT    NOT NULL,                  -- naive station local (= time unless given)
    raw        BLOB,                              -- the 95 record bytes, when distributed
    imported_at TEXT   NOT NULL
);
CREATE INDEX remote_greys_match ON remote_greys (asn, ctc, bal, ds, time);

-- The working-day calendar distributed by the centre; no row = weekends only (meta 'calendar.weekend').
CREATE TABLE calendar (
    day  TEXT NOT NULL PRIMARY KEY,               -- YYYY-MM-DD
    kind TEXT NOT NULL CHECK (kind IN ('holiday', 'working'))
) WITHOUT ROWID;

-- Price tables: several price levels per nozzle, taking effect at `effective` (station local).
CREATE TABLE price_tables (
    version      INTEGER PRIMARY KEY CHECK (version BETWEEN 1 AND 65535),
    effective    TEXT    NOT NULL,                -- naive station local, to the minute
    body         TEXT    NOT NULL,                -- JSON: {"products": [...], "nozzles": [...]}
    source       TEXT    NOT NULL DEFAULT '',     -- file it was imported from
    imported_at  TEXT    NOT NULL,
    activated_at TEXT                             -- instant the daemon first advertised it (NULL: not yet)
);

-- T_TYPE 8 records: a dispenser confirms it holds a price table (VER in the record's CTC).
CREATE TABLE price_receipts (
    line        TEXT    NOT NULL,
    dispenser   INTEGER NOT NULL,
    version     INTEGER NOT NULL,                 -- wire version (1 byte) confirmed
    pos_ttc     INTEGER NOT NULL,
    record_time TEXT,
    received_at TEXT    NOT NULL,
    PRIMARY KEY (line, dispenser, version)
) WITHOUT ROWID;
