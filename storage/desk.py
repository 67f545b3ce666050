"""The desk's tables: customers, vehicles, the card registry with its statuses, desk operations.

Layer: storage. Every write takes the caller's transaction (`*_in(tx, ...)`), so a desk operation, its
card status change, its audit row and its message for the centre commit together (`edge.devices.desk`).
Tables: `storage/migrations/0170_desk.sql`; documented in docs/database.md and docs/desk.md.

Messages for the centre (`desk_message`): a `desk` payload on `station/{id}/events`, key
`desk:{station}:{op_key}:{state}` — one message per operation and final state, so the centre,
de-duplicating on the key, sees each once.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from urllib.parse import quote

from storage.clock import iso_instant, parse_instant
from storage.db import Database, Tx
from storage.errors import StorageError
from storage.outbox import OutboxMessage

__all__ = [
    "CardRow",
    "CentreStatus",
    "CustomerRow",
    "DeskStorageError",
    "OpState",
    "OperationRow",
    "StatusChange",
    "VehicleRow",
    "add_customer_in",
    "add_operation_in",
    "add_vehicle_in",
    "card",
    "card_in",
    "centre_statuses",
    "customer",
    "desk_message",
    "last_known_balance_in",
    "note_balance_in",
    "open_operations",
    "operation",
    "operation_in",
    "operations",
    "put_card_in",
    "registry",
    "replace_centre_statuses",
    "set_cylinder_in",
    "set_figures_in",
    "set_state_in",
    "set_status_in",
    "status_history",
    "unreplace_in",
    "vehicle",
    "vehicle_by_plate",
]

STATUSES = frozenset({"normal", "lost", "blacklisted", "cancelled", "replaced", "damaged"})
MODES = frozenset({"prepaid_amount", "prepaid_volume", "credit_amount", "credit_volume"})
MESSAGE_VERSION = 1


class DeskStorageError(StorageError):
    """A desk row that cannot be written as asked (unknown card, card replaced twice, ...)."""


class OpState(StrEnum):
    """The state of a desk operation (docs/desk.md, "The two-phase rule")."""

    INTENT = "intent"
    """Stored before the card is touched: nothing has been written to it."""
    WRITTEN = "written"
    """The write command is (about to be) on its way to the card: its outcome is not known yet."""
    CONFIRMED = "confirmed"
    """The card holds the result (balance after, counter + 1)."""
    REFUSED = "refused"
    """Nothing was written and nothing will be: the money is still owed to the customer."""
    UNRESOLVED = "unresolved"
    """The card's balance is neither the one before nor the one after: damaged, replace it."""
    DONE = "done"
    """A one-step operation (status change, issue, PIN change ...) done."""

    @property
    def final(self) -> bool:
        return self in (OpState.CONFIRMED, OpState.REFUSED, OpState.DONE)


@dataclass(frozen=True, slots=True)
class CustomerRow:
    id: int
    name: str
    phone: str = ""
    id_number: str = ""
    company: str = ""


@dataclass(frozen=True, slots=True)
class VehicleRow:
    id: int
    plate: str
    customer_id: int
    vehicle_type: str = ""
    cylinder_id: str = ""
    cylinder_valid_until: dt.date | None = None


@dataclass(frozen=True, slots=True)
class CardRow:
    asn: str
    kind: str
    status: str = "normal"
    status_since: dt.datetime | None = None
    status_by: str = ""
    status_grace: bool = False
    customer_id: int | None = None
    vehicle_id: int | None = None
    holder: str = ""
    mode: str = "prepaid_amount"
    price_level: int = 0
    replaced_by: str | None = None
    issued_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class StatusChange:
    asn: str
    at: dt.datetime
    previous: str | None
    status: str
    actor: str
    reason: str
    op_key: str


@dataclass(frozen=True, slots=True)
class CentreStatus:
    """A card status the centre sent down (document `card_status`)."""

    asn: str
    status: str
    since: dt.datetime
    grace: bool = False
    station: str = ""
    replaced_by: str | None = None


