"""The card decisions log: every 0x36 / 0x35 answer (and desk look-up) with its reason.

Layer: storage. One row per decision, written in its own transaction before the answer goes out, so the
centre and the attendant can always find out why a card was refused. Columns: see
`storage/migrations/0007_rules.sql` and docs/rules.md.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from storage.clock import Clock, iso_instant, iso_local, parse_instant, utc_now
from storage.db import Database
from storage.outbox import OutboxMessage, enqueue_in

__all__ = ["DECISION_KINDS", "DecisionLog", "StoredDecision"]

DECISION_KINDS: Final = ("0x36", "0x35", "desk", "0x31")


@dataclass(frozen=True, slots=True)
class StoredDecision:
    """One decision as stored. `warnings` are dicts `{kind, words, due?, amount?}`."""

    line: str
    dispenser: int
    nzn: int
    asn: str
    kind: str
    allowed: bool
    reason: int
    reason_name: str
    words: str
    local_at: dt.datetime
    warnings: tuple[Mapping[str, Any], ...] = ()
    m_flag: int | None = None
    generation: int = 0
    details: Mapping[str, Any] = field(default_factory=dict)
    id: int = 0
    at: dt.datetime | None = None


_INSERT: Final = """
INSERT INTO decisions (at, local_at, line, dispenser, nzn, asn, kind, allowed, reason, reason_name, words,
                       warnings, m_flag, generation, details)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
RETURNING id
"""


def _row(row: Any) -> StoredDecision:
    return StoredDecision(
        id=int(row["id"]),
        at=parse_instant(row["at"]),
        local_at=dt.datetime.fromisoformat(row["local_at"]),
        line=row["line"],
        dispenser=int(row["dispenser"]),
        nzn=int(row["nzn"]),
        asn=row["asn"],
        kind=row["kind"],
        allowed=bool(row["allowed"]),
        reason=int(row["reason"]),
        reason_name=row["reason_name"],
        words=row["words"],
        warnings=tuple(json.loads(row["warnings"])),
        m_flag=None if row["m_flag"] is None else int(row["m_flag"]),
        generation=int(row["generation"]),
        details=json.loads(row["details"]),
    )


class DecisionLog:
    """Append and read card decisions on the daemon's `Database`."""

    def __init__(
        self,
        db: Database,
        *,
        outbox: Callable[[StoredDecision, int], Sequence[OutboxMessage]] | None = None,
        clock: Clock = utc_now,
    ) -> None:
        self._db = db
        self._clock = clock
        self.outbox = outbox
        """Uplink messages for a decision, queued in the transaction that stores it (store-and-forward)."""

    async def append(self, decision: StoredDecision) -> int:
        """Store one decision (committed when this returns); returns its row id."""
        if decision.kind not in DECISION_KINDS:
            raise ValueError(f"decision kind {decision.kind!r} is not one of {DECISION_KINDS}")
        async with self._db.transaction() as tx:
            row = await tx.one(
                _INSERT,
                (
                    iso_instant(decision.at or self._clock()),
                    iso_local(decision.local_at),
                    decision.line,
                    decision.dispenser,
                    decision.nzn,
                    decision.asn,
                    decision.kind,
                    int(decision.allowed),
                    decision.reason,
                    decision.reason_name,
                    decision.words,
                    json.dumps([dict(w) for w in decision.warnings], sort_keys=True, default=str),
                    decision.m_flag,
                    decision.generation,
                    json.dumps(dict(decision.details), sort_keys=True, default=str),
                ),
            )
            if self.outbox is not None:
                await enqueue_in(tx, self.outbox(decision, int(row[0])), now=self._clock())
        return int(row[0])

    async def recent(self, limit: int = 100, *, asn: str | None = None) -> list[StoredDecision]:
        """The newest decisions first (of one card when `asn` is given)."""
        if asn is None:
            rows = await self._db.fetchall("SELECT * FROM decisions ORDER BY id DESC LIMIT ?", (limit,))
        else:
            rows = await self._db.fetchall(
                "SELECT * FROM decisions WHERE asn = ? ORDER BY id DESC LIMIT ?", (asn, limit)
            )
        return [_row(r) for r in rows]

    async def all(self) -> list[StoredDecision]:
        """Every decision, oldest first (tests, exports)."""
        rows = await self._db.fetchall("SELECT * FROM decisions ORDER BY id")
        return [_row(r) for r in rows]


def rows_from_connection(conn: Any, since_id: int = 0) -> Sequence[StoredDecision]:
    """Decisions read through a plain read-only sqlite3 connection (CLI tools), oldest first."""
    cursor = conn.execute("SELECT * FROM decisions WHERE id > ? ORDER BY id", (since_id,))
    return [_row(r) for r in cursor.fetchall()]
