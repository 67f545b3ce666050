"""Alarms: raised by any part of the daemon, shown to attendants, acknowledged, cleared.

Layer: storage. An alarm is identified by (source, code) while it is active (not cleared): raising it
again does not add a row, it bumps `count` and `last_seen` and takes the new severity, message and
details; an acknowledgement survives the repeat. Once cleared, the next raise opens a new row.

`raise_in(tx, …)` / `clear_in(tx, …)` write inside a caller's transaction (the journal raises its
conflict alarm in the same transaction as the conflicting record); `Alarms` wraps them for
standalone use.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from storage.clock import Clock, iso_instant, parse_instant, utc_now
from storage.db import Database, Tx


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    MAJOR = "major"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class Alarm:
    id: int
    source: str
    code: str
    severity: Severity
    message: str
    raised_at: dt.datetime
    last_seen: dt.datetime
    count: int
    details: Mapping[str, Any] = field(default_factory=dict)
    acknowledged_at: dt.datetime | None = None
    acknowledged_by: str | None = None
    cleared_at: dt.datetime | None = None

    @property
    def active(self) -> bool:
        return self.cleared_at is None


_RAISE = """
INSERT INTO alarms (raised_at, last_seen, source, code, severity, message, details)
VALUES (?1, ?1, ?2, ?3, ?4, ?5, ?6)
ON CONFLICT (source, code) WHERE cleared_at IS NULL DO UPDATE SET
    count = count + 1,
    last_seen = excluded.last_seen,
    severity = excluded.severity,
    message = excluded.message,
    details = excluded.details
RETURNING id
"""


async def raise_in(
    tx: Tx,
    source: str,
    code: str,
    severity: Severity | str,
    message: str,
    details: Mapping[str, Any] | None = None,
    *,
    now: dt.datetime,
) -> int:
    """Raise (or repeat) the active alarm (source, code) inside `tx`; returns its id."""
    payload = json.dumps(dict(details or {}), sort_keys=True, default=str)
    row = await tx.one(_RAISE, (iso_instant(now), source, code, Severity(severity).value, message, payload))
    return int(row[0])


async def acknowledge_in(tx: Tx, alarm_id: int, by: str, *, now: dt.datetime) -> bool:
    """`Alarms.acknowledge` inside the caller's transaction (with its audit row, say)."""
    rows = await tx.execute(
        "UPDATE alarms SET acknowledged_at = ?, acknowledged_by = ? "
        "WHERE id = ? AND acknowledged_at IS NULL RETURNING id",
        (iso_instant(now), by, alarm_id),
    )
    return bool(rows)


async def clear_in(tx: Tx, source: str, code: str, *, now: dt.datetime) -> int | None:
    """Clear the active alarm (source, code) inside `tx`; returns its id, None if none was active."""
    row = await tx.fetchone(
        "UPDATE alarms SET cleared_at = ? WHERE source = ? AND code = ? AND cleared_at IS NULL RETURNING id",
        (iso_instant(now), source, code),
    )
    return None if row is None else int(row[0])


def _optional_time(text: str | None) -> dt.datetime | None:
    return None if text is None else parse_instant(text)


def _alarm(row: Any) -> Alarm:
    return Alarm(
        id=int(row["id"]),
        source=row["source"],
        code=row["code"],
        severity=Severity(row["severity"]),
        message=row["message"],
        raised_at=parse_instant(row["raised_at"]),
        last_seen=parse_instant(row["last_seen"]),
        count=int(row["count"]),
        details=json.loads(row["details"]),
        acknowledged_at=_optional_time(row["acknowledged_at"]),
        acknowledged_by=row["acknowledged_by"],
        cleared_at=_optional_time(row["cleared_at"]),
    )


class Alarms:
    """Standalone alarm operations, each its own transaction."""

    def __init__(self, db: Database, *, clock: Clock = utc_now) -> None:
        self._db = db
        self._clock = clock

    async def raise_alarm(
        self,
        source: str,
        code: str,
        severity: Severity | str,
        message: str,
        details: Mapping[str, Any] | None = None,
    ) -> int:
        """Raise the alarm, or repeat the active one with the same source and code; returns its id."""
        async with self._db.transaction() as tx:
            return await raise_in(tx, source, code, severity, message, details, now=self._clock())

    async def clear(self, source: str, code: str) -> bool:
        """Clear the active alarm (source, code); False if none was active."""
        async with self._db.transaction() as tx:
            return await clear_in(tx, source, code, now=self._clock()) is not None

    async def acknowledge(self, alarm_id: int, by: str) -> bool:
        """Record who acknowledged the alarm; False if it does not exist or was already acknowledged."""
        async with self._db.transaction() as tx:
            return await acknowledge_in(tx, alarm_id, by, now=self._clock())

    async def get(self, alarm_id: int) -> Alarm | None:
        row = await self._db.fetchone("SELECT * FROM alarms WHERE id = ?", (alarm_id,))
        return None if row is None else _alarm(row)

    async def is_acknowledged(self, source: str, code: str) -> bool:
        """Whether the active alarm (source, code) has been acknowledged by someone."""
        row = await self._db.fetchone(
            "SELECT acknowledged_by FROM alarms WHERE source = ? AND code = ? AND cleared_at IS NULL",
            (source, code),
        )
        return row is not None and row[0] is not None

    async def active(self) -> list[Alarm]:
        """Alarms not cleared yet, oldest first."""
        rows = await self._db.fetchall("SELECT * FROM alarms WHERE cleared_at IS NULL ORDER BY raised_at, id")
        return [_alarm(r) for r in rows]
