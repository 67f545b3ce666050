-- 0001_initial: the transaction journal, record gaps, totals, dispenser info, alarms, outbox, meta.
-- Documented column by column in docs/database.md. Times: instants are UTC ISO 8601 with
-- microseconds and offset; record times are naive station-local ISO 8601 to the second.
-- The runner wraps this file in BEGIN IMMEDIATE ... COMMIT and sets PRAGMA user_version = 1.

CREATE TABLE transactions (
    id          INTEGER PRIMARY KEY,
    line        TEXT    NOT NULL,
    dispenser   INTEGER NOT NULL,
    pos_ttc     INTEGER NOT NULL CHECK (pos_ttc BETWEEN 0 AND 4294967295),
    t_type      INTEGER NOT NULL,
    kind        INTEGER NOT NULL,            -- t_type & 0x0F
    time        TEXT,                        -- record TIME, NULL when not a valid time
    event_time  TEXT    NOT NULL,            -- time, else received_at in station local time
    asn         TEXT    NOT NULL,
    bal         INTEGER NOT NULL,
    amn         INTEGER NOT NULL,
    ctc         INTEGER NOT NULL,
    ds          INTEGER NOT NULL,
    unit        INTEGER NOT NULL,
    nzn         INTEGER NOT NULL,
    g_code      TEXT    NOT NULL,
    vol         INTEGER NOT NULL,
    prc         INTEGER NOT NULL,
    emp         INTEGER NOT NULL,
    v_tot       INTEGER NOT NULL,
    t_mac       INTEGER NOT NULL,
    raw         BLOB    NOT NULL CHECK (length(raw) = 95),
    received_at TEXT    NOT NULL,
    tmac_error  INTEGER NOT NULL DEFAULT 0 CHECK (tmac_error IN (0, 1)),
    conflict_of INTEGER REFERENCES transactions (id)
);
-- Idempotency: exactly one original per (line, dispenser, POS_TTC); conflict copies sit beside it.
CREATE UNIQUE INDEX transactions_original ON transactions (line, dispenser, pos_ttc)
    WHERE conflict_of IS NULL;
-- Every row of a key (originals and conflict copies); also export order and the per-dispenser maximum.
CREATE INDEX transactions_key ON transactions (line, dispenser, pos_ttc, id);
-- A card's records: the 0x35 grey-record lookup (ASN, CTC, then BAL, DS, TIME, kind = 1).
CREATE INDEX transactions_card ON transactions (asn, ctc);

CREATE TABLE record_gaps (
    line        TEXT    NOT NULL,
    dispenser   INTEGER NOT NULL,
    pos_ttc     INTEGER NOT NULL,
    state       TEXT    NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'filled', 'absent')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    first_seen  TEXT    NOT NULL,
    last_try    TEXT,
    resolved_at TEXT,
    PRIMARY KEY (line, dispenser, pos_ttc)
) WITHOUT ROWID;
CREATE INDEX record_gaps_open ON record_gaps (line, dispenser, last_try, pos_ttc) WHERE state = 'open';

CREATE TABLE totals (
    id        INTEGER PRIMARY KEY,
    line      TEXT    NOT NULL,
    dispenser INTEGER NOT NULL,
    nzn       INTEGER NOT NULL,
    v_tot     INTEGER NOT NULL,
    read_at   TEXT    NOT NULL
);
CREATE INDEX totals_dispenser ON totals (line, dispenser, id);

CREATE TABLE dispenser_info (
    line       TEXT    NOT NULL,
    dispenser  INTEGER NOT NULL,
    m_info     TEXT    NOT NULL,
    prov       TEXT    NOT NULL,
    city       TEXT    NOT NULL,
    superior   TEXT    NOT NULL,
    s_id       TEXT    NOT NULL,
    time       TEXT    NOT NULL,
    nozzles    TEXT    NOT NULL,             -- JSON array of NZN
    bl_ver     INTEGER NOT NULL,
    add_bl_ver INTEGER NOT NULL,
    del_bl_ver INTEGER NOT NULL,
    wh_ver     INTEGER NOT NULL,
    prc_ver    INTEGER NOT NULL,
    sta_ver    INTEGER NOT NULL,
    m_data     BLOB    NOT NULL,
    info       TEXT    NOT NULL,             -- JSON of the whole 0x3A message
    read_at    TEXT    NOT NULL,
    PRIMARY KEY (line, dispenser)
);

CREATE TABLE alarms (
    id              INTEGER PRIMARY KEY,
    raised_at       TEXT    NOT NULL,
    last_seen       TEXT    NOT NULL,
    count           INTEGER NOT NULL DEFAULT 1,
    source          TEXT    NOT NULL,
    code            TEXT    NOT NULL,
    severity        TEXT    NOT NULL CHECK (severity IN ('info', 'warning', 'major', 'critical')),
    message         TEXT    NOT NULL,
    details         TEXT    NOT NULL DEFAULT '{}',   -- JSON object
    acknowledged_at TEXT,
    acknowledged_by TEXT,
    cleared_at      TEXT
);
-- De-duplication: at most one active (not cleared) alarm per (source, code).
CREATE UNIQUE INDEX alarms_active ON alarms (source, code) WHERE cleared_at IS NULL;

CREATE TABLE outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    topic      TEXT    NOT NULL,
    key        TEXT    NOT NULL UNIQUE,
    payload    BLOB    NOT NULL,
    qos        INTEGER NOT NULL DEFAULT 1 CHECK (qos IN (0, 1, 2)),
    created_at TEXT    NOT NULL
);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
