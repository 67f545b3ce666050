"""A line that cannot be opened takes its dispensers offline after `offline_after` attempts (both modes)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from edge.config import DispenserConfig, LineConfig, LineMode, NozzleConfig
from edge.daemon import run_line
from edge.events import DispenserOnline, EventBus, NozzleState
from edge.session import DispenserSession, Services, Versions


class Catalog:
    def versions(self) -> Versions:
        return Versions()

    def content(self, content: int, pos_p: int) -> bytes | None:
        return None


class Journal:
    async def open_gaps(self, line: str, dispenser: int, limit: int) -> list[int]:
        return []


class Alarms:
    def __init__(self) -> None:
        self.active: set[tuple[str, str]] = set()

    async def raise_alarm(
        self, source: str, code: str, severity: str, message: str, details: dict[str, Any] | None = None
    ) -> int:
        self.active.add((source, code))
        return len(self.active)

    async def clear(self, source: str, code: str) -> None:
        self.active.discard((source, code))


@pytest.mark.parametrize("mode", [LineMode.MULTI_DROP, LineMode.POINT_TO_POINT])
async def test_unopenable_line_takes_its_dispensers_offline(tmp_path: Path, mode: LineMode) -> None:
    addresses = [1, 2] if mode is LineMode.MULTI_DROP else [1]
    config = LineConfig(
        name="bus9",
        url=str(tmp_path / "no-such-device"),
        mode=mode,
        dispensers=tuple(DispenserConfig(pos_p=a, nozzles=(NozzleConfig(1, "0092"),)) for a in addresses),
        offline_after=3,
    )
    bus = EventBus()
    alarms = Alarms()
    services = Services(journal=Journal(), alarms=alarms, catalog=Catalog(), authority=None, bus=bus)  # type: ignore[arg-type]
    sessions = [DispenserSession.create("bus9", a, {1: "0092"}, services, 3) for a in addresses]
    for s in sessions:  # as if they had answered before the line died
        await s.answered(0.0)
    station = SimpleNamespace(
        sessions={"bus9": sessions},
        services=services,
        config=SimpleNamespace(station=SimpleNamespace(controller_address=0xE0)),
        lines={},
        bus=bus,
    )
    sub = bus.subscribe()
    events: list[Any] = []
    task = asyncio.create_task(run_line(station, config))  # type: ignore[arg-type]
    try:
        async with asyncio.timeout(60):
            while any(s.online for s in sessions):
                events.extend(await sub.wait())
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    events.extend(sub.drain())
    assert all(s.misses >= 3 for s in sessions)
    assert all(n.state is NozzleState.OFFLINE for s in sessions for n in s.nozzles.values())
    assert {(e.dispenser, e.online) for e in events if isinstance(e, DispenserOnline)} >= {
        (a, False) for a in addresses
    }
    assert ("bus9", "line_unavailable") in alarms.active
    assert {(f"bus9/{a}", "dispenser_offline") for a in addresses} <= alarms.active
