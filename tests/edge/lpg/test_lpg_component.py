"""The LPG kind under the daemon: built from `[lpg]` through the registry, and a fill a killed
controller left open recorded as interrupted when the station starts again (real database file)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from edge.cli import main
from edge.config import load_config
from edge.daemon import open_station
from edge.registry import default_registry
from storage import lpg
from storage.clock import utc_now
from tests.edge.lpg.test_lpg_cli import CONFIG, GOOD
from tests.support.waiting import wait_until


async def test_an_open_fill_is_recorded_as_interrupted_when_the_daemon_starts(tmp_path: Path) -> None:
    path = tmp_path / "station.toml"
    path.write_text(CONFIG)
    cylinders = tmp_path / "cylinders.csv"
    cylinders.write_text(GOOD)
    assert await asyncio.to_thread(main, ["lpg", "import", str(cylinders), "--config", str(path)]) == 0
    config = load_config(path)

    station = await open_station(config, default_registry())
    try:
        async with station.db.transaction() as tx:  # the stop came between the stored row and the valve
            await lpg.begin_fill_in(
                tx, barcode="A1", scale="S1", operator="op1", tare_kg=16.2, target_kg=30.7, now=utc_now()
            )
        [component] = [c for c in station.components if c.name == "lpg"]
        task = asyncio.create_task(component.run())

        async def interrupted() -> list[lpg.FillRow]:
            return await lpg.fills(station.db, [lpg.FillStatus.INTERRUPTED])

        [row] = await wait_until(interrupted, what="the open fill recorded as interrupted")
        assert row.barcode == "A1"
        assert await lpg.fills(station.db, [lpg.FillStatus.FILLING]) == []
        assert not task.done()  # the component keeps running until the daemon stops
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    finally:
        await station.db.close()


async def test_a_station_without_lpg_builds_no_lpg_component(tmp_path: Path) -> None:
    path = tmp_path / "station.toml"
    path.write_text(CONFIG[: CONFIG.index("[lpg]")])
    station = await open_station(load_config(path), default_registry())
    try:
        assert "lpg" not in [c.name for c in station.components]
    finally:
        await station.db.close()
