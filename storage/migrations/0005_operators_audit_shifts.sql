-- 0005_operators_audit_shifts: operators and their roles, the append-only audit log, station shifts
-- and the nozzle totals read at their start and end. Documented in docs/control-api.md.
-- Times are UTC ISO 8601 instants (storage.clock.iso_instant). The runner wraps this file in
-- BEGIN IMMEDIATE ... COMMIT and sets PRAGMA user_version.

CREATE TABLE operators (
    id                  INTEGER PRIMARY KEY,
    username            TEXT    NOT NULL UNIQUE COLLATE NOCASE
                                CHECK (length(username) BETWEEN 1 AND 32),
    display_name        TEXT    NOT NULL DEFAULT '',
    role                TEXT    NOT NULL
                                CHECK (role IN ('vendor', 'admin', 'senior', 'operator', 'readonly')),
    password_hash       TEXT    NOT NULL,            -- scrypt$<log2 n>$<r>$<p>$<salt b64>$<key b64>
    card_asn            TEXT,                        -- employee card of the second factor (NULL: none)
    failed_logins       INTEGER NOT NULL DEFAULT 0,  -- consecutive failures since the last success
    locked_at           TEXT,                        -- NULL: not locked
    lock_reason         TEXT    NOT NULL DEFAULT '',
    demo                INTEGER NOT NULL DEFAULT 0 CHECK (demo IN (0, 1)),
    created_at          TEXT    NOT NULL,
    password_changed_at TEXT    NOT NULL,
    last_login_at       TEXT
);

-- Every state-changing action, who did it and whether it was allowed. Append-only: the triggers
-- refuse UPDATE and DELETE; each row carries the SHA-256 of the previous row's hash and its own
-- content, so a row removed or edited behind SQLite's back breaks the chain (AuditLog.verify).
CREATE TABLE audit_log (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    at        TEXT    NOT NULL,
    actor     TEXT    NOT NULL,                      -- operator user name, 'cli:<unix user>', 'daemon'
    role      TEXT    NOT NULL DEFAULT '',
    source    TEXT    NOT NULL,                      -- control, cli, daemon
    action    TEXT    NOT NULL,                      -- the request type (ack_alarm, open_shift, login ...)
    target    TEXT    NOT NULL DEFAULT '',
    outcome   TEXT    NOT NULL CHECK (outcome IN ('ok', 'refused', 'failed')),
    details   TEXT    NOT NULL DEFAULT '{}',         -- JSON object
    prev_hash TEXT    NOT NULL,
    hash      TEXT    NOT NULL
);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

-- Station shifts: opened and closed (handed over) by operators; the final report is frozen at close.
CREATE TABLE shifts (
    id        INTEGER PRIMARY KEY,
    opened_at TEXT    NOT NULL,
    opened_by TEXT    NOT NULL,
    note      TEXT    NOT NULL DEFAULT '',
    closed_at TEXT,
    closed_by TEXT    NOT NULL DEFAULT '',
    handed_to TEXT    NOT NULL DEFAULT '',
    report    TEXT                                   -- JSON of the final handover report
);
-- At most one open shift.
CREATE UNIQUE INDEX shifts_one_open ON shifts ((closed_at IS NULL)) WHERE closed_at IS NULL;

-- Nozzle volume totals (0x38, 0.01 unit) at the start and the end of a shift.
CREATE TABLE shift_totals (
    shift_id  INTEGER NOT NULL REFERENCES shifts (id),
    phase     TEXT    NOT NULL CHECK (phase IN ('start', 'end')),
    line      TEXT    NOT NULL,
    dispenser INTEGER NOT NULL,
    nzn       INTEGER NOT NULL,
    v_tot     INTEGER NOT NULL,
    read_at   TEXT    NOT NULL,
    fresh     INTEGER NOT NULL CHECK (fresh IN (0, 1)),  -- 1: read for this shift; 0: last stored reading
    PRIMARY KEY (shift_id, phase, line, dispenser, nzn)
) WITHOUT ROWID;

-- Handover reports select the records of a shift by arrival time.
CREATE INDEX transactions_received ON transactions (received_at);