@dataclass(frozen=True, slots=True)
class OperationRow:
    op_key: str
    kind: str
    asn: str
    state: OpState
    operator: str
    role: str
    amount: int | None = None
    payment: str = ""
    balance_before: int | None = None
    balance_after: int | None = None
    counter_before: int | None = None
    other_asn: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    resolution: str = ""
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None


# --- customers and vehicles --------------------------------------------------------------------------


async def add_customer_in(tx: Tx, c: CustomerRow, *, now: dt.datetime) -> int:
    row = await tx.one(
        "INSERT INTO desk_customers (name, phone, id_number, company, created_at) VALUES (?, ?, ?, ?, ?)"
        " RETURNING id",
        (c.name, c.phone, c.id_number, c.company, iso_instant(now)),
    )
    return int(row[0])


async def customer(db: Database, customer_id: int) -> CustomerRow | None:
    row = await db.fetchone("SELECT * FROM desk_customers WHERE id = ?", (customer_id,))
    if row is None:
        return None
    return CustomerRow(int(row["id"]), row["name"], row["phone"], row["id_number"], row["company"])


def _vehicle(row: Any) -> VehicleRow:
    until = row["cylinder_valid_until"]
    return VehicleRow(
        int(row["id"]),
        row["plate"],
        int(row["customer_id"]),
        row["vehicle_type"],
        row["cylinder_id"],
        None if until is None else dt.date.fromisoformat(until),
    )


async def add_vehicle_in(tx: Tx, v: VehicleRow, *, now: dt.datetime) -> int:
    until = None if v.cylinder_valid_until is None else v.cylinder_valid_until.isoformat()
    row = await tx.one(
        "INSERT INTO desk_vehicles (plate, customer_id, vehicle_type, cylinder_id, cylinder_valid_until,"
        " created_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        (v.plate, v.customer_id, v.vehicle_type, v.cylinder_id, until, iso_instant(now)),
    )
    return int(row[0])


async def vehicle(db: Database, vehicle_id: int) -> VehicleRow | None:
    row = await db.fetchone("SELECT * FROM desk_vehicles WHERE id = ?", (vehicle_id,))
    return None if row is None else _vehicle(row)


async def vehicle_by_plate(db: Database, plate: str) -> VehicleRow | None:
    row = await db.fetchone("SELECT * FROM desk_vehicles WHERE plate = ?", (plate.strip(),))
    return None if row is None else _vehicle(row)


async def set_cylinder_in(tx: Tx, vehicle_id: int, valid_until: dt.date) -> None:
    await tx.execute(
        "UPDATE desk_vehicles SET cylinder_valid_until = ? WHERE id = ?",
        (valid_until.isoformat(), vehicle_id),
    )


# --- the card registry ---------------------------------------------------------------------------------


def _instant(text: str | None) -> dt.datetime | None:
    return None if text is None else parse_instant(text)


def _card(row: Any) -> CardRow:
    return CardRow(
        asn=row["asn"],
        kind=row["kind"],
        status=row["status"],
        status_since=_instant(row["status_since"]),
        status_by=row["status_by"],
        status_grace=bool(row["status_grace"]),
        customer_id=row["customer_id"],
        vehicle_id=row["vehicle_id"],
        holder=row["holder"],
        mode=row["mode"],
        price_level=int(row["price_level"]),
        replaced_by=row["replaced_by"],
        issued_at=_instant(row["issued_at"]),
    )


async def card(db: Database, asn: str) -> CardRow | None:
    row = await db.fetchone("SELECT * FROM desk_cards WHERE asn = ?", (asn,))
    return None if row is None else _card(row)


async def card_in(tx: Tx, asn: str) -> CardRow | None:
    row = await tx.fetchone("SELECT * FROM desk_cards WHERE asn = ?", (asn,))
    return None if row is None else _card(row)


