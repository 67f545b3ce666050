-- 0120_lpg: the LPG cylinder registry (with every state change), fills at the filling scales.
-- Documented in docs/lpg.md and docs/database.md. Instants are UTC ISO 8601, dates ISO (YYYY-MM-DD),
-- weights in kg (REAL).

CREATE TABLE lpg_cylinders (
    barcode          TEXT PRIMARY KEY,
    spec             TEXT    NOT NULL,
    tare_kg          REAL,
    manufactured_on  TEXT    NOT NULL,
    last_inspection  TEXT,
    next_inspection  TEXT    NOT NULL,
    scrap_on         TEXT    NOT NULL,
    owner            TEXT    NOT NULL DEFAULT 'station',
    state            TEXT    NOT NULL CHECK (state IN
                         ('empty', 'full', 'at_customer', 'in_inspection', 'problem', 'scrapped')),
    source           TEXT    NOT NULL,
    updated_at       TEXT    NOT NULL
);

CREATE TABLE lpg_cylinder_states (
    id        INTEGER PRIMARY KEY,
    barcode   TEXT NOT NULL REFERENCES lpg_cylinders (barcode),
    at        TEXT NOT NULL,
    old_state TEXT,
    new_state TEXT NOT NULL,
    reason    TEXT NOT NULL,
    actor     TEXT NOT NULL
);
CREATE INDEX lpg_cylinder_states_barcode ON lpg_cylinder_states (barcode, id);

CREATE TABLE lpg_fills (
    id           INTEGER PRIMARY KEY,
    barcode      TEXT NOT NULL REFERENCES lpg_cylinders (barcode),
    scale        TEXT NOT NULL,
    operator     TEXT NOT NULL,
    started_at   TEXT NOT NULL,
    ended_at     TEXT,
    tare_kg      REAL NOT NULL,
    target_kg    REAL NOT NULL,
    gross_kg     REAL,
    net_kg       REAL,
    status       TEXT NOT NULL CHECK (status IN ('filling', 'done', 'overfilled', 'interrupted')),
    detail       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX lpg_fills_barcode ON lpg_fills (barcode, id);

-- Real-name customers at the counter. id_number is personal data: shown masked, read in full only by the
-- roles configured for it (lpg.id_full_roles), every full read audited (audit_log action lpg.customer.read_id).
CREATE TABLE lpg_customers (
    id                  INTEGER PRIMARY KEY,
    kind                TEXT NOT NULL CHECK (kind IN ('resident', 'non_resident')),
    name                TEXT NOT NULL,
    id_number           TEXT NOT NULL UNIQUE,
    credit_code         TEXT NOT NULL DEFAULT '',
    phone               TEXT NOT NULL DEFAULT '',
    address             TEXT NOT NULL DEFAULT '',
    gas_address         TEXT NOT NULL DEFAULT '',
    card_number         TEXT UNIQUE,
    last_safety_check   TEXT,
    safety_interval_days INTEGER NOT NULL DEFAULT 365,
    created_at          TEXT NOT NULL
);

-- Every cylinder handed out to or returned by a customer (one row per cylinder).
CREATE TABLE lpg_counter_moves (
    id            INTEGER PRIMARY KEY,
    receipt       TEXT    NOT NULL,
    customer_id   INTEGER NOT NULL REFERENCES lpg_customers (id),
    barcode       TEXT    NOT NULL REFERENCES lpg_cylinders (barcode),
    direction     TEXT    NOT NULL CHECK (direction IN ('out', 'in')),
    at            TEXT    NOT NULL,
    operator      TEXT    NOT NULL,
    net_kg        REAL,
    residual_kg   REAL,
    deposit_cents INTEGER NOT NULL DEFAULT 0,
    warnings      TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX lpg_counter_moves_receipt ON lpg_counter_moves (receipt);
