"""Tank measurements, deliveries and reconciliations.

Layer: storage. Rows are plain values (the tank core lives in `edge.devices.tanks`); every write that
reports a fact to the centre takes the caller's transaction so its outbox message commits with it.
Metered sales for the reconciliation come from the journal: original records (not conflict copies) of
the kinds in which fuel left a nozzle (sale 0, grey 1, cash 7), by the instant they were stored.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from storage.clock import iso_instant, parse_instant
from storage.db import Database, Tx

__all__ = [
    "DeliveryRow",
    "MeasurementRow",
    "ReconciliationRow",
    "add_delivery_in",
    "add_measurement_in",
    "deliveries",
    "measurement_at_or_before",
    "measurements",
    "metered_sales_cl",
    "prune_measurements",
    "save_reconciliation_in",
]

FUEL_KINDS = (0, 1, 7)

MEASUREMENT_COLUMNS = (
    "product_height_mm",
    "water_height_mm",
    "temperature_c",
    "volume_l",
    "tc_volume_l",
    "water_volume_l",
    "ullage_l",
    "alarm_bits",
    "probe_status",
)


@dataclass(frozen=True, slots=True)
class MeasurementRow:
    tank: int
    at: dt.datetime
    product_height_mm: float
    water_height_mm: float
    temperature_c: float
    volume_l: float
    tc_volume_l: float
    water_volume_l: float
    ullage_l: float
    alarm_bits: int
    probe_status: int

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"tank": self.tank, "at": iso_instant(self.at)}
        out.update({c: getattr(self, c) for c in MEASUREMENT_COLUMNS})
        return out


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    id: int
    tank: int
    started_at: dt.datetime
    ended_at: dt.datetime
    start_height_mm: float
    end_height_mm: float
    start_tc_volume_l: float
    end_tc_volume_l: float
    temperature_c: float
    sales_during_l: float
    delivered_l: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "tank": self.tank,
            "started_at": iso_instant(self.started_at),
            "ended_at": iso_instant(self.ended_at),
            "start_height_mm": round(self.start_height_mm, 1),
            "end_height_mm": round(self.end_height_mm, 1),
            "start_tc_volume_l": round(self.start_tc_volume_l, 2),
            "end_tc_volume_l": round(self.end_tc_volume_l, 2),
            "temperature_c": round(self.temperature_c, 2),
            "sales_during_l": round(self.sales_during_l, 2),
            "delivered_l": round(self.delivered_l, 2),
        }


@dataclass(frozen=True, slots=True)
class ReconciliationRow:
    tank: int
    period_start: dt.datetime
    period_end: dt.datetime
    opening_l: float
    deliveries_l: float
    sales_l: float
    book_closing_l: float
    measured_closing_l: float
    variance_l: float
    variance_pct: float
    over_threshold: bool


def _measurement(row: Any) -> MeasurementRow:
    return MeasurementRow(
        tank=int(row["tank"]),
        at=parse_instant(row["at"]),
        product_height_mm=float(row["product_height_mm"]),
        water_height_mm=float(row["water_height_mm"]),
        temperature_c=float(row["temperature_c"]),
        volume_l=float(row["volume_l"]),
        tc_volume_l=float(row["tc_volume_l"]),
        water_volume_l=float(row["water_volume_l"]),
        ullage_l=float(row["ullage_l"]),
        alarm_bits=int(row["alarm_bits"]),
        probe_status=int(row["probe_status"]),
    )


async def add_measurement_in(tx: Tx, m: MeasurementRow) -> None:
    await tx.execute(
        "INSERT INTO tank_measurements (tank, at, "
        + ", ".join(MEASUREMENT_COLUMNS)
        + ") VALUES (?, ?, "
        + ", ".join("?" * len(MEASUREMENT_COLUMNS))
        + ")",
        (m.tank, iso_instant(m.at), *(getattr(m, c) for c in MEASUREMENT_COLUMNS)),
    )


async def measurement_at_or_before(db: Database, tank: int, at: dt.datetime) -> MeasurementRow | None:
    """The newest measurement of `tank` taken at or before `at`."""
    row = await db.fetchone(
        "SELECT * FROM tank_measurements WHERE tank = ? AND at <= ? ORDER BY at DESC, id DESC LIMIT 1",
        (tank, iso_instant(at)),
    )
    return None if row is None else _measurement(row)


async def first_measurement_after(db: Database, tank: int, at: dt.datetime) -> MeasurementRow | None:
    """The oldest measurement of `tank` taken after `at`."""
    row = await db.fetchone(
        "SELECT * FROM tank_measurements WHERE tank = ? AND at > ? ORDER BY at, id LIMIT 1",
        (tank, iso_instant(at)),
    )
    return None if row is None else _measurement(row)


async def measurements(
    db: Database, tank: int | None = None, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> list[MeasurementRow]:
    clauses, params = _period(since, until, "at")
    if tank is not None:
        clauses.append("tank = ?")
        params.append(tank)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = await db.fetchall(f"SELECT * FROM tank_measurements {where} ORDER BY at, id", tuple(params))
    return [_measurement(r) for r in rows]


async def prune_measurements(tx: Tx, before: dt.datetime) -> int:
    """Delete measurements older than `before`, keeping each tank's newest one."""
    rows = await tx.execute(
        "DELETE FROM tank_measurements WHERE at < ? AND id NOT IN "
        "(SELECT MAX(id) FROM tank_measurements GROUP BY tank) RETURNING id",
        (iso_instant(before),),
    )
    return len(rows)


