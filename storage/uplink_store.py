"""The uplink's tables and the outbox reads the MQTT pump needs (migration 0006_uplink).

Layer: storage. Plain SQL on the daemon's one `Database`; nothing here knows MQTT. Beside
`storage.outbox.Outbox` (enqueue, peek, delete, depth, oldest_age) the uplink needs:

- `peek_after(seq, n)`: the next rows after the last one handed to the broker. `Outbox.peek` always
  starts at the head, which holds the messages still waiting for their PUBACK;
- `outbox_figures()`: depth and oldest row in one read, for the status and the alarms;
- the downlink audit (`uplink_audit`) and the applied centre documents (`uplink_documents`), each
  written in one transaction together with the reply queued for the centre;
- `sweep_alarms`: alarm rows whose count or cleared state changed since they were last queued, queued
  and marked in one transaction (`uplink_alarm_sent`);
- `transactions_page`: stored records for a re-send request, a page at a time.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from storage.clock import Clock, iso_instant, parse_instant, utc_now
from storage.db import Database, Tx
from storage.outbox import OutboxMessage, enqueue_in

AUDIT_KEEP: Final = 10_000
"""Audit rows kept (the oldest go first): a flood of hostile messages cannot fill the disk."""
DOCUMENTS_KEEP_PER_KIND: Final = 20
"""Applied documents kept per kind, the newest (in force) included."""


@dataclass(frozen=True, slots=True)
class AuditEntry:
    outcome: str
    reason: str
    detail: str = ""
    doc: str = ""
    kind: str = ""
    version: int = 0
    size: int = 0
    topic: str = ""
    id: int = 0
    at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class DocumentRow:
    """An applied centre document as stored."""

    kind: str
    version: int
    doc: str
    issued_at: str
    sig: str
    body: bytes | None = None
    summary: dict[str, Any] = field(default_factory=dict)
    applied_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class AlarmChange:
    """An alarm row whose state the centre has not been sent yet."""

    alarm_id: int
    source: str
    code: str
    severity: str
    message: str
    count: int
    raised_at: str
    last_seen: str
    cleared_at: str | None
    details: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StoredTransaction:
    id: int
    line: str
    dispenser: int
    pos_ttc: int
    raw: bytes
    conflict_of: int | None


ReplyBuilder = Callable[[int], OutboxMessage | None]
"""Builds the reply to queue from the new audit row's id (None: no reply)."""

_ALARM_CHANGES = """
SELECT a.id, a.source, a.code, a.severity, a.message, a.count, a.raised_at, a.last_seen, a.cleared_at,
       a.details
FROM alarms AS a LEFT JOIN uplink_alarm_sent AS s ON s.alarm_id = a.id
WHERE s.alarm_id IS NULL OR s.count <> a.count OR s.cleared <> (a.cleared_at IS NOT NULL)
ORDER BY a.id LIMIT ?
"""


def _document(row: Any) -> DocumentRow:
    return DocumentRow(
        kind=row["kind"],
        version=int(row["version"]),
        doc=row["doc"],
        issued_at=row["issued_at"],
        sig=row["sig"],
        body=None if row["body"] is None else bytes(row["body"]),
        summary=json.loads(row["summary"]),
        applied_at=parse_instant(row["applied_at"]),
    )