async def registry(db: Database) -> list[CardRow]:
    """Every registered card (the daemon loads their statuses at start)."""
    return [_card(r) for r in await db.fetchall("SELECT * FROM desk_cards ORDER BY asn")]


async def put_card_in(tx: Tx, c: CardRow, *, actor: str, now: dt.datetime) -> None:
    """Register a card (or update its holder data); its status is changed with `set_status_in` only."""
    if c.mode not in MODES:
        raise DeskStorageError(f"card {c.asn}: unknown consumption mode {c.mode!r}")
    stamp = iso_instant(now)
    issued = None if c.issued_at is None else iso_instant(c.issued_at)
    await tx.execute(
        "INSERT INTO desk_cards (asn, kind, customer_id, vehicle_id, holder, mode, price_level, status,"
        " status_since, status_by, issued_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'normal', ?, ?, ?, ?)"
        " ON CONFLICT (asn) DO UPDATE SET kind = excluded.kind, customer_id = excluded.customer_id,"
        " vehicle_id = excluded.vehicle_id, holder = excluded.holder, mode = excluded.mode,"
        " price_level = excluded.price_level, issued_at = coalesce(excluded.issued_at, issued_at),"
        " updated_at = excluded.updated_at",
        (c.asn, c.kind, c.customer_id, c.vehicle_id, c.holder, c.mode, c.price_level, stamp, actor, issued,
         stamp),
    )  # fmt: skip


async def set_status_in(
    tx: Tx,
    asn: str,
    status: str,
    *,
    actor: str,
    now: dt.datetime,
    reason: str = "",
    op_key: str = "",
    grace: bool = False,
    replaced_by: str | None = None,
) -> str:
    """Change a registered card's status (with its history row); returns the previous status."""
    if status not in STATUSES:
        raise DeskStorageError(f"card {asn}: unknown status {status!r}")
    row = await tx.fetchone("SELECT status, replaced_by FROM desk_cards WHERE asn = ?", (asn,))
    if row is None:
        raise DeskStorageError(f"card {asn} is not registered at this station")
    if replaced_by is not None and row["replaced_by"] is not None:
        raise DeskStorageError(f"card {asn} was already replaced by {row['replaced_by']}")
    stamp = iso_instant(now)
    await tx.execute(
        "UPDATE desk_cards SET status = ?, status_since = ?, status_by = ?, status_grace = ?,"
        " replaced_by = coalesce(?, replaced_by), updated_at = ? WHERE asn = ?",
        (status, stamp, actor, int(grace), replaced_by, stamp, asn),
    )
    await tx.execute(
        "INSERT INTO desk_card_statuses (asn, at, previous, status, actor, reason, op_key)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (asn, stamp, row["status"], status, actor, reason, op_key),
    )
    return str(row["status"])


async def note_balance_in(tx: Tx, asn: str, balance: int, *, now: dt.datetime) -> None:
    """The balance the desk just saw on (or wrote to) a registered card."""
    await tx.execute(
        "UPDATE desk_cards SET last_balance = ?, last_balance_at = ? WHERE asn = ?",
        (balance, iso_instant(now), asn),
    )


async def last_known_balance_in(tx: Tx, asn: str) -> tuple[int, str] | None:
    """The card's balance as this station last knew it, and from where: the desk's own reads and writes,
    or a later dispenser sale record of the card (its BAL less its AMN). None: never seen."""
    desk_row = await tx.fetchone("SELECT last_balance, last_balance_at FROM desk_cards WHERE asn = ?", (asn,))
    sale = await tx.fetchone(
        "SELECT bal, amn, received_at FROM transactions WHERE asn = ? AND kind = 0 AND conflict_of IS NULL"
        " ORDER BY received_at DESC, id DESC LIMIT 1",
        (asn,),
    )
    known: tuple[int, str] | None = None
    if desk_row is not None and desk_row["last_balance"] is not None:
        known = (int(desk_row["last_balance"]), str(desk_row["last_balance_at"]))
    if sale is not None and (known is None or str(sale["received_at"]) > known[1]):
        return (int(sale["bal"]) - int(sale["amn"]), "dispenser record")
    return None if known is None else (known[0], "desk")


