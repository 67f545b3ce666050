"""The working-day calendar the centre distributes (holidays, shifted working days, weekend).

Layer: storage. `calendar` holds one row per exceptional day; the weekend days are the `meta` key
`calendar.weekend` (JSON list of `date.weekday()` numbers). No rows and no key: Saturday and Sunday off.
An import replaces the whole calendar (`replace`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from storage.db import Database, Tx

__all__ = ["DEFAULT_WEEKEND", "WEEKEND_KEY", "CalendarData", "CalendarStore"]

WEEKEND_KEY: Final = "calendar.weekend"
DEFAULT_WEEKEND: Final = frozenset({5, 6})


@dataclass(frozen=True, slots=True)
class CalendarData:
    holidays: frozenset[dt.date] = frozenset()
    shifted_working_days: frozenset[dt.date] = frozenset()
    weekend: frozenset[int] = DEFAULT_WEEKEND


class CalendarStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def load(self) -> CalendarData:
        rows = await self._db.fetchall("SELECT day, kind FROM calendar")
        holidays = frozenset(dt.date.fromisoformat(r["day"]) for r in rows if r["kind"] == "holiday")
        working = frozenset(dt.date.fromisoformat(r["day"]) for r in rows if r["kind"] == "working")
        text = await self._db.get_meta(WEEKEND_KEY)
        weekend = frozenset(int(d) for d in json.loads(text)) if text is not None else DEFAULT_WEEKEND
        return CalendarData(holidays, working, weekend)

    async def replace(self, data: CalendarData) -> None:
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM calendar")
            await _insert(tx, data.holidays, "holiday")
            await _insert(tx, data.shifted_working_days, "working")
            await tx.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (WEEKEND_KEY, json.dumps(sorted(data.weekend))),
            )


async def _insert(tx: Tx, days: Iterable[dt.date], kind: str) -> None:
    for day in sorted(days):
        await tx.execute("INSERT INTO calendar (day, kind) VALUES (?, ?)", (day.isoformat(), kind))
