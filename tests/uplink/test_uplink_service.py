"""The uplink service against a real mosquitto: records through the outbox, status and Will, live
status, alarms, dispenser events, the in-flight window, a refused PUBLISH."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import pytest
from uplink_helpers import (
    DEADLINE_S,
    STATION,
    centre_params,
    consuming,
    make_record,
    running,
    settings_for,
    until,
)

from edge.events import DispenserOnline, EventBus, NozzleState, NozzleStatus, SaleStored
from edge.routes import builtin_routes
from storage.alarms import Alarms
from storage.db import Database
from storage.journal import Journal
from uplink import payloads as p
from uplink.centre import CentreConsumer
from uplink.link import Incoming, MqttLink
from uplink.mosquitto import Mosquitto
from uplink.service import Uplink


async def store(journal: Journal, uplink: Uplink, line: str, dispenser: int, pos_ttc: int) -> None:
    record, raw = make_record(pos_ttc)
    await journal.store_record(
        line,
        dispenser,
        record,
        raw,
        received_at=dt.datetime.now(dt.UTC),
        outbox=uplink.record_hook(line, dispenser, record, raw),
    )


async def test_records_reach_the_centre_once_and_the_outbox_empties(
    tls_broker: Mosquitto, db: Database, tmp_path: Path
) -> None:
    """TLS + password file + pinned CA, end to end: journal → outbox → broker → centre."""
    uplink = Uplink(settings_for(tls_broker, tmp_path), STATION, db)
    journal = Journal(db)
    consumer = CentreConsumer(centre_params(tls_broker), out=tmp_path / "centre.jsonl")
    async with consuming(consumer), running(uplink):
        for pos in range(1, 51):
            await store(journal, uplink, "bus1", 3, pos)
        await store(journal, uplink, "bus1", 3, 7)  # a re-sent record: the journal queues nothing
        await consumer.wait_for(lambda: consumer.stats.by_type["record"] >= 50, DEADLINE_S)
        async with asyncio.timeout(DEADLINE_S):
            await uplink.pump.wait_drained()
    records = [m for _, m in consumer.messages if isinstance(m, p.RecordPayload)]
    assert [r.pos_ttc for r in records] == list(range(1, 51))
    assert consumer.stats.out_of_order == 0
    assert records[0].key == f"rec:{STATION}:bus1:3:1"
    stored = await journal.records("bus1", 3, 1)
    assert records[0].raw == stored[0].raw.hex()
    assert await uplink.outbox.depth() == 0
    assert (tmp_path / "centre.jsonl").read_text().count("\n") == consumer.stats.unique


async def test_status_is_retained_and_the_will_says_offline(
    broker: Mosquitto, db: Database, tmp_path: Path
) -> None:
    statuses: asyncio.Queue[Incoming] = asyncio.Queue()

    async def next_status(link: MqttLink) -> p.StatusPayload:
        async with asyncio.timeout(DEADLINE_S):
            message = await statuses.get()
        link.ack(message)
        payload = p.decode(message.payload)
        assert isinstance(payload, p.StatusPayload)
        return payload

    uplink = Uplink(settings_for(broker, tmp_path), STATION, db)
    async with running(uplink):
        # A late subscriber gets the retained "online".
        async with MqttLink(
            centre_params(
                broker,
                "watcher",
            ),
            statuses.put_nowait,
        ) as watcher:
            await watcher.subscribe(f"station/{STATION}/status")
            online = await next_status(watcher)
            assert online.online and online.session == uplink.conn.session
            # A crash (TCP gone without DISCONNECT): the broker publishes the Will, retained.
            assert uplink.link is not None
            uplink.link.abort()
            offline = await next_status(watcher)
            assert not offline.online and offline.session == online.session
            again = await next_status(watcher)  # the uplink reconnected on its own
            assert again.online and again.session != online.session
        async with asyncio.timeout(DEADLINE_S):
            await uplink.connected.wait()
    # A clean stop publishes "offline" itself (retained), so a late subscriber sees it.
    async with MqttLink(centre_params(broker, "late"), statuses.put_nowait) as late:
        await late.subscribe(f"station/{STATION}/status")
        final = await next_status(late)
        assert not final.online


async def test_alarms_dispenser_events_and_live_status(
    broker: Mosquitto, db: Database, tmp_path: Path
) -> None:
    bus = EventBus()
    alarms = Alarms(db)
    uplink = Uplink(settings_for(broker, tmp_path, live_interval_s=0.05), STATION, db, bus=bus, routes=builtin_routes())
    live: asyncio.Queue[Incoming] = asyncio.Queue()
    consumer = CentreConsumer(centre_params(broker))
    async with (
        consuming(consumer),
        running(uplink),
        MqttLink(centre_params(broker, "live"), live.put_nowait) as viewer,
    ):
        await viewer.subscribe(f"station/{STATION}/live", qos=0)
        alarm_id = await alarms.raise_alarm("bus1/3", "dispenser_offline", "warning", "no answer")
        await alarms.raise_alarm("bus1/3", "dispenser_offline", "warning", "still no answer")
        await alarms.clear("bus1/3", "dispenser_offline")
        now = dt.datetime.now(dt.UTC)
        bus.publish(DispenserOnline("bus1", 3, True, now))
        bus.publish(NozzleStatus("bus1", 3, 1, NozzleState.FUELLING, amn=1200, vol=161, prc=745, at=now))
        bus.publish(SaleStored("bus1", 3, 1, 0x10, 1, "1", 1, 1, 1, "0102", 255, "", now))
        await consumer.wait_for(lambda: consumer.stats.by_type["dispenser"] >= 1, DEADLINE_S)
        # The alarm sweep picks up raise, repeat and clear (it may see the repeat already cleared).
        await consumer.wait_for(
            lambda: any(isinstance(m, p.AlarmPayload) and m.state == "cleared" for _, m in consumer.messages),
            DEADLINE_S,
        )
        async with asyncio.timeout(DEADLINE_S):
            while True:
                message = await live.get()
                payload = p.decode(message.payload)
                assert isinstance(payload, p.LivePayload)
                if payload.nozzles and payload.nozzles[0].state == "fuelling":
                    break
    assert payload.nozzles[0].amn == 1200
    alarms_seen = [m for _, m in consumer.messages if isinstance(m, p.AlarmPayload)]
    assert {m.alarm_id for m in alarms_seen} == {alarm_id}
    assert alarms_seen[-1].state == "cleared"
    dispenser = next(m for _, m in consumer.messages if isinstance(m, p.DispenserPayload))
    assert (dispenser.line, dispenser.dispenser, dispenser.online) == ("bus1", 3, True)
    assert uplink.status()["state"] in ("connected", "backoff", "connecting")


async def test_in_flight_is_bounded_by_the_window(
    broker: Mosquitto, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uplink = Uplink(settings_for(broker, tmp_path, window=4, batch=50), STATION, db)
    journal = Journal(db)
    peak = 0
    for pos in range(1, 201):
        await store(journal, uplink, "bus1", 1, pos)
    real_publish = MqttLink.publish

    def spying(
        self: MqttLink, topic: str, payload: bytes, qos: int = 1, retain: bool = False
    ) -> asyncio.Future[None]:
        nonlocal peak
        fut = real_publish(self, topic, payload, qos, retain)
        peak = max(peak, uplink.pump.stats.in_flight + 1)
        return fut

    monkeypatch.setattr(MqttLink, "publish", spying)
    async with running(uplink):
        async with asyncio.timeout(DEADLINE_S):
            await uplink.pump.wait_drained()
    assert uplink.pump.stats.acked == 200
    assert 1 <= peak <= 4
    assert await uplink.outbox.depth() == 0


async def test_a_refused_publish_keeps_the_message_and_raises_an_alarm(
    broker: Mosquitto, db: Database, tmp_path: Path
) -> None:
    """An outbox row the broker refuses (ACL) is never deleted; the uplink retries with back-off and
    raises uplink/publish_refused."""
    alarms = Alarms(db)
    uplink = Uplink(settings_for(broker, tmp_path), STATION, db, alarms=alarms)
    await uplink.store.enqueue(
        [uplink.factory.message(p.DispenserPayload("S2", "bus1", 1, True, "2024-01-01T00:00:00+00:00"))]
    )

    async def refused_alarm() -> bool:
        return any(a.code == "publish_refused" for a in await alarms.active())

    async def alarm_queued() -> bool:  # the alarm sweep queues it for the centre after it is stored
        return any(msg.key.startswith("alarm:S1:") for _seq, msg in await uplink.outbox.peek(10))

    async with running(uplink):
        await until(lambda: uplink.pump.stats.rejected >= 2, what="two refusals")
        await until(refused_alarm, what="the publish_refused alarm")
        await until(alarm_queued, what="the alarm queued for the centre")
    assert "0x87" in (uplink.pump.stats.last_rejection or "")
    queued = [msg for _seq, msg in await uplink.outbox.peek(10)]
    assert queued[0].topic == "station/S2/events"  # still first: order is kept, nothing dropped
    assert any(msg.key.startswith("alarm:S1:") for msg in queued[1:])  # the alarm waits behind it
    assert "publish_refused" in uplink.status()["alarms"]
