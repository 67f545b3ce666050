"""`station bench drain`: a 100 000-message backlog drained to a local mosquitto, and the multi-drop
poll rate while it drains compared with the idle rate (target: no more than 10 % below).

Part 1 (`bench.drain`): drain time of the outbox pump alone (target < 60 s) and raw paho's publish rate
for comparison. Part 2: the real daemon with 16 simulated dispensers on a wire-time-emulated bus at
115200 baud, unpaced (as fast as the wire allows, so any slowdown shows), and `[uplink]` pointing at a
local mosquitto: the idle poll rate with an empty outbox; then the daemon is stopped, the backlog is
queued in its database, and it is started again: the poll rate is measured while the backlog drains,
and the drain time of the whole daemon.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import drain
from bench.stationproc import start, wait_downloads, wait_first_poll
from edge.children import spawn
from storage.db import Database
from uplink.mosquitto import Mosquitto

BAUD = 115_200
DISPENSERS = 16
MAX_SLOWDOWN = 0.10


def _depth(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10) as conn:
        return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])


async def _fill(db_path: Path, records: int) -> None:
    db = await Database.open(db_path)
    try:
        await drain.fill_outbox(db, records, drain.STATION)
    finally:
        await db.close()


def _polls_per_s(run: Any, seconds: float) -> float:
    first = run.snapshot()["bus1"]["polls"]
    began = time.monotonic()
    while time.monotonic() < began + seconds:
        time.sleep(0.05)
    return (run.snapshot()["bus1"]["polls"] - first) / (time.monotonic() - began)


def system(records: int, seconds: float, uplink_extra: str = "") -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-drain-") as tmp:
        folder = Path(tmp)
        broker = Mosquitto(folder / "broker", users={drain.STATION: drain.PASSWORD})
        broker.start()
        drain.write_secret(folder / "uplink.password")
        extra = (
            f'[uplink]\nurl = "{broker.url}"\nallow_plaintext = true\npassword_file = "uplink.password"\n'
            + uplink_extra
        )
        run = start(folder, DISPENSERS, BAUD, station_id=drain.STATION, extra=extra, unpaced=True)
        try:
            wait_first_poll(run)
            wait_downloads(folder, 2 * DISPENSERS)
            idle = _polls_per_s(run, seconds)
            run.daemon.send_signal(signal.SIGTERM)
            run.daemon.wait(30)
            database = folder / "station.db"
            asyncio.run(_fill(database, records))
            queued = _depth(database)
            run.daemon_log = folder / "station-2.log"
            run.daemon = spawn(
                "station daemon",
                [sys.executable, "-m", "edge.cli", "run", "--config", str(folder / "station.toml")],
                run.daemon_log,
            ).popen
            run.started = time.monotonic()
            wait_first_poll(run)
            first = run.snapshot()["bus1"]["polls"]
            began = time.monotonic()
            while _depth(database) > 0:
                if time.monotonic() > began + drain.DEADLINE_S:
                    raise RuntimeError("the backlog did not drain")
                time.sleep(0.1)
            took = time.monotonic() - began
            during = (run.snapshot()["bus1"]["polls"] - first) / took
        finally:
            run.stop()
            broker.stop()
    return {
        "queued": queued,
        "daemon_drain_s": round(took, 2),
        "idle_polls_per_s": round(idle, 1),
        "drain_polls_per_s": round(during, 1),
        "poll_slowdown": round(1 - during / idle, 3) if idle else None,
    }


def run(records: int = 100_000, seconds: float = 5.0) -> dict[str, Any]:
    result = drain.run(records)
    sys_result = system(records, seconds)
    result.update(sys_result)
    print(
        f"drain (daemon): {sys_result['queued']} queued messages drained in {sys_result['daemon_drain_s']} s while "
        f"polling {DISPENSERS} dispensers at {BAUD} baud: {sys_result['drain_polls_per_s']} polls/s during the "
        f"drain vs {sys_result['idle_polls_per_s']} idle ({sys_result['poll_slowdown']:.1%} slower; "
        f"target ≤ {MAX_SLOWDOWN:.0%})"
    )
    return result
