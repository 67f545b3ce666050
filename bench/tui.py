"""Control API fan-out and terminal UI redraw: what viewers cost the daemon, and how fast the UI follows.

Measures, in one process on a station of 64 nozzles (no serial lines):

- fan-out: nozzle updates published on the bus for `seconds`, delivered to `clients` subscribed
  viewers plus one viewer that never reads; figures: publish cost per event (p50 / p99, µs), updates
  delivered per second per viewer (coalesced: a viewer receives the latest value, not every value), the
  bytes the daemon held for the stalled viewer (bounded; the kernel's socket buffer takes the first MBs)
  and whether it was dropped;
- the UI: the real `StationApp` (headless, 160×48, logged in) follows a burst of 64 × 100 updates; figure:
  time from the end of the burst until every tile shows its last value.

There is no design target for these; the figures are printed for comparison between versions.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

NOZZLES = 64
BURST_ROUNDS = 100

CONFIG_HEAD = """\
[station]
id = "BENCH-TUI"
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
"""


def _config(nozzles: int) -> str:
    blocks = [
        f'[[lines.dispensers]]\npos_p = {d + 1}\nnozzles = [{{ nzn = 1, g_code = "0092" }}, {{ nzn = 2, g_code = "0092" }}]\n'
        for d in range(nozzles // 2)
    ]
    return CONFIG_HEAD + "\n".join(blocks)


def run(seconds: float = 3.0, clients: int = 4) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="btui", dir="/tmp") as tmp:
        return asyncio.run(_run(Path(tmp), seconds, clients))


async def _run(folder: Path, seconds: float, clients: int) -> dict[str, Any]:
    from edge.auth import passwords
    from edge.config import load_config
    from edge.control import messages as m
    from edge.control.client import ControlClient
    from edge.control.server import MAX_BUFFER_BYTES, ControlServer
    from edge.daemon import open_station
    from edge.events import NozzleState, NozzleStatus
    from storage import operators as ops
    from storage.clock import utc_now

    (folder / "station.toml").write_text(_config(NOZZLES))
    station = await open_station(load_config(folder / "station.toml"))
    async with station.db.transaction() as tx:
        await ops.add_in(tx, "bench", "readonly", passwords.hash_password("bench-pw"), now=utc_now())
    server = ControlServer(station, demo=False, stall_s=1.0)
    await server.start()
    serving = asyncio.create_task(server.serve_forever())
    viewers = [await ControlClient.connect(server.path) for _ in range(clients)]
    counts = [0] * clients
    readers = []
    try:
        for v in viewers:
            await v.request(m.Subscribe())

        async def drain(i: int, viewer: ControlClient) -> None:
            while True:
                await viewer.next_event(timeout_s=3600)
                counts[i] += 1

        readers = [asyncio.create_task(drain(i, v)) for i, v in enumerate(viewers)]
        stalled_reader, stalled_writer = await asyncio.open_unix_connection(
            str(server.path), limit=m.MAX_LINE_BYTES
        )
        await stalled_reader.readline()
        stalled_writer.write(m.encode(m.Subscribe(id=1)))
        await stalled_reader.readline()  # the snapshot; from now on it reads nothing

        costs: list[float] = []
        published = 0
        now = dt.datetime.now()
        t_end = time.monotonic() + seconds
        t0 = time.monotonic()
        while time.monotonic() < t_end:
            for _ in range(100):
                n = published % NOZZLES
                event = NozzleStatus(
                    "bus1", n // 2 + 1, n % 2 + 1, NozzleState.FUELLING, amn=published, at=now
                )
                start = time.perf_counter()
                station.bus.publish(event)
                costs.append(time.perf_counter() - start)
                published += 1
            await asyncio.sleep(0)
        elapsed = time.monotonic() - t0
        stalled = max(server.connections, key=lambda c: c.id, default=None)
        stalled_dropped = server.dropped >= 1
        stalled_held = stalled.max_buffer_seen if stalled is not None else 0
        stalled_writer.close()
        delivered = statistics.mean(counts) / elapsed

        redraw_s = await _ui_burst(server.path, station)
    finally:
        for task in readers:
            task.cancel()
        for v in viewers:
            await v.close()
        serving.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await serving
        await station.db.close()

    costs.sort()
    p50 = costs[len(costs) // 2] * 1e6
    p99 = costs[int(len(costs) * 0.99)] * 1e6
    print(
        f"tui: {published} nozzle updates in {elapsed:.1f} s to {clients} viewers + 1 stalled: publish p50 "
        f"{p50:.1f} µs, p99 {p99:.1f} µs; {delivered:.0f} updates/s delivered per viewer (coalesced); "
        f"stalled viewer: {'dropped' if stalled_dropped else 'kept'}, at most {stalled_held} bytes held for it "
        f"(bound {MAX_BUFFER_BYTES}); the UI shows a burst of "
        f"{NOZZLES}×{BURST_ROUNDS} updates {redraw_s * 1000:.0f} ms after it ends"
    )
    return {
        "name": "tui",
        "value": round(p99, 2),
        "unit": "µs publish p99 with viewers attached",
        "target": None,
        "publish_p50_us": round(p50, 2),
        "published": published,
        "delivered_per_viewer_per_s": round(delivered, 1),
        "stalled_viewer_dropped": stalled_dropped,
        "stalled_viewer_bytes_held": stalled_held,
        "ui_burst_catch_up_ms": round(redraw_s * 1000, 1),
    }


async def _ui_burst(socket_path: Path, station: Any) -> float:
    """Seconds from the end of a burst until every tile of the headless UI shows its last value."""
    from edge.events import NozzleState, NozzleStatus
    from tui.app import StationApp
    from tui.screens.main import MainScreen
    from tui.widgets.nozzles import NozzleTile

    app = StationApp(socket_path, retry_s=0.05, blink=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await _until(pilot, lambda: app.link == "online")
        app.screen.query_one("#username").value = "bench"  # type: ignore[attr-defined]
        app.screen.query_one("#password").value = "bench-pw"  # type: ignore[attr-defined]
        await pilot.click("#password")
        await pilot.press("enter")
        await _until(
            pilot, lambda: isinstance(app.screen, MainScreen) and len(app.screen.query(NozzleTile)) == NOZZLES
        )
        now = dt.datetime.now()
        last = 0
        for r in range(BURST_ROUNDS):
            for n in range(NOZZLES):
                last = r * 1000 + n
                station.bus.publish(
                    NozzleStatus("bus1", n // 2 + 1, n % 2 + 1, NozzleState.FUELLING, amn=last, vol=r, at=now)
                )
            await asyncio.sleep(0)
        t0 = time.monotonic()
        final = (BURST_ROUNDS - 1) * 1000
        await _until(pilot, lambda: all(n.amn >= final for n in app.model.nozzles.values()))
        await pilot.pause()
        return time.monotonic() - t0


async def _until(pilot: Any, predicate: Any, timeout_s: float = 30.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await pilot.pause()
