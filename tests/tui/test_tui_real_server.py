"""The terminal UI against the real control server (a real station without serial lines): the fake
daemon of the other tests and the real one must agree on the wire."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from tui_testkit import login, make_app, until

from edge.auth import passwords
from edge.config import load_config
from edge.control.server import ControlServer
from edge.daemon import Station, open_station
from edge.events import NozzleState, NozzleStatus
from storage import operators as ops
from storage.audit import AuditLog
from storage.clock import utc_now
from tui.screens.main import MainScreen
from tui.widgets.alarms import AlarmsTable
from tui.widgets.nozzles import NozzleTile, tile_id

CONFIG = """\
[station]
id = "REAL-0001"
[storage]
database = "station.db"
[control]
socket = "ctl.sock"
[[products]]
g_code = "0092"
name = "92#"
[[lines]]
name = "bus1"
url = "socket://127.0.0.1:9"
mode = "multi-drop"
[[lines.dispensers]]
pos_p = 1
nozzles = [{ nzn = 1, g_code = "0092" }, { nzn = 2, g_code = "0092" }]
"""


@pytest.fixture
async def real(short_dir: Path) -> AsyncIterator[tuple[Station, ControlServer]]:
    (short_dir / "station.toml").write_text(CONFIG)
    station = await open_station(load_config(short_dir / "station.toml"))
    async with station.db.transaction() as tx:
        hashed = passwords.hash_password("pw-senior-1", passwords.ScryptParams(4, 8, 1))
        await ops.add_in(tx, "senior1", "senior", hashed, now=utc_now())
    server = ControlServer(station, demo=False)
    await server.start()
    task = asyncio.create_task(server.serve_forever())
    try:
        yield station, server
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await station.db.close()


async def test_login_live_nozzle_and_acknowledge_against_the_real_server(
    real: tuple[Station, ControlServer],
) -> None:
    station, server = real
    alarm_id = await station.alarms.raise_alarm("bus1/1", "dispenser_offline", "warning", "no answer")
    app = make_app(server.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await login(pilot, "senior1", "pw-senior-1")
        await until(
            pilot, lambda: isinstance(app.screen, MainScreen) and len(app.screen.query(NozzleTile)) == 2
        )
        screen = app.screen
        assert isinstance(screen, MainScreen)

        station.bus.publish(
            NozzleStatus(
                "bus1", 1, 2, NozzleState.FUELLING, amn=4_500, vol=600, prc=750, at=dt.datetime.now()
            )
        )
        tile = screen.query_one(f"#{tile_id('bus1/1/2')}", NozzleTile)
        await until(pilot, lambda: tile.has_class("-fuelling") and "¥45.00" in str(tile.render()))

        await pilot.press("3", "a")
        table = screen.query_one(AlarmsTable)
        await until(pilot, lambda: str(table.get_row(str(alarm_id))[5]) == "✓ senior1")
        stored = await station.alarms.get(alarm_id)
        assert stored is not None and stored.acknowledged_by == "senior1"
        (row,) = await AuditLog(station.db).recent(1)
        assert (row.action, row.actor, row.outcome.value) == ("ack_alarm", "senior1", "ok")
