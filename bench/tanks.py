"""`station bench tanks`: 16 tanks on one 9600-baud Modbus RTU line beside a dispenser bus.

The daemon polls a console of 16 tanks (the default register map, one read of 16 registers per tank,
`poll_interval_s = 1`) on a pty line whose bytes this benchmark paces at 9600 baud (wire time, both
directions), while it also polls 8 simulated dispensers on a multi-drop bus at 9600 baud (the simulator
with wire-time emulation). The console is served in this process (`station_sim.modbus`), so every read
of every tank is timed where it happens: a tank's measurement age at the moment it is read again is the
time since its previous read; p99 over every read of the window (target < 2 s).

The same bus is measured once without tanks: the dispenser poll rate with tanks must stay within 5 % of
it. Figures are printed, never asserted.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from station_sim.modbus import ModbusLink, Unit

from bench.stationproc import start, wait_downloads, wait_first_poll
from protocol.tank_maps import DEFAULT_TANK_MAP

TARGET_AGE_P99_S = 2.0
TARGET_POLL_RATE_KEPT = 0.95
TANKS = 16
DISPENSERS = 8
BAUD = 9600
STRAPPING = "[[0, 0], [1000, 10000], [2000, 21000], [2500, 25000]]"


def tanks_toml(folder: Path, tanks: int) -> str:
    out = [
        "[tanks]",
        "poll_interval_s = 1.0",
        "[[tanks.consoles]]",
        'name = "console"',
        f'url = "{folder}/tty-tanks"',
        f"baud = {BAUD}",
        "device_id = 1",
        'map = "station-v1"',
    ]
    for n in range(tanks):
        out += [
            "[[tanks.tank]]",
            f"number = {n + 1}",
            'console = "console"',
            f"unit = {n}",
            'product = "0092"',
            f"strapping = {STRAPPING}",
        ]
    return "\n".join(out) + "\n"


class TimedConsole:
    """A console whose tanks stand still at half full; every read of a tank's block is timed."""

    def __init__(self, tanks: int) -> None:
        self.block = DEFAULT_TANK_MAP.encode(
            {"product_height_mm": 1250.0, "water_height_mm": 0.0, "temperature_c": 15.0}
        )
        self.tanks = tanks
        self.reads: dict[int, list[float]] = {n: [] for n in range(tanks)}
        self.measuring = False

    def read_registers(self, address: int, count: int) -> list[int]:
        unit, _offset = divmod(address - DEFAULT_TANK_MAP.start, DEFAULT_TANK_MAP.stride)
        if self.measuring and unit in self.reads:
            self.reads[unit].append(time.monotonic())
        out = []
        for i in range(count):
            u, o = divmod(address + i - DEFAULT_TANK_MAP.start, DEFAULT_TANK_MAP.stride)
            out.append(self.block[o] if 0 <= u < self.tanks and o < len(self.block) else 0)
        return out

    def write_registers(self, address: int, values: Sequence[int]) -> None:
        pass

    def ages(self) -> list[float]:
        return [b - a for times in self.reads.values() for a, b in itertools.pairwise(times)]


class ConsoleThread:
    """The console's Modbus server on its own event loop (a thread), so the bench can sleep."""

    def __init__(self, url: str, console: TimedConsole) -> None:
        self.url = url
        self.console = console
        self.loop = asyncio.new_event_loop()
        self.link = ModbusLink(url, [Unit(1, console)], baud=BAUD, wire_time=True)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.link.start(), self.loop).result(30)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.link.stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def _poll_rate(folder: Path, seconds: float, tanks: int) -> tuple[float, list[float]]:
    console = TimedConsole(tanks)
    server = ConsoleThread(str(folder / "tty-tanks"), console) if tanks else None
    if server is not None:
        server.start()
    extra = tanks_toml(folder, tanks) + "[simulator]\ntanks = false\n" if tanks else ""
    run = start(folder, DISPENSERS, BAUD, extra=extra)
    try:
        wait_first_poll(run)
        wait_downloads(run.folder, 2 * DISPENSERS)
        first = run.snapshot()["bus1"]
        t0 = time.monotonic()
        console.measuring = True
        time.sleep(seconds)
        console.measuring = False
        last = run.snapshot()["bus1"]
        elapsed = time.monotonic() - t0
    finally:
        run.stop()
        if server is not None:
            server.stop()
    return (last["polls"] - first["polls"]) / elapsed, console.ages()


def _p99(values: list[float]) -> float:
    if len(values) < 2:
        return float("nan") if not values else values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[98]


def run(seconds: float = 30.0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-tanks-0-") as tmp:
        alone, _ = _poll_rate(Path(tmp), seconds, 0)
    with tempfile.TemporaryDirectory(prefix="bench-tanks-16-") as tmp:
        with_tanks, ages = _poll_rate(Path(tmp), seconds, TANKS)
    p99 = _p99(ages)
    kept = with_tanks / alone if alone else 0.0
    reads_per_s = len(ages) / seconds
    print(
        f"tanks: {TANKS} tanks on one {BAUD}-baud RTU line: measurement age p99 {p99:.2f} s "
        f"(target < {TARGET_AGE_P99_S} s), {reads_per_s:.1f} tank reads/s; dispenser bus {alone:.1f} polls/s "
        f"alone, {with_tanks:.1f} with the tanks ({100 * kept:.1f} %, target >= {100 * TARGET_POLL_RATE_KEPT:.0f} %)"
    )
    return {
        "name": "tanks",
        "value": round(p99, 3),
        "unit": "s (measurement age p99)",
        "target": TARGET_AGE_P99_S,
        "tank_reads_per_s": round(reads_per_s, 2),
        "bus_polls_per_s_alone": round(alone, 1),
        "bus_polls_per_s_with_tanks": round(with_tanks, 1),
        "bus_poll_rate_kept": round(kept, 4),
        "bus_poll_rate_target": TARGET_POLL_RATE_KEPT,
    }
