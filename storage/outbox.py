"""The outbox: messages for the centre, written in the same transaction as the fact they report.

Layer: storage. A fact (a record, an alarm, a shift …) and its outbox rows commit together or not at
all: write them with `enqueue_in(tx, msgs)` inside the fact's `db.transaction()`. The MQTT uplink
reads the queue in `seq` order (`peek`) and deletes rows only after the broker's PUBACK (`delete`).

Idempotency: `key` is UNIQUE and inserts are `INSERT OR IGNORE`, so enqueuing the same message twice
while the first copy is still queued stores it once. After delivery the row is gone, and a message
with the same key can be queued again: the centre de-duplicates on the key too.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from storage.clock import Clock, iso_instant, parse_instant, utc_now
from storage.db import Database, Tx

_INSERT = (
    "INSERT OR IGNORE INTO outbox (topic, key, payload, qos, created_at) VALUES (?, ?, ?, ?, ?) RETURNING seq"
)


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """One message for the centre: MQTT topic, stable idempotency key, serialised payload, QoS."""

    topic: str
    key: str
    payload: bytes
    qos: int = 1

    def __post_init__(self) -> None:
        if self.qos not in (0, 1, 2):
            raise ValueError(f"qos must be 0, 1 or 2, not {self.qos!r}")
        if not self.topic or not self.key:
            raise ValueError("an outbox message needs a topic and a key")


async def enqueue_in(tx: Tx, msgs: Iterable[OutboxMessage], *, now: dt.datetime) -> list[int]:
    """Queue `msgs` inside an open transaction; returns the seqs of the rows actually inserted."""
    stamp = iso_instant(now)
    seqs: list[int] = []
    for msg in msgs:
        row = await tx.fetchone(_INSERT, (msg.topic, msg.key, msg.payload, msg.qos, stamp))
        if row is not None:
            seqs.append(int(row[0]))
    return seqs


class Outbox:
    """The queue as the uplink sees it."""

    def __init__(self, db: Database, *, clock: Clock = utc_now) -> None:
        self._db = db
        self._clock = clock

    async def enqueue(self, msgs: Iterable[OutboxMessage]) -> list[int]:
        """Queue messages on their own (no fact beside them); returns the seqs inserted."""
        async with self._db.transaction() as tx:
            return await enqueue_in(tx, msgs, now=self._clock())

    async def peek(self, limit: int) -> list[tuple[int, OutboxMessage]]:
        """Up to `limit` oldest queued messages, in seq order, left in the queue."""
        rows = await self._db.fetchall(
            "SELECT seq, topic, key, payload, qos FROM outbox ORDER BY seq LIMIT ?", (limit,)
        )
        return [
            (int(r["seq"]), OutboxMessage(r["topic"], r["key"], bytes(r["payload"]), int(r["qos"])))
            for r in rows
        ]

    async def delete(self, seqs: Sequence[int]) -> int:
        """Remove delivered messages (after PUBACK); returns how many rows went."""
        if not seqs:
            return 0
        async with self._db.transaction() as tx:
            rows = await tx.execute(
                "DELETE FROM outbox WHERE seq IN (SELECT value FROM json_each(?)) RETURNING seq",
                (json.dumps([int(s) for s in seqs]),),
            )
        return len(rows)

    async def depth(self) -> int:
        """How many messages are queued."""
        row = await self._db.fetchone("SELECT count(*) FROM outbox")
        return 0 if row is None else int(row[0])

    async def oldest_age(self, now: dt.datetime | None = None) -> dt.timedelta | None:
        """Age of the oldest queued message at `now` (default: the clock); None when the queue is empty."""
        row = await self._db.fetchone("SELECT created_at FROM outbox ORDER BY seq LIMIT 1")
        if row is None:
            return None
        at = (now or self._clock()).astimezone(dt.UTC)
        return at - parse_instant(row["created_at"])
