"""The newest records of the journal, for the control API's snapshot.

Layer: storage (reads the `transactions` table through the daemon's `Database`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from storage.db import Database

_RECENT = (
    "SELECT line, dispenser, pos_ttc, t_type, nzn, asn, amn, vol, prc, g_code, emp, unit, time,"
    " received_at FROM transactions WHERE conflict_of IS NULL ORDER BY id DESC LIMIT ?"
)


@dataclass(frozen=True, slots=True)
class RecentRecord:
    line: str
    dispenser: int
    pos_ttc: int
    t_type: int
    nzn: int
    asn: str
    amn: int
    vol: int
    prc: int
    g_code: str
    emp: int
    unit: int
    time: str
    received_at: dt.datetime


async def recent_records(db: Database, limit: int) -> list[RecentRecord]:
    """The `limit` newest records (conflicting copies left out), newest first."""
    rows = await db.fetchall(_RECENT, (limit,))
    return [
        RecentRecord(
            line=r["line"],
            dispenser=int(r["dispenser"]),
            pos_ttc=int(r["pos_ttc"]),
            t_type=int(r["t_type"]),
            nzn=int(r["nzn"]),
            asn=r["asn"],
            amn=int(r["amn"]),
            vol=int(r["vol"]),
            prc=int(r["prc"]),
            g_code=r["g_code"],
            emp=int(r["emp"]),
            unit=int(r["unit"]),
            time=r["time"] or "",
            received_at=dt.datetime.fromisoformat(r["received_at"]),
        )
        for r in rows
    ]
