"""The component seam: a device kind added with its own module and ONE registration line.

The example door sensor (`tests/support/door_sensor.py`) is built only through the registry: its table
is validated with the others, the daemon builds and runs it, and its event reaches the control API
stream, the outbox for the centre and the TUI's devices panel — with no edit to the daemon, the
control server, the uplink or the TUI.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.door_sensor import DOOR_SENSOR, DoorChanged
from support.waiting import wait_until
from textual.widgets import Input

from edge.auth import passwords
from edge.config import load_config
from edge.control import messages as m
from edge.control.client import ControlClient
from edge.core.component import ComponentKind
from edge.core.registry import RegistryError
from edge.daemon import open_station, serve
from edge.registry import default_registry
from storage import operators as ops
from storage.clock import utc_now
from storage.outbox import Outbox
from tui.app import StationApp
from tui.screens.main import MainScreen
from tui.widgets.devices import DevicesPanel

STATION = "DOOR-0001"
CONFIG = """\
[station]
id = "{station}"
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
nozzles = [{{ nzn = 1, g_code = "0092" }}]
[uplink]
url = "mqtt://127.0.0.1:9"
allow_plaintext = true
password_file = "pw"
{door}
"""


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short folder (a Unix socket path must stay under 108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="seam", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def write_config(folder: Path, door_table: str) -> Path:
    (folder / "pw").write_text("station-secret")
    path = folder / "station.toml"
    path.write_text(CONFIG.format(station=STATION, door=door_table))
    return path


def door_table(gpio: Path) -> str:
    return f'[door_sensor]\ndoors = {{ back = "{gpio}" }}\npoll_ms = 20\n'


def test_one_registration_line_adds_the_kind_and_its_routes() -> None:
    registry = default_registry()
    assert DOOR_SENSOR.table not in registry.tables() and DoorChanged not in registry.routes()
    registry.register(DOOR_SENSOR)  # the one registration line
    assert "door_sensor" in registry.tables()
    assert DoorChanged in registry.routes()
    with pytest.raises(RegistryError):
        registry.register(DOOR_SENSOR)
    clash: ComponentKind[object, object] = ComponentKind(
        name="another",
        table="uplink",
        configure=lambda c: None,
        build=lambda s, p: DOOR_SENSOR.build,  # type: ignore[arg-type, return-value]
    )
    with pytest.raises(RegistryError, match="uplink"):
        registry.register(clash)  # type: ignore[arg-type]


def test_every_problem_of_a_component_table_with_file_and_key(short_dir: Path) -> None:
    registry = default_registry()
    registry.register(DOOR_SENSOR)
    bad = '[door_sensor]\npoll_ms = "fast"\ncolour = "red"\n[door_sensr]\ndoors = {}\n'
    config = load_config(write_config(short_dir, bad))
    problems = registry.problems(config)
    assert "station.toml: door_sensor.colour: unknown key" in problems
    assert "station.toml: door_sensor.doors: missing" in problems
    assert any(p.startswith("station.toml: door_sensor.poll_ms: must be an integer") for p in problems)
    assert "station.toml: door_sensr: unknown table (no component reads it)" in problems
    # Without the registration the table is nobody's.
    assert "station.toml: door_sensor: unknown table (no component reads it)" in default_registry().problems(
        config
    )


async def test_door_event_reaches_the_control_stream_the_outbox_and_the_tui(short_dir: Path) -> None:
    gpio = short_dir / "gpio17"
    gpio.write_text("0\n")
    registry = default_registry()
    registry.register(DOOR_SENSOR)
    config = load_config(write_config(short_dir, door_table(gpio)))
    assert registry.problems(config) == []
    station = await open_station(config, registry)
    assert [c.name for c in station.components] == [
        "price scheduler",
        "card re-check",
        "import inbox",
        "control API",
        "daily close",
        "housekeeping",
        "record integrity",
        "clock watch",
        "door sensor",
        "uplink",
    ]
    async with station.db.transaction() as tx:
        hashed = passwords.hash_password("pw-senior-1", passwords.ScryptParams(4, 8, 1))
        await ops.add_in(tx, "senior1", "senior", hashed, now=utc_now())
    stop = asyncio.Event()
    daemon = asyncio.create_task(serve(config, stop, station))
    socket_path = short_dir / "ctl.sock"
    try:
        await wait_until(socket_path.exists, what="the control socket")
        client = await ControlClient.connect(socket_path)
        try:
            assert isinstance(await client.request(m.Subscribe()), m.Snapshot)
            gpio.write_text("1\n")
            opened = await client.wait_for(m.Device, lambda d: d.state == "open", timeout_s=30)
            assert (opened.kind, opened.device, opened.key) == ("door", "back", "door/back")
        finally:
            await client.close()

        async def queued_for_centre() -> bool:
            rows = [msg for _seq, msg in await Outbox(station.db).peek(1000)]
            return any(b'"type":"device"' in r.payload and b'"event":"opened"' in r.payload for r in rows)

        await wait_until(queued_for_centre, what="the door's device message in the outbox")
        (row,) = [
            msg for _seq, msg in await Outbox(station.db).peek(1000) if b'"event":"opened"' in msg.payload
        ]
        assert row.topic == f"station/{STATION}/events"
        assert row.key.startswith(f"dev:{STATION}:door:back:opened:")

        app = StationApp(socket_path, retry_s=0.05, blink=False)
        app.animation_level = "none"
        async with app.run_test(size=(120, 32)) as pilot:
            await wait_until(lambda: app.link == "online", what="the TUI online")
            await pilot.click("#username")
            app.screen.query_one("#username", Input).value = "senior1"
            app.screen.query_one("#password", Input).value = "pw-senior-1"
            await pilot.click("#password")
            await pilot.press("enter")
            await wait_until(lambda: isinstance(app.screen, MainScreen), what="the main screen")
            gpio.write_text("0\n")
            panel = app.screen.query_one(DevicesPanel)
            await wait_until(
                lambda: panel.row_count == 1 and "CLOSED" in str(panel.get_row("door/back")[2]),
                what="the door closed in the devices panel",
            )
            await pilot.press("7")
            await wait_until(lambda: app.screen.query_one("TabbedContent").active == "devices")  # type: ignore[attr-defined]
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(daemon, 60)
