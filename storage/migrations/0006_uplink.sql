-- 0006_uplink: the MQTT uplink's tables (owned by uplink/; accessed through storage/uplink_store.py).
-- Times are UTC ISO 8601 instants with microseconds, like every instant in this database.
-- The runner wraps this file in BEGIN IMMEDIATE ... COMMIT and sets PRAGMA user_version = 6.

-- Every downlink document (or message that claimed to be one) and what the station did with it.
-- Bounded: the uplink keeps the newest AUDIT_KEEP rows.
CREATE TABLE uplink_audit (
    id      INTEGER PRIMARY KEY,
    at      TEXT    NOT NULL,
    outcome TEXT    NOT NULL CHECK (outcome IN ('applied', 'rejected')),
    reason  TEXT    NOT NULL,                 -- 'ok' when applied, else uplink.errors.Reason
    detail  TEXT    NOT NULL DEFAULT '',
    doc     TEXT    NOT NULL DEFAULT '',      -- SHA-256 (hex) of the signed body, when known
    kind    TEXT    NOT NULL DEFAULT '',
    version INTEGER NOT NULL DEFAULT 0,
    size    INTEGER NOT NULL DEFAULT 0,       -- bytes of the message or of the assembled document
    topic   TEXT    NOT NULL DEFAULT ''
);

-- Signed documents from the centre that were verified and applied, newest version per kind in force.
-- `body` is the exact signed bytes (so the signature can be checked again at any time); for list
-- documents, whose bodies are large and live in the list store, it is NULL and `summary` describes them.
CREATE TABLE uplink_documents (
    id         INTEGER PRIMARY KEY,
    kind       TEXT    NOT NULL,
    version    INTEGER NOT NULL CHECK (version >= 1),
    doc        TEXT    NOT NULL UNIQUE,
    issued_at  TEXT    NOT NULL,
    applied_at TEXT    NOT NULL,
    body       BLOB,
    sig        TEXT    NOT NULL,
    summary    TEXT    NOT NULL DEFAULT '{}',
    UNIQUE (kind, version)
);

-- The alarm state last queued for the centre, per alarm row: the uplink queues an alarm message
-- whenever an alarm's count or cleared state differs from what is recorded here, in one transaction
-- with this table, so no raise, repeat or clear is lost or queued twice.
CREATE TABLE uplink_alarm_sent (
    alarm_id INTEGER PRIMARY KEY,
    count    INTEGER NOT NULL,
    cleared  INTEGER NOT NULL CHECK (cleared IN (0, 1))
) WITHOUT ROWID;
