"""The newest instants the database holds: the order of what the station has recorded so far.

Layer: storage. Read at start by the clock sanity check (`edge.clock_guard`): a wall clock that reads
before the newest stored instant has stepped back.
"""

from __future__ import annotations

from storage.db import Database

__all__ = ["newest_instant_texts"]

_NEWEST_STORED = (
    "SELECT max(received_at) FROM transactions",
    "SELECT max(opened_at) FROM shifts",
    "SELECT max(closed_at) FROM shifts",
    "SELECT max(at) FROM decisions",
)


async def newest_instant_texts(db: Database) -> list[tuple[str, str]]:
    """(where, stored text) of the newest instant of records, shift opening and closing, and decisions;
    tables that hold nothing are left out. The texts are returned as stored (the caller parses them)."""
    found: list[tuple[str, str]] = []
    for sql in _NEWEST_STORED:
        row = await db.fetchone(sql)
        if row is not None and row[0]:
            found.append((sql, str(row[0])))
    return found
