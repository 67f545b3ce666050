"""`storage.outbox` (idempotent queue for the uplink) and `storage.alarms` (de-duplicated alarms)."""

from __future__ import annotations

import datetime as dt

import pytest
from storage_testkit import FakeClock

from storage.alarms import Alarms, Severity, clear_in, raise_in
from storage.db import Database
from storage.outbox import Outbox, OutboxMessage, enqueue_in


def msg(key: str, qos: int = 1) -> OutboxMessage:
    return OutboxMessage(f"station/ST-1/{key}", key, key.encode(), qos)


async def test_outbox_queue(db: Database, clock: FakeClock) -> None:
    outbox = Outbox(db, clock=clock)
    assert await outbox.depth() == 0
    assert await outbox.oldest_age() is None
    first = await outbox.enqueue([msg("a"), msg("b", qos=0)])
    clock.advance(seconds=30)
    [c_seq] = await outbox.enqueue([msg("a"), msg("c")])  # "a" is already queued: ignored
    assert c_seq > first[-1]
    assert await outbox.depth() == 3
    peeked = await outbox.peek(2)
    assert [(m.key, m.qos, m.payload) for _, m in peeked] == [("a", 1, b"a"), ("b", 0, b"b")]
    assert [seq for seq, _ in peeked] == first
    assert await outbox.oldest_age() == dt.timedelta(seconds=30)
    assert await outbox.oldest_age(clock.now + dt.timedelta(seconds=5)) == dt.timedelta(seconds=35)
    assert await outbox.delete([seq for seq, _ in peeked] + [999]) == 2
    assert [m.key for _, m in await outbox.peek(10)] == ["c"]
    assert await outbox.delete([]) == 0
    # Once delivered, a key can be queued again (the centre de-duplicates on it too); seqs never repeat.
    [again] = await outbox.enqueue([msg("a")])
    assert again > c_seq


async def test_outbox_rows_share_the_callers_transaction(db: Database, clock: FakeClock) -> None:
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await enqueue_in(tx, [msg("x")], now=clock.now)
            await tx.execute("INSERT INTO meta (key, value) VALUES ('fact', '1')")
            raise RuntimeError("the fact failed")
    assert await Outbox(db).depth() == 0
    assert await db.get_meta("fact") is None


def test_outbox_message_validation() -> None:
    with pytest.raises(ValueError):
        OutboxMessage("t", "k", b"", qos=3)
    with pytest.raises(ValueError):
        OutboxMessage("", "k", b"")


async def test_alarm_dedup_ack_clear(db: Database, clock: FakeClock) -> None:
    alarms = Alarms(db, clock=clock)
    first_seen = clock.now
    a = await alarms.raise_alarm("bus1/3", "dispenser_offline", Severity.WARNING, "offline", {"misses": 3})
    clock.advance(minutes=1)
    b = await alarms.raise_alarm("bus1/3", "dispenser_offline", "major", "still offline", {"misses": 6})
    assert a == b
    other = await alarms.raise_alarm("bus1/4", "dispenser_offline", Severity.WARNING, "offline")
    assert other != a
    [first, second] = await alarms.active()
    assert (first.id, first.count, first.severity, first.message) == (a, 2, Severity.MAJOR, "still offline")
    assert (first.raised_at, first.last_seen) == (first_seen, clock.now)
    assert first.details == {"misses": 6}
    assert second.id == other and second.details == {}

    assert await alarms.acknowledge(a, "alice")
    assert not await alarms.acknowledge(a, "bob")  # already acknowledged
    assert not await alarms.acknowledge(12345, "bob")
    await alarms.raise_alarm("bus1/3", "dispenser_offline", Severity.MAJOR, "again")
    acked = await alarms.get(a)
    assert acked is not None and acked.acknowledged_by == "alice" and acked.count == 3

    clock.advance(minutes=1)
    assert await alarms.clear("bus1/3", "dispenser_offline")
    assert not await alarms.clear("bus1/3", "dispenser_offline")
    assert [x.id for x in await alarms.active()] == [other]
    cleared = await alarms.get(a)
    assert cleared is not None and cleared.cleared_at == clock.now and not cleared.active

    # After clearing, the same condition opens a new alarm.
    c = await alarms.raise_alarm("bus1/3", "dispenser_offline", Severity.WARNING, "offline again")
    assert c not in (a, other)
    assert {x.id for x in await alarms.active()} == {other, c}


async def test_alarm_inside_a_callers_transaction(db: Database, clock: FakeClock) -> None:
    async with db.transaction() as tx:
        alarm_id = await raise_in(
            tx, "bus1", "line_unavailable", Severity.CRITICAL, "no device", now=clock.now
        )
        assert await clear_in(tx, "bus1", "line_unavailable", now=clock.now) == alarm_id
        assert await clear_in(tx, "bus1", "line_unavailable", now=clock.now) is None
    assert await Alarms(db).active() == []


async def test_unknown_severity_is_refused(db: Database) -> None:
    with pytest.raises(ValueError):
        await Alarms(db).raise_alarm("x", "y", "apocalyptic", "no")
    assert await Alarms(db).active() == []