def _period(since: dt.datetime | None, until: dt.datetime | None, column: str) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if since is not None:
        clauses.append(f"{column} >= ?")
        params.append(iso_instant(since))
    if until is not None:
        clauses.append(f"{column} < ?")
        params.append(iso_instant(until))
    return clauses, params


async def add_delivery_in(
    tx: Tx,
    tank: int,
    started_at: dt.datetime,
    ended_at: dt.datetime,
    start_height_mm: float,
    end_height_mm: float,
    start_tc_volume_l: float,
    end_tc_volume_l: float,
    temperature_c: float,
    sales_during_l: float,
) -> DeliveryRow:
    """Store a detected delivery; the delivered volume adds the sales during it."""
    delivered = end_tc_volume_l - start_tc_volume_l + sales_during_l
    row = await tx.one(
        "INSERT INTO tank_deliveries (tank, started_at, ended_at, start_height_mm, end_height_mm, "
        "start_tc_volume_l, end_tc_volume_l, temperature_c, sales_during_l, delivered_l) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            tank,
            iso_instant(started_at),
            iso_instant(ended_at),
            start_height_mm,
            end_height_mm,
            start_tc_volume_l,
            end_tc_volume_l,
            temperature_c,
            sales_during_l,
            delivered,
        ),
    )
    return DeliveryRow(
        int(row[0]),
        tank,
        started_at,
        ended_at,
        start_height_mm,
        end_height_mm,
        start_tc_volume_l,
        end_tc_volume_l,
        temperature_c,
        sales_during_l,
        delivered,
    )


def _delivery(row: Any) -> DeliveryRow:
    return DeliveryRow(
        id=int(row["id"]),
        tank=int(row["tank"]),
        started_at=parse_instant(row["started_at"]),
        ended_at=parse_instant(row["ended_at"]),
        start_height_mm=float(row["start_height_mm"]),
        end_height_mm=float(row["end_height_mm"]),
        start_tc_volume_l=float(row["start_tc_volume_l"]),
        end_tc_volume_l=float(row["end_tc_volume_l"]),
        temperature_c=float(row["temperature_c"]),
        sales_during_l=float(row["sales_during_l"]),
        delivered_l=float(row["delivered_l"]),
    )


