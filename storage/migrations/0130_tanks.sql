-- 0130_tanks: tank measurements, deliveries and wet-stock reconciliations.
-- Documented in docs/database.md and docs/tanks.md. Instants are UTC ISO 8601 (as elsewhere); volumes
-- in litres (REAL, compensated to the station's reference temperature where the column says tc_).

CREATE TABLE tank_measurements (
    id                INTEGER PRIMARY KEY,
    tank              INTEGER NOT NULL,
    at                TEXT    NOT NULL,
    product_height_mm REAL    NOT NULL,
    water_height_mm   REAL    NOT NULL,
    temperature_c     REAL    NOT NULL,
    volume_l          REAL    NOT NULL,
    tc_volume_l       REAL    NOT NULL,
    water_volume_l    REAL    NOT NULL,
    ullage_l          REAL    NOT NULL,
    alarm_bits        INTEGER NOT NULL,
    probe_status      INTEGER NOT NULL
);
CREATE INDEX tank_measurements_tank_at ON tank_measurements (tank, at);

CREATE TABLE tank_deliveries (
    id                 INTEGER PRIMARY KEY,
    tank               INTEGER NOT NULL,
    started_at         TEXT    NOT NULL,
    ended_at           TEXT    NOT NULL,
    start_height_mm    REAL    NOT NULL,
    end_height_mm      REAL    NOT NULL,
    start_tc_volume_l  REAL    NOT NULL,
    end_tc_volume_l    REAL    NOT NULL,
    temperature_c      REAL    NOT NULL,
    sales_during_l     REAL    NOT NULL,
    delivered_l        REAL    NOT NULL,
    UNIQUE (tank, started_at)
);

CREATE TABLE tank_reconciliations (
    id                 INTEGER PRIMARY KEY,
    tank               INTEGER NOT NULL,
    period_start       TEXT    NOT NULL,
    period_end         TEXT    NOT NULL,
    opening_l          REAL    NOT NULL,
    deliveries_l       REAL    NOT NULL,
    sales_l            REAL    NOT NULL,
    book_closing_l     REAL    NOT NULL,
    measured_closing_l REAL    NOT NULL,
    variance_l         REAL    NOT NULL,
    variance_pct       REAL    NOT NULL,
    over_threshold     INTEGER NOT NULL CHECK (over_threshold IN (0, 1)),
    computed_at        TEXT    NOT NULL,
    UNIQUE (tank, period_start, period_end)
);
