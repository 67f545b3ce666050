"""A shift's rows: the shift, the nozzle totals read at its start and end, and the configured nozzles.

Layer: storage (part of the shifts: rows here, the report's types in `storage.shift_report`, its
building in `storage.shift_build`, its text and CSV in `storage.shift_render`, opening, closing and
reading in `storage.shifts`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from storage.clock import parse_instant
from storage.db import Database, Tx


@dataclass(frozen=True, slots=True)
class ShiftRow:
    id: int
    opened_at: dt.datetime
    opened_by: str
    note: str = ""
    closed_at: dt.datetime | None = None
    closed_by: str = ""
    handed_to: str = ""
    first_record_id: int | None = None
    """Journal rows with an id above this arrived during the shift (None: a shift from before 0160)."""
    last_record_id: int | None = None
    """... up to this one (set at close)."""

    @property
    def open(self) -> bool:
        return self.closed_at is None


@dataclass(frozen=True, slots=True)
class Reading:
    """One nozzle's volume total at a shift's start or end."""

    line: str
    dispenser: int
    nzn: int
    v_tot: int
    read_at: dt.datetime
    fresh: bool = True


@dataclass(frozen=True, slots=True)
class NozzleRef:
    """A configured nozzle, for the report's rows and product names."""

    line: str
    dispenser: int
    nzn: int
    g_code: str = ""
    product: str = ""

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.line, self.dispenser, self.nzn)


# --- reading rows ---------------------------------------------------------------------------------


class Reader(Protocol):
    async def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]: ...


@dataclass(frozen=True, slots=True)
class TxReader:
    tx: Tx

    async def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return await self.tx.execute(sql, params)


@dataclass(frozen=True, slots=True)
class DbReader:
    db: Database

    async def rows(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        return await self.db.fetchall(sql, params)


def shift_from_row(row: Any) -> ShiftRow:
    return ShiftRow(
        id=int(row["id"]),
        opened_at=parse_instant(row["opened_at"]),
        opened_by=row["opened_by"],
        note=row["note"],
        closed_at=parse_instant(row["closed_at"]) if row["closed_at"] else None,
        closed_by=row["closed_by"],
        handed_to=row["handed_to"],
        first_record_id=row["first_record_id"],
        last_record_id=row["last_record_id"],
    )


async def stored_readings(reader: Reader, shift_id: int, phase: str) -> dict[tuple[str, int, int], Reading]:
    rows = await reader.rows(
        "SELECT * FROM shift_totals WHERE shift_id = ? AND phase = ? ORDER BY line, dispenser, nzn",
        (shift_id, phase),
    )
    return {
        (r["line"], int(r["dispenser"]), int(r["nzn"])): Reading(
            r["line"],
            int(r["dispenser"]),
            int(r["nzn"]),
            int(r["v_tot"]),
            parse_instant(r["read_at"]),
            bool(r["fresh"]),
        )
        for r in rows
    }