async def deliveries(
    db: Database, tank: int | None = None, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> list[DeliveryRow]:
    """Deliveries that ended in [since, until)."""
    clauses, params = _period(since, until, "ended_at")
    if tank is not None:
        clauses.append("tank = ?")
        params.append(tank)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = await db.fetchall(f"SELECT * FROM tank_deliveries {where} ORDER BY ended_at, id", tuple(params))
    return [_delivery(r) for r in rows]


async def metered_sales_cl(
    db: Database,
    g_code: str,
    nozzles: Sequence[tuple[str, int, int]],
    since: dt.datetime,
    until: dt.datetime,
) -> int:
    """Volume (0.01 L) of the journal's fuel records of `g_code` (restricted to `nozzles` when given)
    stored in [since, until)."""
    sql = (
        "SELECT COALESCE(SUM(vol), 0) FROM transactions WHERE conflict_of IS NULL AND g_code = ? "
        f"AND kind IN ({', '.join('?' * len(FUEL_KINDS))}) AND received_at >= ? AND received_at < ?"
    )
    params: list[Any] = [g_code, *FUEL_KINDS, iso_instant(since), iso_instant(until)]
    if nozzles:
        sql += " AND (" + " OR ".join("(line = ? AND dispenser = ? AND nzn = ?)" for _ in nozzles) + ")"
        for n in nozzles:
            params.extend(n)
    row = await db.fetchone(sql, tuple(params))
    return int(row[0]) if row is not None else 0


async def save_reconciliation_in(tx: Tx, r: ReconciliationRow, *, now: dt.datetime) -> bool:
    """Store a reconciliation once per (tank, period); False when that period was already stored."""
    rows = await tx.execute(
        "INSERT INTO tank_reconciliations (tank, period_start, period_end, opening_l, deliveries_l, sales_l, "
        "book_closing_l, measured_closing_l, variance_l, variance_pct, over_threshold, computed_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (tank, period_start, period_end) DO NOTHING "
        "RETURNING id",
        (
            r.tank,
            iso_instant(r.period_start),
            iso_instant(r.period_end),
            r.opening_l,
            r.deliveries_l,
            r.sales_l,
            r.book_closing_l,
            r.measured_closing_l,
            r.variance_l,
            r.variance_pct,
            int(r.over_threshold),
            iso_instant(now),
        ),
    )
    return bool(rows)


async def reconciliations(
    db: Database, since: dt.datetime | None = None, until: dt.datetime | None = None
) -> list[dict[str, Any]]:
    clauses, params = _period(since, until, "period_end")
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = await db.fetchall(
        f"SELECT * FROM tank_reconciliations {where} ORDER BY period_end, tank", tuple(params)
    )
    return [dict(r) for r in rows]


# --- read-only views for the command line (a plain sqlite3 connection, see `storage.db.open_readonly`) ---

EXPORT_TABLES = {
    "measurements": ("tank_measurements", "at"),
    "deliveries": ("tank_deliveries", "ended_at"),
    "reconciliations": ("tank_reconciliations", "period_end"),
}


def latest_measurements(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """The newest stored measurement of every tank."""
    cur = conn.execute(
        "SELECT m.* FROM tank_measurements m JOIN "
        "(SELECT MAX(id) AS id FROM tank_measurements GROUP BY tank) newest ON m.id = newest.id ORDER BY m.tank"
    )
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def active_tank_alarms(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    cur = conn.execute(
        "SELECT source, code, severity, message, raised_at FROM alarms "
        "WHERE cleared_at IS NULL AND source LIKE 'tank:%' ORDER BY source, raised_at"
    )
    names = [d[0] for d in cur.description]
    return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def export_rows(
    conn: sqlite3.Connection, what: str, since: dt.datetime | None, until: dt.datetime | None
) -> tuple[list[str], Iterator[tuple[Any, ...]]]:
    """The columns and rows of one tank table (`EXPORT_TABLES`) in [since, until), oldest first."""
    table, column = EXPORT_TABLES[what]
    clauses, params = _period(since, until, column)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    cur = conn.execute(f"SELECT * FROM {table} {where} ORDER BY {column}, id", tuple(params))
    return [d[0] for d in cur.description], iter(cur)
