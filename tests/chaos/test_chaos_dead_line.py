"""Chaos: the simulator (every line's far end) killed for a while, then restarted.

While it is dead both lines (multi-drop and point-to-point) are unavailable: every dispenser must go
offline and every nozzle show `offline` in `station status`; once it is back they come online by
themselves, and at the end every record the simulator produced is stored once, byte-identical.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Station, assert_export_matches_ledger, ledger_records, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]

TRAFFIC = ("--seed", "16", "--rate", "240", "--fuel-speed", "50000", "--p2p-interval-ms", "100")


@pytest.fixture
def station(tmp_path: Path) -> Any:
    st = Station.create(tmp_path)
    yield st
    st.stop()


def snapshot(station: Station) -> dict[str, Any] | None:
    argv = [sys.executable, "-m", "edge.cli", "status", "--config", str(station.config), "--json"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        return None
    doc: dict[str, Any] = json.loads(result.stdout)["snapshot"]
    return doc


def all_offline(station: Station) -> dict[str, Any] | None:
    snap = snapshot(station)
    if snap is None or not snap["dispensers"]:
        return None
    dispensers_off = all(not d["online"] for d in snap["dispensers"])
    nozzles_off = all(n["state"] == "offline" for n in snap["nozzles"])
    return snap if dispensers_off and nozzles_off else None


def all_online(station: Station) -> dict[str, Any] | None:
    snap = snapshot(station)
    if snap is None or not snap["dispensers"]:
        return None
    online = all(d["online"] for d in snap["dispensers"])
    nozzles_on = all(n["state"] != "offline" for n in snap["nozzles"])
    return snap if online and nozzles_on else None


def test_dead_simulator_takes_dispensers_offline_and_they_return(station: Station) -> None:
    station.start_sim(*TRAFFIC, "--max-records", "400")
    daemon = station.start_daemon()
    wait_until(lambda: all_online(station), 90, "every dispenser online")
    wait_until(lambda: len(ledger_records(station.ledger_events())) >= 10, 90, "records flowing")

    assert station.sim is not None
    station.sim.kill()
    for link in ("tty-bus1", "tty-p2p1"):
        # The dead simulator's pty numbers may be handed to another program on a shared machine (its
        # links would then lead the daemon to a stranger's pty); a real adapter's device node just goes.
        (station.dir / link).unlink(missing_ok=True)
    snap = wait_until(lambda: all_offline(station), 60, "every dispenser offline while the simulator is dead")
    assert {d["line"] for d in snap["dispensers"]} == {"bus1", "p2p1"}  # both line modes
    text = subprocess.run(
        [sys.executable, "-m", "edge.cli", "status", "--config", str(station.config)],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert f"Dispensers: 0/{len(snap['dispensers'])} online" in text, text
    assert f"Nozzles: {len(snap['nozzles'])} — {len(snap['nozzles'])} offline" in text, text
    alarms = {(a["source"], a["code"]) for a in snapshot(station)["alarms"]}  # type: ignore[index]
    assert {("bus1", "line_unavailable"), ("p2p1", "line_unavailable")} <= alarms, alarms
    assert {(f"{d['line']}/{d['dispenser']}", "dispenser_offline") for d in snap["dispensers"]} <= alarms, (
        alarms
    )
    assert daemon.alive(), daemon.log_text()[-2000:]

    station.start_sim(*TRAFFIC, "--max-records", "60", "--exit-when-acked")
    wait_until(lambda: all_online(station), 90, "every dispenser online again after the simulator returned")
    wait_until(lambda: not station.sim.alive(), 240, "every record acknowledged")  # type: ignore[union-attr]
    assert station.sim.popen.returncode == 0, station.sim.log_text()[-2000:]  # type: ignore[union-attr]
    assert daemon.alive(), daemon.log_text()[-2000:]
    daemon.terminate()  # its exit status is the SIGTERM chaos test's business
    produced, acked = assert_export_matches_ledger(station)
    assert produced == acked > 0