class UplinkStore:
    """What the uplink reads and writes in the daemon's database."""

    def __init__(self, db: Database, *, clock: Clock = utc_now) -> None:
        self._db = db
        self._clock = clock

    @property
    def db(self) -> Database:
        return self._db

    # --- outbox ---------------------------------------------------------------------------------

    async def peek_after(self, after_seq: int, limit: int) -> list[tuple[int, OutboxMessage]]:
        """Up to `limit` queued messages with seq > `after_seq`, in seq order (left in the queue)."""
        rows = await self._db.fetchall(
            "SELECT seq, topic, key, payload, qos FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, limit),
        )
        return [(int(r[0]), OutboxMessage(r[1], r[2], bytes(r[3]), int(r[4]))) for r in rows]

    async def outbox_figures(self) -> tuple[int, dt.datetime | None]:
        """(depth, created_at of the oldest queued message) in one read."""
        row = await self._db.fetchone(
            "SELECT (SELECT count(*) FROM outbox), (SELECT created_at FROM outbox ORDER BY seq LIMIT 1)"
        )
        if row is None:  # pragma: no cover - an aggregate always yields a row
            return 0, None
        return int(row[0]), None if row[1] is None else parse_instant(row[1])

    async def enqueue(self, msgs: Sequence[OutboxMessage]) -> int:
        """Queue messages in their own transaction; returns how many were new."""
        async with self._db.transaction() as tx:
            return len(await enqueue_in(tx, msgs, now=self._clock()))

    # --- downlink audit and documents ------------------------------------------------------------

    async def _audit_in(self, tx: Tx, entry: AuditEntry, now: dt.datetime) -> int:
        row = await tx.one(
            "INSERT INTO uplink_audit (at, outcome, reason, detail, doc, kind, version, size, topic) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (
                iso_instant(now),
                entry.outcome,
                entry.reason,
                entry.detail[:2000],
                entry.doc,
                entry.kind,
                entry.version,
                entry.size,
                entry.topic,
            ),
        )
        audit_id = int(row[0])
        if audit_id > AUDIT_KEEP:
            await tx.execute("DELETE FROM uplink_audit WHERE id <= ?", (audit_id - AUDIT_KEEP,))
        return audit_id

    async def record_audit(self, entry: AuditEntry, reply: ReplyBuilder | None = None) -> int:
        """Append an audit row and queue its reply, in one transaction; returns the audit id."""
        now = self._clock()
        async with self._db.transaction() as tx:
            audit_id = await self._audit_in(tx, entry, now)
            msg = reply(audit_id) if reply is not None else None
            if msg is not None:
                await enqueue_in(tx, [msg], now=now)
        return audit_id

    async def commit_document(
        self, document: DocumentRow, entry: AuditEntry, reply: ReplyBuilder | None = None
    ) -> int:
        """Record an applied document, its audit row and its reply atomically; returns the audit id."""
        now = self._clock()
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO uplink_documents (kind, version, doc, issued_at, applied_at, body, sig, summary) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    document.kind,
                    document.version,
                    document.doc,
                    document.issued_at,
                    iso_instant(now),
                    document.body,
                    document.sig,
                    json.dumps(document.summary, sort_keys=True),
                ),
            )
            await tx.execute(
                "DELETE FROM uplink_documents WHERE kind = ?1 AND id NOT IN "
                "(SELECT id FROM uplink_documents WHERE kind = ?1 ORDER BY version DESC LIMIT ?2)",
                (document.kind, DOCUMENTS_KEEP_PER_KIND),
            )
            audit_id = await self._audit_in(tx, entry, now)
            msg = reply(audit_id) if reply is not None else None
            if msg is not None:
                await enqueue_in(tx, [msg], now=now)
        return audit_id

    async def latest_version(self, kind: str) -> int:
        """The highest applied version of a kind (0: none yet)."""
        row = await self._db.fetchone("SELECT max(version) FROM uplink_documents WHERE kind = ?", (kind,))
        return 0 if row is None or row[0] is None else int(row[0])

    async def has_document(self, doc: str) -> bool:
        row = await self._db.fetchone("SELECT 1 FROM uplink_documents WHERE doc = ?", (doc,))
        return row is not None

    async def document(self, kind: str) -> DocumentRow | None:
        """The newest applied document of a kind."""
        row = await self._db.fetchone(
            "SELECT * FROM uplink_documents WHERE kind = ? ORDER BY version DESC LIMIT 1", (kind,)
        )
        return None if row is None else _document(row)

    async def documents(self, kind: str, limit: int = DOCUMENTS_KEEP_PER_KIND) -> list[DocumentRow]:
        """Applied documents of a kind, newest first."""
        rows = await self._db.fetchall(
            "SELECT * FROM uplink_documents WHERE kind = ? ORDER BY version DESC LIMIT ?", (kind, limit)
        )
        return [_document(r) for r in rows]

    async def audit_entries(self, limit: int = 100) -> list[AuditEntry]:
        """The newest audit rows, newest first."""
        rows = await self._db.fetchall("SELECT * FROM uplink_audit ORDER BY id DESC LIMIT ?", (limit,))
        return [
            AuditEntry(
                outcome=r["outcome"],
                reason=r["reason"],
                detail=r["detail"],
                doc=r["doc"],
                kind=r["kind"],
                version=int(r["version"]),
                size=int(r["size"]),
                topic=r["topic"],
                id=int(r["id"]),
                at=parse_instant(r["at"]),
            )
            for r in rows
        ]

    # --- alarms -----------------------------------------------------------------------------------

    async def sweep_alarms(self, build: Callable[[AlarmChange], OutboxMessage], limit: int = 500) -> int:
        """Queue a message for every alarm whose state changed since last queued; returns how many."""
        now = self._clock()
        async with self._db.transaction() as tx:
            rows = await tx.execute(_ALARM_CHANGES, (limit,))
            changes = [
                AlarmChange(
                    alarm_id=int(r[0]),
                    source=r[1],
                    code=r[2],
                    severity=r[3],
                    message=r[4],
                    count=int(r[5]),
                    raised_at=r[6],
                    last_seen=r[7],
                    cleared_at=r[8],
                    details=json.loads(r[9]) if r[9] else {},
                )
                for r in rows
            ]
            if not changes:
                return 0
            await enqueue_in(tx, [build(c) for c in changes], now=now)
            await tx.execute(
                "INSERT INTO uplink_alarm_sent (alarm_id, count, cleared) "
                "SELECT value ->> 0, value ->> 1, value ->> 2 FROM json_each(?) WHERE true "
                "ON CONFLICT (alarm_id) DO UPDATE SET count = excluded.count, cleared = excluded.cleared",
                (json.dumps([[c.alarm_id, c.count, int(c.cleared_at is not None)] for c in changes]),),
            )
        return len(changes)

    # --- re-send ------------------------------------------------------------------------------------

    async def transactions_page(
        self,
        after_id: int,
        since: dt.datetime,
        limit: int,
        *,
        line: str | None = None,
        dispenser: int | None = None,
    ) -> list[StoredTransaction]:
        """Stored records (originals and conflict copies) with id > `after_id` received at or after
        `since`, optionally of one line / dispenser, in id (storage) order."""
        rows = await self._db.fetchall(
            "SELECT id, line, dispenser, pos_ttc, raw, conflict_of FROM transactions "
            "WHERE id > ?1 AND received_at >= ?2 AND (?3 IS NULL OR line = ?3) AND (?4 IS NULL OR dispenser = ?4) "
            "ORDER BY id LIMIT ?5",
            (after_id, iso_instant(since), line, dispenser, limit),
        )
        return [
            StoredTransaction(
                int(r[0]), r[1], int(r[2]), int(r[3]), bytes(r[4]), None if r[5] is None else int(r[5])
            )
            for r in rows
        ]
