"""Real-name customers and the cylinders handed out to / returned by them.

Layer: storage. A hand-out or return is written with its cylinders' state changes, its audit row and its
record for the centre in the caller's transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from storage.clock import iso_instant
from storage.db import Database, Tx

__all__ = [
    "CounterMove",
    "CustomerKind",
    "CustomerRow",
    "add_customer_in",
    "add_move_in",
    "customer_by_card",
    "customer_by_id_number",
    "moves",
]


class CustomerKind(StrEnum):
    RESIDENT = "resident"
    NON_RESIDENT = "non_resident"
    """A business, with its unified social credit code."""


@dataclass(frozen=True, slots=True)
class CustomerRow:
    id: int
    kind: CustomerKind
    name: str
    id_number: str
    credit_code: str
    phone: str
    address: str
    gas_address: str
    card_number: str | None
    last_safety_check: dt.date | None
    safety_interval_days: int = 365


@dataclass(frozen=True, slots=True)
class CounterMove:
    receipt: str
    customer_id: int
    barcode: str
    direction: str
    at: str
    operator: str
    net_kg: float | None
    residual_kg: float | None
    deposit_cents: int
    warnings: str


def _customer(row: Any) -> CustomerRow:
    check = row["last_safety_check"]
    return CustomerRow(
        id=int(row["id"]),
        kind=CustomerKind(row["kind"]),
        name=row["name"],
        id_number=row["id_number"],
        credit_code=row["credit_code"],
        phone=row["phone"],
        address=row["address"],
        gas_address=row["gas_address"],
        card_number=row["card_number"],
        last_safety_check=None if check is None else dt.date.fromisoformat(check),
        safety_interval_days=int(row["safety_interval_days"]),
    )


async def add_customer_in(tx: Tx, c: CustomerRow, *, now: dt.datetime) -> int:
    row = await tx.one(
        "INSERT INTO lpg_customers (kind, name, id_number, credit_code, phone, address, gas_address, card_number,"
        " last_safety_check, safety_interval_days, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " RETURNING id",
        (
            c.kind.value,
            c.name,
            c.id_number.strip().upper(),
            c.credit_code,
            c.phone,
            c.address,
            c.gas_address,
            c.card_number,
            None if c.last_safety_check is None else c.last_safety_check.isoformat(),
            c.safety_interval_days,
            iso_instant(now),
        ),
    )
    return int(row[0])


async def customer_by_id_number(db: Database, id_number: str) -> CustomerRow | None:
    row = await db.fetchone("SELECT * FROM lpg_customers WHERE id_number = ?", (id_number.strip().upper(),))
    return None if row is None else _customer(row)


async def customer_by_card(db: Database, card_number: str) -> CustomerRow | None:
    row = await db.fetchone("SELECT * FROM lpg_customers WHERE card_number = ?", (card_number.strip(),))
    return None if row is None else _customer(row)


async def add_move_in(tx: Tx, m: CounterMove) -> int:
    row = await tx.one(
        "INSERT INTO lpg_counter_moves (receipt, customer_id, barcode, direction, at, operator, net_kg,"
        " residual_kg, deposit_cents, warnings) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            m.receipt,
            m.customer_id,
            m.barcode,
            m.direction,
            m.at,
            m.operator,
            m.net_kg,
            m.residual_kg,
            m.deposit_cents,
            m.warnings,
        ),
    )
    return int(row[0])


async def moves(db: Database, receipt: str | None = None) -> list[CounterMove]:
    sql = "SELECT receipt, customer_id, barcode, direction, at, operator, net_kg, residual_kg, deposit_cents," \
          " warnings FROM lpg_counter_moves"  # fmt: skip
    rows = await (db.fetchall(sql + " WHERE receipt = ? ORDER BY id", (receipt,)) if receipt
                  else db.fetchall(sql + " ORDER BY id"))  # fmt: skip
    return [CounterMove(*tuple(r)) for r in rows]


async def customer_by_id(db: Database, customer_id: int) -> CustomerRow | None:
    """The customer registered under `customer_id`, None when there is none."""
    row = await db.fetchone("SELECT id_number FROM lpg_customers WHERE id = ?", (customer_id,))
    return None if row is None else await customer_by_id_number(db, row[0])


async def last_net_kg_in(tx: Tx, barcode: str) -> float | None:
    """The net weight of the cylinder's last completed fill (kg), None when it was never filled here."""
    row = await tx.fetchone(
        "SELECT net_kg FROM lpg_fills WHERE barcode = ? AND status = 'done' ORDER BY id DESC LIMIT 1", (barcode,)
    )
    return None if row is None else float(row[0])


async def set_owner_in(tx: Tx, barcode: str, owner: str) -> None:
    """Who holds the cylinder now: `station` or `customer:{id}`."""
    await tx.execute("UPDATE lpg_cylinders SET owner = ? WHERE barcode = ?", (owner, barcode))
