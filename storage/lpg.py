"""The LPG cylinder registry (state changes recorded) and the fills at the filling scales.

Layer: storage. Rows are plain values; the rules (fitness, targets, over-fill) live in
`edge.devices.lpg`. Every write that reports a fact to the centre takes the caller's transaction so
that its outbox message commits with it (persist, then send).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from storage.clock import iso_instant
from storage.db import Database, Tx
from storage.outbox import OutboxMessage, enqueue_in

__all__ = [
    "CylinderRow",
    "CylinderState",
    "FillRow",
    "FillStatus",
    "StateChange",
    "begin_fill_in",
    "cylinder",
    "cylinders",
    "fill",
    "fill_message",
    "fills",
    "finish_fill_in",
    "interrupt_open_fills",
    "set_state_in",
    "state_history",
    "upsert_cylinders_in",
]


class CylinderState(StrEnum):
    EMPTY = "empty"
    FULL = "full"
    AT_CUSTOMER = "at_customer"
    IN_INSPECTION = "in_inspection"
    PROBLEM = "problem"
    SCRAPPED = "scrapped"


class FillStatus(StrEnum):
    FILLING = "filling"
    DONE = "done"
    OVERFILLED = "overfilled"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True, slots=True)
class CylinderRow:
    barcode: str
    spec: str
    tare_kg: float | None
    manufactured_on: dt.date
    last_inspection: dt.date | None
    next_inspection: dt.date
    scrap_on: dt.date
    owner: str = "station"
    state: CylinderState = CylinderState.EMPTY


@dataclass(frozen=True, slots=True)
class StateChange:
    barcode: str
    at: str
    old_state: str | None
    new_state: str
    reason: str
    actor: str


@dataclass(frozen=True, slots=True)
class FillRow:
    id: int
    barcode: str
    scale: str
    operator: str
    started_at: str
    ended_at: str | None
    tare_kg: float
    target_kg: float
    gross_kg: float | None
    net_kg: float | None
    status: FillStatus
    detail: str

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["status"] = self.status.value
        return out


def _date(text: str | None) -> dt.date | None:
    return None if text is None else dt.date.fromisoformat(text)


def _cylinder(row: Any) -> CylinderRow:
    return CylinderRow(
        barcode=row["barcode"],
        spec=row["spec"],
        tare_kg=row["tare_kg"],
        manufactured_on=dt.date.fromisoformat(row["manufactured_on"]),
        last_inspection=_date(row["last_inspection"]),
        next_inspection=dt.date.fromisoformat(row["next_inspection"]),
        scrap_on=dt.date.fromisoformat(row["scrap_on"]),
        owner=row["owner"],
        state=CylinderState(row["state"]),
    )


async def cylinder(db: Database, barcode: str) -> CylinderRow | None:
    row = await db.fetchone("SELECT * FROM lpg_cylinders WHERE barcode = ?", (barcode,))
    return None if row is None else _cylinder(row)


async def cylinders(db: Database) -> list[CylinderRow]:
    return [_cylinder(r) for r in await db.fetchall("SELECT * FROM lpg_cylinders ORDER BY barcode")]


async def _record_state(
    tx: Tx, barcode: str, old: str | None, new: str, reason: str, actor: str, now: dt.datetime
) -> None:
    await tx.execute(
        "INSERT INTO lpg_cylinder_states (barcode, at, old_state, new_state, reason, actor)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (barcode, iso_instant(now), old, new, reason, actor),
    )


async def upsert_cylinders_in(
    tx: Tx, rows: Iterable[CylinderRow], *, source: str, actor: str, now: dt.datetime
) -> tuple[int, int]:
    """Add new cylinders and update the registry data of known ones (their state changes only when the
    row's state differs, and is recorded); returns (added, updated)."""
    added = updated = 0
    stamp = iso_instant(now)
    for c in rows:
        old = await tx.fetchone("SELECT state FROM lpg_cylinders WHERE barcode = ?", (c.barcode,))
        values = (
            c.spec,
            c.tare_kg,
            c.manufactured_on.isoformat(),
            None if c.last_inspection is None else c.last_inspection.isoformat(),
            c.next_inspection.isoformat(),
            c.scrap_on.isoformat(),
            c.owner,
            c.state.value,
            source,
            stamp,
        )
        if old is None:
            await tx.execute(
                "INSERT INTO lpg_cylinders (spec, tare_kg, manufactured_on, last_inspection, next_inspection,"
                " scrap_on, owner, state, source, updated_at, barcode) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*values, c.barcode),
            )
            await _record_state(tx, c.barcode, None, c.state.value, f"registered ({source})", actor, now)
            added += 1
        else:
            await tx.execute(
                "UPDATE lpg_cylinders SET spec = ?, tare_kg = ?, manufactured_on = ?, last_inspection = ?,"
                " next_inspection = ?, scrap_on = ?, owner = ?, state = ?, source = ?, updated_at = ?"
                " WHERE barcode = ?",
                (*values, c.barcode),
            )
            if old["state"] != c.state.value:
                await _record_state(
                    tx, c.barcode, old["state"], c.state.value, f"updated ({source})", actor, now
                )
            updated += 1
    return added, updated


async def set_state_in(
    tx: Tx, barcode: str, state: CylinderState, *, reason: str, actor: str, now: dt.datetime
) -> bool:
    """Move a cylinder to `state`, recording the change; False when it is unknown or already there."""
    old = await tx.fetchone("SELECT state FROM lpg_cylinders WHERE barcode = ?", (barcode,))
    if old is None or old["state"] == state.value:
        return False
    await tx.execute(
        "UPDATE lpg_cylinders SET state = ?, updated_at = ? WHERE barcode = ?",
        (state.value, iso_instant(now), barcode),
    )
    await _record_state(tx, barcode, old["state"], state.value, reason, actor, now)
    return True


async def state_history(db: Database, barcode: str) -> list[StateChange]:
    rows = await db.fetchall(
        "SELECT barcode, at, old_state, new_state, reason, actor FROM lpg_cylinder_states"
        " WHERE barcode = ? ORDER BY id",
        (barcode,),
    )
    return [StateChange(*tuple(r)) for r in rows]


def _fill(row: Any) -> FillRow:
    return FillRow(
        id=int(row["id"]),
        barcode=row["barcode"],
        scale=row["scale"],
        operator=row["operator"],
        started_at=row["started_at"],
        ended_at=row["ended_at"],
        tare_kg=float(row["tare_kg"]),
        target_kg=float(row["target_kg"]),
        gross_kg=row["gross_kg"],
        net_kg=row["net_kg"],
        status=FillStatus(row["status"]),
        detail=row["detail"],
    )


def fill_message(station: str, f: FillRow) -> OutboxMessage:
    """The fill record for the centre (topic `station/{id}/lpg/fills`; key stable per fill and status)."""
    payload = {"type": "lpg_fill", "station": station, **f.to_dict()}
    return OutboxMessage(
        topic=f"station/{station}/lpg/fills",
        key=f"lpg-fill:{f.id}:{f.status.value}",
        payload=json.dumps(payload, sort_keys=True).encode(),
    )


async def begin_fill_in(
    tx: Tx, *, barcode: str, scale: str, operator: str, tare_kg: float, target_kg: float, now: dt.datetime
) -> int:
    """The fill's row, written before the valve opens (status `filling`)."""
    row = await tx.one(
        "INSERT INTO lpg_fills (barcode, scale, operator, started_at, tare_kg, target_kg, status)"
        " VALUES (?, ?, ?, ?, ?, ?, 'filling') RETURNING id",
        (barcode, scale, operator, iso_instant(now), tare_kg, target_kg),
    )
    return int(row[0])


async def finish_fill_in(
    tx: Tx,
    fill_id: int,
    *,
    status: FillStatus,
    gross_kg: float | None,
    net_kg: float | None,
    detail: str,
    station: str,
    now: dt.datetime,
) -> FillRow:
    """Close a fill (done, over-filled or interrupted) and queue its record for the centre."""
    await tx.execute(
        "UPDATE lpg_fills SET status = ?, gross_kg = ?, net_kg = ?, detail = ?, ended_at = ? WHERE id = ?",
        (status.value, gross_kg, net_kg, detail, iso_instant(now), fill_id),
    )
    row = _fill(await tx.one("SELECT * FROM lpg_fills WHERE id = ?", (fill_id,)))
    await enqueue_in(tx, [fill_message(station, row)], now=now)
    return row


async def interrupt_open_fills(db: Database, *, station: str, now: dt.datetime) -> list[FillRow]:
    """At start-up: every fill left `filling` (the process died mid-fill) is recorded as interrupted and
    its cylinder (partly filled, weight unknown) goes to `problem`, with its record for the centre."""
    why = "the controller stopped during the fill"
    out: list[FillRow] = []
    async with db.transaction() as tx:
        open_ids = [int(r[0]) for r in await tx.execute("SELECT id FROM lpg_fills WHERE status = 'filling'")]
        for i in open_ids:
            row = await finish_fill_in(tx, i, status=FillStatus.INTERRUPTED, gross_kg=None, net_kg=None,
                                       detail=why, station=station, now=now)  # fmt: skip
            await set_state_in(tx, row.barcode, CylinderState.PROBLEM, reason=f"fill interrupted: {why}",
                               actor="station", now=now)  # fmt: skip
            out.append(row)
    return out


async def fill(db: Database, fill_id: int) -> FillRow | None:
    row = await db.fetchone("SELECT * FROM lpg_fills WHERE id = ?", (fill_id,))
    return None if row is None else _fill(row)


async def fills(db: Database, statuses: Sequence[FillStatus] = ()) -> list[FillRow]:
    if statuses:
        marks = ", ".join("?" for _ in statuses)
        rows = await db.fetchall(
            f"SELECT * FROM lpg_fills WHERE status IN ({marks}) ORDER BY id", [s.value for s in statuses]
        )
    else:
        rows = await db.fetchall("SELECT * FROM lpg_fills ORDER BY id")
    return [_fill(r) for r in rows]
