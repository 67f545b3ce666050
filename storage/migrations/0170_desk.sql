-- 0170_desk: the attendant's desk: customers, vehicles, the card registry with its statuses, desk
-- operations with their two-phase state, and the card statuses the centre sends down.
-- Documented in docs/desk.md and docs/database.md. Instants are UTC ISO 8601, dates ISO (YYYY-MM-DD),
-- money in fen (INTEGER), volumes in 0.01 units.

CREATE TABLE desk_customers (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL CHECK (length(name) > 0),
    phone       TEXT NOT NULL DEFAULT '',
    id_number   TEXT NOT NULL DEFAULT '',
    company     TEXT NOT NULL DEFAULT '',
    created_at  TEXT NOT NULL
);

CREATE TABLE desk_vehicles (
    id                    INTEGER PRIMARY KEY,
    plate                 TEXT NOT NULL UNIQUE CHECK (length(plate) > 0),
    customer_id           INTEGER NOT NULL REFERENCES desk_customers (id),
    vehicle_type          TEXT NOT NULL DEFAULT '',
    cylinder_id           TEXT NOT NULL DEFAULT '',
    cylinder_valid_until  TEXT,                     -- YYYY-MM-DD; NULL: not registered
    created_at            TEXT NOT NULL
);

-- The card registry. status is what the rules see at every nozzle (edge/cardstatus.py): a card lost,
-- cancelled or replaced is refused with reason 5, 6 or 7. status_grace = 1: a loss that takes effect
-- after [rules] lost_card_grace_working_days (the Sinopec scheme); 0: in force at once.
CREATE TABLE desk_cards (
    asn           TEXT PRIMARY KEY CHECK (length(asn) BETWEEN 8 AND 20 AND asn NOT GLOB '*[^0-9]*'),
    kind          TEXT NOT NULL,                     -- user, cng, employee, ...
    customer_id   INTEGER REFERENCES desk_customers (id),
    vehicle_id    INTEGER REFERENCES desk_vehicles (id),
    holder        TEXT NOT NULL DEFAULT '',
    mode          TEXT NOT NULL DEFAULT 'prepaid_amount'
                  CHECK (mode IN ('prepaid_amount', 'prepaid_volume', 'credit_amount', 'credit_volume')),
    price_level   INTEGER NOT NULL DEFAULT 0 CHECK (price_level BETWEEN 0 AND 2),
    status        TEXT NOT NULL DEFAULT 'normal'
                  CHECK (status IN ('normal', 'lost', 'blacklisted', 'cancelled', 'replaced', 'damaged')),
    status_since  TEXT NOT NULL,
    status_by     TEXT NOT NULL DEFAULT '',
    status_grace  INTEGER NOT NULL DEFAULT 0 CHECK (status_grace IN (0, 1)),
    replaced_by   TEXT,                              -- the one new card a replaced card's balance went to
    issued_at     TEXT,
    last_balance     INTEGER,                        -- the balance the desk last saw on the card
    last_balance_at  TEXT,
    updated_at    TEXT NOT NULL
);
CREATE UNIQUE INDEX desk_cards_replaced_once ON desk_cards (replaced_by) WHERE replaced_by IS NOT NULL;

CREATE TABLE desk_card_statuses (
    id        INTEGER PRIMARY KEY,
    asn       TEXT NOT NULL REFERENCES desk_cards (asn),
    at        TEXT NOT NULL,
    previous  TEXT,
    status    TEXT NOT NULL,
    actor     TEXT NOT NULL,
    reason    TEXT NOT NULL DEFAULT '',
    op_key    TEXT NOT NULL DEFAULT ''
);
CREATE INDEX desk_card_statuses_asn ON desk_card_statuses (asn, id);

-- One row per desk operation. op_key is its idempotency key (also the key of its message to the centre).
-- Two-phase operations (top-up, grey unlock, replacement) go intent -> written -> confirmed / refused /
-- unresolved: the intent is stored before the card is touched, `written` just before the write APDU is
-- sent, and the outcome after; after a crash or a lost response the card's balance and counter decide
-- (edge/devices/desk/topup.py). Other operations are stored once, as `done` (or `refused`).
CREATE TABLE desk_operations (
    id              INTEGER PRIMARY KEY,
    op_key          TEXT NOT NULL UNIQUE,
    kind            TEXT NOT NULL,
    asn             TEXT NOT NULL,
    state           TEXT NOT NULL
                    CHECK (state IN ('intent', 'written', 'confirmed', 'refused', 'unresolved', 'done')),
    operator        TEXT NOT NULL,
    role            TEXT NOT NULL,
    amount          INTEGER,                         -- fen or 0.01 units: loaded, debited or moved
    payment         TEXT NOT NULL DEFAULT '',
    balance_before  INTEGER,
    balance_after   INTEGER,
    counter_before  INTEGER,                         -- the card's online (load) counter before
    other_asn       TEXT NOT NULL DEFAULT '',        -- replacement: the new card
    details         TEXT NOT NULL DEFAULT '{}',
    resolution      TEXT NOT NULL DEFAULT '',
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX desk_operations_open ON desk_operations (asn) WHERE state IN ('intent', 'written', 'unresolved');
CREATE INDEX desk_operations_asn ON desk_operations (asn, id);

-- Card statuses from the centre (signed downlink document card_status): the complete set in force,
-- replaced whole. Beside the desk's own statuses, the newer `since` wins.
CREATE TABLE centre_card_statuses (
    asn          TEXT PRIMARY KEY,
    status       TEXT NOT NULL
                 CHECK (status IN ('normal', 'lost', 'blacklisted', 'cancelled', 'replaced', 'damaged')),
    since        TEXT NOT NULL,
    grace        INTEGER NOT NULL DEFAULT 0 CHECK (grace IN (0, 1)),
    station      TEXT NOT NULL DEFAULT '',
    replaced_by  TEXT
);
