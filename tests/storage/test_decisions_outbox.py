"""A decision and its uplink message are written in one transaction."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from storage.db import Database
from storage.decisions import DecisionLog, StoredDecision
from storage.outbox import Outbox, OutboxMessage


def decision() -> StoredDecision:
    return StoredDecision(
        line="bus1", dispenser=1, nzn=2, asn="10000111000000000001", kind="0x36", allowed=False, reason=4,
        reason_name="BLACKLISTED", words="Card is blacklisted", local_at=dt.datetime(2026, 11, 21, 8, 0),
    )  # fmt: skip


async def test_decision_and_its_message_commit_together(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "s.db")
    log = DecisionLog(db)
    log.outbox = lambda d, row: [OutboxMessage("station/S/events", f"decision:{row}", d.asn.encode())]
    row = await log.append(decision())
    assert [m.key for _, m in await Outbox(db).peek(10)] == [f"decision:{row}"]

    def broken(d: StoredDecision, row: int) -> list[OutboxMessage]:
        raise RuntimeError("message cannot be built")

    log.outbox = broken
    with pytest.raises(RuntimeError):
        await log.append(decision())
    assert len(await log.all()) == 1  # the failed decision was rolled back with its message
    assert await Outbox(db).depth() == 1
    await db.close()
