"""The tank service against a simulated console on a pty (in process): measurements stored and sent,
impossible readings rejected and alarmed once, a silent console puts its probes offline, and the
alarms clear when things recover."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from station_sim.modbus import ModbusLink as SimLink
from station_sim.modbus import Unit
from station_sim.tanks import TankFarm, TankStart

from edge.core.routes import DeviceFact
from edge.devices.tanks.config import TanksConfig, parse_tanks
from edge.devices.tanks.events import ProbeState, TankLevel
from edge.devices.tanks.service import TankService
from storage import tanks as store
from storage.db import Database
from storage.outbox import OutboxMessage

STRAP = [[0, 0], [1000, 10000], [2000, 21000]]


@dataclass
class Alarms:
    raised: list[tuple[str, str]] = field(default_factory=list)
    cleared: list[tuple[str, str]] = field(default_factory=list)

    async def raise_alarm(
        self, source: str, code: str, severity: str, message: str, details: dict[str, Any] | None = None
    ) -> int:
        self.raised.append((source, code))
        return len(self.raised)

    async def clear(self, source: str, code: str) -> None:
        self.cleared.append((source, code))


@dataclass
class Bus:
    events: list[Any] = field(default_factory=list)

    def publish(self, event: Any) -> None:
        self.events.append(event)


@dataclass
class Outbox:
    """The centre outbox's device messages (the others are not used by the tank service)."""

    facts: list[DeviceFact] = field(default_factory=list)

    def for_device(self, fact: DeviceFact) -> Sequence[OutboxMessage]:
        self.facts.append(fact)
        return [OutboxMessage("station/T/events", f"dev:{fact.device}:{fact.event}:{fact.at}", b"{}")]

    def for_record(self, *a: Any) -> Sequence[OutboxMessage]:
        return ()

    def for_totals(self, *a: Any) -> Sequence[OutboxMessage]:
        return ()

    def for_decision(self, *a: Any) -> Sequence[OutboxMessage]:
        return ()

    def for_shift(self, *a: Any, **k: Any) -> Sequence[OutboxMessage]:
        return ()


def config(url: str) -> TanksConfig:
    return parse_tanks(
        {
            "offline_after": 2,
            "upload_interval_s": 0,
            "consoles": [{"name": "c", "url": url, "map": "tls-float-swapped", "timeout_s": 0.2}],
            "tank": [
                {"number": 1, "console": "c", "unit": 0, "product": "0092", "strapping": STRAP},
                {"number": 2, "console": "c", "unit": 1, "product": "0095", "strapping": STRAP},
            ],
        },
        "station.toml",
    )


@dataclass
class Rig:
    service: TankService
    farm: TankFarm
    alarms: Alarms
    bus: Bus
    outbox: Outbox
    db: Database

    async def poll(self) -> None:
        for console in self.service.consoles.values():
            await self.service.poll_once(console, list(self.service.tanks.values()))


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    url = str(tmp_path / "tty-tanks")
    cfg = config(url)
    farm = TankFarm(cfg, lambda e: None, random.Random(1), [TankStart(1, 5000.0), TankStart(2, 8000.0)])
    console = farm.consoles["c"]
    link = SimLink(url, [Unit(1, console, console.faults)], baud=115200)
    await link.start()
    db = await Database.open(tmp_path / "station.db")
    alarms, bus, outbox = Alarms(), Bus(), Outbox()
    clock = iter(
        dt.datetime(2026, 12, 2, 8, 0, tzinfo=dt.UTC) + dt.timedelta(seconds=i) for i in range(10_000)
    )
    service = TankService(cfg, db, alarms, bus, outbox, clock=lambda: next(clock))
    try:
        yield Rig(service, farm, alarms, bus, outbox, db)
    finally:
        for c in service.consoles.values():
            c.link.close()
        await db.close()
        await link.stop()


async def test_readings_become_stored_measurements_and_messages(rig: Rig) -> None:
    await rig.poll()
    levels = [e for e in rig.bus.events if isinstance(e, TankLevel)]
    assert {e.tank for e in levels} == {1, 2}
    assert all(e.state is ProbeState.OK for e in levels)
    t1 = next(e for e in levels if e.tank == 1)
    assert t1.figures["volume_l"] == pytest.approx(5000.0, abs=0.5)
    rows = await store.measurements(rig.db)
    assert {r.tank for r in rows} == {1, 2}
    assert [f.event for f in rig.outbox.facts] == ["level", "level"]
    assert rig.alarms.raised == []


async def test_an_impossible_reading_is_rejected_alarmed_once_and_cleared(rig: Rig) -> None:
    rig.farm.tanks[2].bad_reading = True
    for _ in range(3):
        await rig.poll()
    assert rig.alarms.raised.count(("tank:2", "tank_bad_reading")) == 1
    assert {r.tank for r in await store.measurements(rig.db)} == {1}
    last = [e for e in rig.bus.events if isinstance(e, TankLevel) and e.tank == 2][-1]
    assert last.state is ProbeState.BAD_READING
    rig.farm.tanks[2].bad_reading = False
    await rig.poll()
    assert ("tank:2", "tank_bad_reading") in rig.alarms.cleared
    assert {r.tank for r in await store.measurements(rig.db)} == {1, 2}


async def test_a_silent_console_puts_its_probes_offline_until_it_answers(rig: Rig) -> None:
    await rig.poll()
    rig.farm.consoles["c"].faults.offline = True
    await rig.poll()
    assert rig.alarms.raised == []
    await rig.poll()
    assert sorted(rig.alarms.raised) == [("tank:1", "tank_probe_offline"), ("tank:2", "tank_probe_offline")]
    await rig.poll()
    assert len(rig.alarms.raised) == 2, "raised once per episode"
    rig.farm.consoles["c"].faults.offline = False
    await rig.poll()
    assert sorted(rig.alarms.cleared) == [("tank:1", "tank_probe_offline"), ("tank:2", "tank_probe_offline")]


async def test_a_probe_out_is_a_probe_error_not_a_measurement(rig: Rig) -> None:
    rig.farm.tanks[1].probe_out = True
    await rig.poll()
    assert ("tank:1", "tank_probe_error") in rig.alarms.raised
    assert {r.tank for r in await store.measurements(rig.db)} == {2}
