"""StorageHealth: one alarm per source while storing fails, rate-limited log lines, cleared on recovery."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest

from edge.events import AlarmRaised, EventBus
from edge.storage_health import StorageHealth
from storage.errors import DiskFullError


class Alarms:
    """Stores alarms unless `full`; an active (source, code) alarm is repeated, not duplicated."""

    def __init__(self) -> None:
        self.full = False
        self.rows: list[dict[str, Any]] = []

    async def raise_alarm(
        self, source: str, code: str, severity: str, message: str, details: dict[str, Any] | None = None
    ) -> int:
        if self.full:
            raise DiskFullError("database or disk is full")
        for row in self.rows:
            if (row["source"], row["code"]) == (source, code) and row["cleared"] is False:
                return int(row["id"])
        self.rows.append({"id": len(self.rows) + 1, "source": source, "code": code, "cleared": False})
        return len(self.rows)

    async def clear(self, source: str, code: str) -> None:
        if self.full:
            raise DiskFullError("database or disk is full")
        for row in self.rows:
            if (row["source"], row["code"]) == (source, code):
                row["cleared"] = True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def health(alarms: Alarms, bus: EventBus, clock: Clock) -> StorageHealth:
    return StorageHealth("bus1/2", alarms, bus, dt.datetime.now, label="dispenser bus1/2", mono=clock)


async def test_a_full_disk_gives_one_alarm_few_log_lines_and_a_clear_when_space_returns(
    caplog: pytest.LogCaptureFixture,
) -> None:
    alarms, bus, clock = Alarms(), EventBus(), Clock()
    sub = bus.subscribe(100)
    h = health(alarms, bus, clock)
    alarms.full = True
    caplog.set_level(logging.INFO, logger="edge.storage_health")
    for i in range(6000):  # 100 re-sends a second for 60 s
        clock.now = i / 100
        await h.failed(DiskFullError("database or disk is full"))
    assert caplog.records[0].getMessage().startswith("dispenser bus1/2: cannot store records")
    assert len(caplog.records) == 2  # the first failure, then one line per 30 s with the count
    assert "3000 failures in the last 30 s" in caplog.records[1].getMessage()
    shown = [e for e in await sub.wait() if isinstance(e, AlarmRaised)]
    assert [(e.source, e.code) for e in shown] == [("bus1/2", "journal_failed")]  # shown once, not stored
    assert alarms.rows == []
    alarms.full = False
    await h.stored()
    assert alarms.rows == [{"id": 1, "source": "bus1/2", "code": "journal_failed", "cleared": True}]
    assert "stored again after 6000 failures" in caplog.records[-1].getMessage()
    assert not h.failing
    await h.stored()  # nothing more to do
    assert len(alarms.rows) == 1


async def test_an_alarm_stored_while_failing_is_not_raised_twice() -> None:
    alarms, bus, clock = Alarms(), EventBus(), Clock()
    h = health(alarms, bus, clock)
    for i in range(100):
        clock.now = float(i)
        await h.failed(OSError("I/O error"))
    assert len(alarms.rows) == 1 and alarms.rows[0]["cleared"] is False
    await h.stored()
    assert alarms.rows[0]["cleared"] is True
    await h.failed(OSError("I/O error"))  # a new failure later: a new alarm
    assert len(alarms.rows) == 2