async def unreplace_in(tx: Tx, asn: str, status: str, *, actor: str, now: dt.datetime, op_key: str) -> None:
    """Undo a replacement whose balance never reached the new card: the old card back to `status`."""
    await tx.execute("UPDATE desk_cards SET replaced_by = NULL WHERE asn = ?", (asn,))
    await set_status_in(tx, asn, status, actor=actor, now=now, reason="replacement refused", op_key=op_key)


async def status_history(db: Database, asn: str) -> list[StatusChange]:
    rows = await db.fetchall("SELECT * FROM desk_card_statuses WHERE asn = ? ORDER BY id", (asn,))
    return [
        StatusChange(r["asn"], parse_instant(r["at"]), r["previous"], r["status"], r["actor"], r["reason"],
                     r["op_key"])
        for r in rows
    ]  # fmt: skip


# --- centre statuses ---------------------------------------------------------------------------------


async def replace_centre_statuses(db: Database, entries: Iterable[CentreStatus]) -> int:
    """The centre's set replaced whole, in one transaction; returns how many are held."""
    items = list(entries)
    for e in items:
        if e.status not in STATUSES:
            raise DeskStorageError(f"card {e.asn}: unknown status {e.status!r}")
    async with db.transaction() as tx:
        await tx.execute("DELETE FROM centre_card_statuses")
        for e in items:
            await tx.execute(
                "INSERT INTO centre_card_statuses (asn, status, since, grace, station, replaced_by)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (e.asn, e.status, iso_instant(e.since), int(e.grace), e.station, e.replaced_by),
            )
    return len(items)


async def centre_statuses(db: Database) -> list[CentreStatus]:
    rows = await db.fetchall("SELECT * FROM centre_card_statuses ORDER BY asn")
    return [
        CentreStatus(r["asn"], r["status"], parse_instant(r["since"]), bool(r["grace"]), r["station"],
                     r["replaced_by"])
        for r in rows
    ]  # fmt: skip


# --- operations --------------------------------------------------------------------------------------


def _operation(row: Any) -> OperationRow:
    return OperationRow(
        op_key=row["op_key"],
        kind=row["kind"],
        asn=row["asn"],
        state=OpState(row["state"]),
        operator=row["operator"],
        role=row["role"],
        amount=row["amount"],
        payment=row["payment"],
        balance_before=row["balance_before"],
        balance_after=row["balance_after"],
        counter_before=row["counter_before"],
        other_asn=row["other_asn"],
        details=json.loads(row["details"]),
        resolution=row["resolution"],
        created_at=parse_instant(row["created_at"]),
        updated_at=parse_instant(row["updated_at"]),
    )


async def add_operation_in(tx: Tx, op: OperationRow, *, now: dt.datetime) -> None:
    stamp = iso_instant(now)
    await tx.execute(
        "INSERT INTO desk_operations (op_key, kind, asn, state, operator, role, amount, payment, balance_before,"
        " balance_after, counter_before, other_asn, details, resolution, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (op.op_key, op.kind, op.asn, op.state.value, op.operator, op.role, op.amount, op.payment,
         op.balance_before, op.balance_after, op.counter_before, op.other_asn,
         json.dumps(dict(op.details), sort_keys=True, ensure_ascii=False, default=str), op.resolution,
         stamp, stamp),
    )  # fmt: skip


