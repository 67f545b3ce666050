"""Per-card daily counters (fills, amount, volume) kept durably, so daily limits survive a restart.

Layer: storage. The rules hold today's counters in memory (`edge.rules.DailyCounters`); this module keeps
the same values in `card_counters` (one row per day and card, absolute values). Each update also writes
the journal row it counted into `counted_sales`, in the same transaction, so after a crash between a
record's commit and its counter update `uncounted_sales` finds exactly the sales not counted yet (among
the last `CATCH_UP_ROWS` journal rows): they are counted at start-up, never twice.

What counts (as `edge.rules.counters` says): T_TYPE low nibble 0 (sale) and 1 (grey), no card-error bit,
original rows only (not conflict copies), dated (record TIME) on the counted day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from storage.db import Database

__all__ = ["CATCH_UP_ROWS", "KEEP_DAYS", "CounterRow", "CounterStore", "Sale"]

KEEP_DAYS: Final = 31
"""Counters of older days are deleted when a new day starts (a month is kept for diagnostics)."""
CATCH_UP_ROWS: Final = 10_000
"""How far back (journal rows before the newest counted one) start-up looks for uncounted sales."""


@dataclass(frozen=True, slots=True)
class CounterRow:
    fills: int
    amount: int
    volume: int


@dataclass(frozen=True, slots=True)
class Sale:
    """A stored sale record the counters have not seen (from `uncounted_sales`)."""

    record_id: int
    asn: str
    time: dt.datetime
    amount: int
    volume: int


class CounterStore:
    """`card_counters` and `counted_sales` on the daemon's `Database`."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def load(self, day: dt.date) -> dict[str, CounterRow]:
        rows = await self._db.fetchall(
            "SELECT asn, fills, amount, volume FROM card_counters WHERE day = ?", (day.isoformat(),)
        )
        return {str(r["asn"]): CounterRow(int(r["fills"]), int(r["amount"]), int(r["volume"])) for r in rows}

    async def newest_day(self) -> dt.date | None:
        """The latest day any counter was kept for (None when none was)."""
        row = await self._db.fetchone("SELECT max(day) FROM card_counters")
        return None if row is None or row[0] is None else dt.date.fromisoformat(str(row[0]))

    async def save(self, day: dt.date, cards: Mapping[str, CounterRow], record_id: int | None) -> None:
        """Write the counters of `cards` on `day` and mark journal row `record_id` counted, atomically."""
        async with self._db.transaction() as tx:
            for asn, row in cards.items():
                await tx.execute(
                    "INSERT INTO card_counters (day, asn, fills, amount, volume) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (day, asn) DO UPDATE SET fills = excluded.fills, amount = excluded.amount, "
                    "volume = excluded.volume",
                    (day.isoformat(), asn, row.fills, row.amount, row.volume),
                )
            if record_id is not None:
                await tx.execute(
                    "INSERT OR IGNORE INTO counted_sales (record_id, day) VALUES (?, ?)",
                    (record_id, day.isoformat()),
                )

    async def forget_before(self, day: dt.date) -> None:
        """Delete counters and counted marks of days more than `KEEP_DAYS` before `day`."""
        oldest = (day - dt.timedelta(days=KEEP_DAYS)).isoformat()
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM card_counters WHERE day < ?", (oldest,))
            await tx.execute("DELETE FROM counted_sales WHERE day < ?", (oldest,))

    async def uncounted_sales(self, day: dt.date) -> list[Sale]:
        """Sale and grey records dated `day`, not counted yet, among the recent journal rows."""
        rows = await self._db.fetchall(
            "SELECT t.id, t.asn, t.time, t.amn, t.vol FROM transactions t "
            "WHERE t.id > (SELECT coalesce(max(record_id), 0) FROM counted_sales) - ? "
            "AND t.kind IN (0, 1) AND (t.t_type & 128) = 0 AND t.conflict_of IS NULL "
            "AND t.time >= ? AND t.time < ? "
            "AND NOT EXISTS (SELECT 1 FROM counted_sales c WHERE c.record_id = t.id) ORDER BY t.id",
            (CATCH_UP_ROWS, day.isoformat(), (day + dt.timedelta(days=1)).isoformat()),
        )
        return [
            Sale(
                int(r["id"]),
                str(r["asn"]),
                dt.datetime.fromisoformat(r["time"]),
                int(r["amn"]),
                int(r["vol"]),
            )
            for r in rows
        ]
