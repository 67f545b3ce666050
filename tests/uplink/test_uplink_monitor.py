"""Outbox figures, drain rate and the alarms above thresholds; the status dict."""

from __future__ import annotations

from pathlib import Path

from uplink_helpers import STATION, settings_for

from storage.alarms import Alarms
from storage.db import Database
from uplink import payloads as p
from uplink.monitor import ALARM_SOURCE
from uplink.mosquitto import Mosquitto
from uplink.service import Uplink


async def test_depth_and_age_alarms_raise_and_clear(db: Database, tmp_path: Path) -> None:
    alarms = Alarms(db)
    settings = settings_for(
        Mosquitto(tmp_path / "unused"), tmp_path, alarm_outbox_depth=3, alarm_outbox_age_s=0
    )
    uplink = Uplink(settings, STATION, db, alarms=alarms)
    msgs = [uplink.factory.message(p.DispenserPayload(STATION, "bus1", 1, True, f"t{i}")) for i in range(5)]
    await uplink.store.enqueue(msgs)
    figures = await uplink.monitor.measure()
    assert figures.depth == 5 and figures.oldest_age_s is not None
    active = await alarms.active()
    assert [(a.source, a.code) for a in active] == [(ALARM_SOURCE, "outbox_depth")]
    await uplink.monitor.measure()  # still above: no repeat (it would count the alarm up)
    assert (await alarms.active())[0].count == 1

    seqs = [seq for seq, _ in await uplink.outbox.peek(10)]
    await uplink.outbox.delete(seqs)
    uplink.pump.stats.acked += 5
    figures = await uplink.monitor.measure()
    assert figures.depth == 0 and figures.drain_rate_per_s > 0
    assert await alarms.active() == []
    status = uplink.status()
    assert status["outbox"]["depth"] == 0 and status["alarms"] == []
    assert status["state"] == "starting" and status["broker"].startswith("mqtt://127.0.0.1:")
