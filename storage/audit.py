"""The append-only audit log: every state-changing action, who did it, and whether it was allowed.

Layer: storage. Rows are only ever inserted: triggers in the schema abort any UPDATE or DELETE on
`audit_log`. Each row also carries a hash chain,

    hash = SHA-256( prev_hash | at | actor | role | source | action | target | outcome | details )

(`|` a 0x1F separator, `prev_hash` of the first row is 64 zeros), so a row edited or removed by a
tool that bypasses the triggers is detected by `AuditLog.verify()`.

Write the audit row in the same transaction as the change it records: `append_in(tx, …)`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePath
from typing import Any

from storage.clock import Clock, iso_instant, parse_instant, utc_now
from storage.db import Database, Tx

GENESIS_HASH = "0" * 64
_SEP = "\x1f"


class Outcome(StrEnum):
    OK = "ok"
    REFUSED = "refused"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class AuditRow:
    id: int
    at: dt.datetime
    actor: str
    role: str
    source: str
    action: str
    target: str
    outcome: Outcome
    details: Mapping[str, Any]
    prev_hash: str
    hash: str


def _digest(prev: str, at: str, actor: str, role: str, source: str, action: str, target: str, outcome: str,
            details: str) -> str:  # fmt: skip
    text = _SEP.join((prev, at, actor, role, source, action, target, outcome, details))
    return hashlib.sha256(text.encode()).hexdigest()


def _json_value(value: Any) -> Any:
    """JSON for the values `details` may hold beyond JSON's own: never a Python repr."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, PurePath):
        return str(value)
    return str(value)  # an audit row is never refused for its details


async def append_in(
    tx: Tx,
    *,
    actor: str,
    action: str,
    outcome: Outcome = Outcome.OK,
    role: str = "",
    source: str = "control",
    target: str = "",
    details: Mapping[str, Any] | None = None,
    now: dt.datetime,
) -> int:
    """Append one audit row inside `tx`; returns its id."""
    last = await tx.fetchone("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")
    prev = GENESIS_HASH if last is None else str(last[0])
    at = iso_instant(now)
    detail_text = json.dumps(dict(details or {}), sort_keys=True, default=_json_value, ensure_ascii=False)
    outcome_text = Outcome(outcome).value
    digest = _digest(prev, at, actor, role, source, action, target, outcome_text, detail_text)
    row = await tx.one(
        "INSERT INTO audit_log (at, actor, role, source, action, target, outcome, details, prev_hash, hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (at, actor, role, source, action, target, outcome_text, detail_text, prev, digest),
    )
    return int(row[0])


def _audit_row(row: Any) -> AuditRow:
    return AuditRow(
        id=int(row["id"]),
        at=parse_instant(row["at"]),
        actor=row["actor"],
        role=row["role"],
        source=row["source"],
        action=row["action"],
        target=row["target"],
        outcome=Outcome(row["outcome"]),
        details=json.loads(row["details"]),
        prev_hash=row["prev_hash"],
        hash=row["hash"],
    )


class AuditLog:
    """Standalone audit appends and queries."""

    def __init__(self, db: Database, *, clock: Clock = utc_now) -> None:
        self.db = db
        self.clock = clock

    async def append(
        self,
        *,
        actor: str,
        action: str,
        outcome: Outcome = Outcome.OK,
        role: str = "",
        source: str = "control",
        target: str = "",
        details: Mapping[str, Any] | None = None,
    ) -> int:
        async with self.db.transaction() as tx:
            return await append_in(
                tx,
                actor=actor,
                action=action,
                outcome=outcome,
                role=role,
                source=source,
                target=target,
                details=details,
                now=self.clock(),
            )

    async def recent(self, limit: int = 100, *, action: str | None = None) -> list[AuditRow]:
        """The newest rows first."""
        if action is None:
            rows = await self.db.fetchall("SELECT * FROM audit_log ORDER BY id DESC LIMIT ?", (limit,))
        else:
            rows = await self.db.fetchall(
                "SELECT * FROM audit_log WHERE action = ? ORDER BY id DESC LIMIT ?", (action, limit)
            )
        return [_audit_row(r) for r in rows]

    async def verify(self) -> list[int]:
        """Ids of rows whose hash chain does not hold ([] when the log is intact)."""
        rows = await self.db.fetchall("SELECT * FROM audit_log ORDER BY id")
        bad: list[int] = []
        prev = GENESIS_HASH
        for r in rows:
            expected = _digest(
                prev, r["at"], r["actor"], r["role"], r["source"], r["action"], r["target"], r["outcome"],
                r["details"],
            )  # fmt: skip
            if r["prev_hash"] != prev or r["hash"] != expected:
                bad.append(int(r["id"]))
            prev = r["hash"]
        return bad
