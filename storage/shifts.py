"""Station shifts: opened and closed by operators, the nozzle totals read at each edge, the final report
frozen at close.

Layer: storage. A shift is opened and closed by operators (`shifts`); the nozzle volume totals read
(0x38) at its start and end are kept in `shift_totals`; the final report (`storage.shift_build`) is
frozen as JSON at close. A shift never closes before it opened nor opens before the previous one closed
(`ShiftOrderError`: the wall clock was stepped back). The report itself: `storage.shift_build`.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

from storage.clock import Clock, iso_instant, utc_now
from storage.db import Database, Tx
from storage.errors import StorageError
from storage.shift_build import build_report
from storage.shift_report import ShiftReport, report_json
from storage.shift_rows import (
    DbReader,
    NozzleRef,
    Reading,
    ShiftRow,
    TxReader,
    shift_from_row,
    stored_readings,
)


class ShiftError(StorageError):
    """A shift operation that cannot be done (one is already open, none is open, unknown id)."""


class ShiftOrderError(ShiftError):
    """A shift would close before it opened, or open before the previous one closed (a clock step)."""


async def current_in(tx: Tx) -> ShiftRow | None:
    row = await tx.fetchone("SELECT * FROM shifts WHERE closed_at IS NULL")
    return None if row is None else shift_from_row(row)


async def open_in(
    tx: Tx, by: str, readings: Iterable[Reading], *, now: dt.datetime, note: str = ""
) -> ShiftRow:
    """Open a shift with its start totals; `ShiftError` if one is open already."""
    if await current_in(tx) is not None:
        raise ShiftError("a shift is already open: close it (hand over) first")
    last = await tx.fetchone("SELECT max(closed_at), max(opened_at) FROM shifts")
    newest = max((str(t) for t in (last or ()) if t), default=None)
    if newest is not None and iso_instant(now) < newest:
        raise ShiftOrderError(
            f"a shift cannot open at {iso_instant(now)}, before the previous one's {newest} "
            "(the wall clock is behind: check it)"
        )
    row = await tx.one(
        "INSERT INTO shifts (opened_at, opened_by, note, first_record_id) VALUES (?, ?, ?, "
        "(SELECT coalesce(max(id), 0) FROM transactions)) RETURNING *",
        (iso_instant(now), by, note),
    )
    shift = shift_from_row(row)
    await _store_readings(tx, shift.id, "start", readings)
    return shift


async def close_in(
    tx: Tx,
    by: str,
    readings: Iterable[Reading],
    *,
    now: dt.datetime,
    nozzles: Sequence[NozzleRef],
    handed_to: str = "",
    tolerance: int = 0,
    title: str = "",
) -> tuple[ShiftRow, ShiftReport]:
    """Close the open shift with its end totals and freeze its final report (built inside the same
    transaction, so no record can slip between the report and the close)."""
    shift = await current_in(tx)
    if shift is None:
        raise ShiftError("no shift is open")
    if now < shift.opened_at:
        raise ShiftOrderError(
            f"shift {shift.id} cannot close at {iso_instant(now)}, before it opened at "
            f"{iso_instant(shift.opened_at)} (the wall clock is behind: check it)"
        )
    await _store_readings(tx, shift.id, "end", readings)
    last_id = await tx.one("SELECT coalesce(max(id), 0) FROM transactions")
    closed = replace(shift, closed_at=now, closed_by=by, handed_to=handed_to, last_record_id=int(last_id[0]))
    report = await build_report(
        TxReader(tx), closed, nozzles=nozzles, tolerance=tolerance, now=now, final=True, title=title
    )
    await tx.execute(
        "UPDATE shifts SET closed_at = ?, closed_by = ?, handed_to = ?, report = ?, last_record_id = ? "
        "WHERE id = ?",
        (iso_instant(now), by, handed_to, json.dumps(report_json(report)), closed.last_record_id, shift.id),
    )
    return closed, report


async def _store_readings(tx: Tx, shift_id: int, phase: str, readings: Iterable[Reading]) -> None:
    for r in readings:
        await tx.execute(
            "INSERT OR REPLACE INTO shift_totals (shift_id, phase, line, dispenser, nzn, v_tot, read_at, fresh)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (shift_id, phase, r.line, r.dispenser, r.nzn, r.v_tot, iso_instant(r.read_at), int(r.fresh)),
        )


class ShiftStore:
    """Reads of shifts and reports; writes go through `open_in` / `close_in` inside a transaction."""

    def __init__(self, db: Database, *, clock: Clock = utc_now) -> None:
        self.db = db
        self.clock = clock

    async def current(self) -> ShiftRow | None:
        row = await self.db.fetchone("SELECT * FROM shifts WHERE closed_at IS NULL")
        return None if row is None else shift_from_row(row)

    async def get(self, shift_id: int) -> ShiftRow | None:
        row = await self.db.fetchone("SELECT * FROM shifts WHERE id = ?", (shift_id,))
        return None if row is None else shift_from_row(row)

    async def recent(self, limit: int = 20) -> list[ShiftRow]:
        rows = await self.db.fetchall("SELECT * FROM shifts ORDER BY id DESC LIMIT ?", (limit,))
        return [shift_from_row(r) for r in rows]

    async def readings(self, shift_id: int, phase: str) -> list[Reading]:
        return list((await stored_readings(DbReader(self.db), shift_id, phase)).values())

    async def stored_report(self, shift_id: int) -> dict[str, Any] | None:
        """The frozen final report of a closed shift (JSON), None while open."""
        row = await self.db.fetchone("SELECT report FROM shifts WHERE id = ?", (shift_id,))
        if row is None or row[0] is None:
            return None
        doc: dict[str, Any] = json.loads(row[0])
        return doc

    async def provisional_report(
        self,
        shift: ShiftRow,
        end_readings: Sequence[Reading],
        *,
        nozzles: Sequence[NozzleRef],
        tolerance: int = 0,
        title: str = "",
    ) -> ShiftReport:
        """The report of the open shift as of now, against the given (latest) end readings."""
        now = self.clock()
        return await build_report(
            DbReader(self.db),
            shift,
            nozzles=nozzles,
            tolerance=tolerance,
            now=now,
            final=False,
            end_override={(r.line, r.dispenser, r.nzn): r for r in end_readings},
            title=title,
        )