async def set_state_in(
    tx: Tx,
    op_key: str,
    state: OpState,
    *,
    now: dt.datetime,
    resolution: str = "",
    details: Mapping[str, Any] | None = None,
    expect: Iterable[OpState] | None = None,
) -> OperationRow:
    """Move an operation to `state` (only from one of `expect`, when given); returns the updated row."""
    row = await tx.fetchone("SELECT * FROM desk_operations WHERE op_key = ?", (op_key,))
    if row is None:
        raise DeskStorageError(f"no desk operation {op_key}")
    current = _operation(row)
    if expect is not None and current.state not in set(expect):
        raise DeskStorageError(f"desk operation {op_key} is {current.state.value}, not {state.value}-able")
    merged = {**current.details, **(details or {})}
    await tx.execute(
        "UPDATE desk_operations SET state = ?, resolution = ?, details = ?, updated_at = ? WHERE op_key = ?",
        (state.value, resolution or current.resolution,
         json.dumps(merged, sort_keys=True, ensure_ascii=False, default=str), iso_instant(now), op_key),
    )  # fmt: skip
    updated = await tx.fetchone("SELECT * FROM desk_operations WHERE op_key = ?", (op_key,))
    assert updated is not None
    return _operation(updated)


async def set_figures_in(
    tx: Tx, op_key: str, *, balance_before: int, balance_after: int, counter_before: int | None
) -> None:
    """The card's figures of a two-phase write, stored with its `written` state."""
    await tx.execute(
        "UPDATE desk_operations SET balance_before = ?, balance_after = ?, counter_before = ? WHERE op_key = ?",
        (balance_before, balance_after, counter_before, op_key),
    )


async def operation(db: Database, op_key: str) -> OperationRow | None:
    row = await db.fetchone("SELECT * FROM desk_operations WHERE op_key = ?", (op_key,))
    return None if row is None else _operation(row)


async def operation_in(tx: Tx, op_key: str) -> OperationRow | None:
    row = await tx.fetchone("SELECT * FROM desk_operations WHERE op_key = ?", (op_key,))
    return None if row is None else _operation(row)


async def operations(db: Database, asn: str | None = None, limit: int = 100) -> list[OperationRow]:
    """The newest operations first (of one card, when given)."""
    if asn is None:
        rows = await db.fetchall("SELECT * FROM desk_operations ORDER BY id DESC LIMIT ?", (limit,))
    else:
        rows = await db.fetchall(
            "SELECT * FROM desk_operations WHERE asn = ? ORDER BY id DESC LIMIT ?", (asn, limit)
        )
    return [_operation(r) for r in rows]


async def open_operations(db: Database, asn: str | None = None) -> list[OperationRow]:
    """Two-phase operations not finished (intent, written, unresolved), oldest first."""
    sql = "SELECT * FROM desk_operations WHERE state IN ('intent', 'written', 'unresolved')"
    if asn is None:
        rows = await db.fetchall(sql + " ORDER BY id")
    else:
        rows = await db.fetchall(sql + " AND asn = ? ORDER BY id", (asn,))
    return [_operation(r) for r in rows]


def desk_message(station: str, op: OperationRow, *, at: dt.datetime) -> OutboxMessage:
    """The operation's message for the centre: a `desk` payload on `station/{id}/events` (docs/mqtt.md;
    the contract is `uplink.payloads.DeskPayload`, whose key this repeats)."""
    key = ":".join(quote(str(p), safe="-_.~") for p in ("desk", station, op.op_key, op.state.value))
    payload = {
        "v": MESSAGE_VERSION,
        "type": "desk",
        "key": key,
        "station": station,
        "op_key": op.op_key,
        "op": op.kind,
        "asn": op.asn,
        "state": op.state.value,
        "at": iso_instant(at),
        "operator": op.operator,
        "role": op.role,
        "amount": op.amount,
        "payment": op.payment,
        "balance_before": op.balance_before,
        "balance_after": op.balance_after,
        "counter_before": op.counter_before,
        "other_asn": op.other_asn,
        "resolution": op.resolution,
        "details": dict(op.details),
    }
    body = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return OutboxMessage(topic=f"station/{station}/events", key=key, payload=body.encode())
