"""A day of LPG fills end to end: the real `station-sim` plays three filling scales from the station's
`[[lpg.scales]]` (two on one Modbus RTU pty line with different maps, one over Modbus TCP) with scripted
cylinders, the real `station run` owns them, and an operator fills through `station lpg fill` (control
API, login). An overdue, a scrapped and an unknown cylinder are refused in words without the valve ever
opening; an over-filled one is flagged; every stored fill matches the simulator's ledger within the
scale's resolution; the daemon SIGKILLed mid-fill records that fill as interrupted when it starts again
(and closes the valve it left open)."""

from __future__ import annotations

import datetime as dt
import json
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from e2e.harness import Station, wait_until
from protocol.scale_maps import SCALE_MAPS

PASSWORD = "fill-op-9"
TODAY = dt.date.today()


def day(offset: int) -> str:
    return (TODAY + dt.timedelta(days=offset)).isoformat()


REGISTRY = (
    "barcode,spec,tare_kg,manufactured_on,last_inspection,next_inspection,scrap_on,owner,state\n"
    f"OK-1,YSP-15,16.2,{day(-700)},,{day(400)},,,\n"
    f"OK-2,YSP-15,15.8,{day(-700)},,{day(400)},,,\n"
    f"OK-3,YSP-5,6.1,{day(-300)},,{day(300)},,,\n"
    f"OVER-1,YSP-15,16.0,{day(-700)},,{day(400)},,,\n"
    f"LATE-1,YSP-15,16.0,{day(-2000)},,{day(-12)},,,\n"
    f"SCRAP-1,YSP-15,16.0,{day(-4000)},,{day(100)},{day(-1)},,\n"
)
MAP_OF = {"S1": "station-scale-v1", "S2": "float-swapped", "S3": "station-scale-v1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edge.cli", *args], input=stdin, capture_output=True, text=True,
                          timeout=300)  # fmt: skip


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    st = Station.create(tmp_path, bus_dispensers=1)
    yield st
    st.stop()


def fills(db: Path) -> list[dict[str, Any]]:
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM lpg_fills ORDER BY id")]
    finally:
        conn.close()


def test_a_day_of_fills_through_the_daemon_with_a_sigkill_mid_fill(station: Station) -> None:
    port = free_port()
    with station.config.open("a") as f:
        f.write(f"""
[lpg]
[[lpg.scales]]
name = "S1"
url = "{station.dir / 'tty-scales'}"
device_id = 1
map = "station-scale-v1"
baud = 19200
poll_s = 0.3
[[lpg.scales]]
name = "S2"
url = "{station.dir / 'tty-scales'}"
device_id = 2
map = "float-swapped"
baud = 19200
poll_s = 0.3
[[lpg.scales]]
name = "S3"
url = "tcp://127.0.0.1:{port}"
device_id = 1
poll_s = 0.3
""")
    scenario = station.dir / "scales.toml"
    scenario.write_text("""
[[scales]]
name = "S1"
rate_kg_s = 3.0
overshoot_kg = 0.04
cylinders = [16.2, 15.8]
[[scales]]
name = "S2"
rate_kg_s = 3.0
cylinders = [{ gross_kg = 16.0, overshoot_kg = 0.9 }]
[[scales]]
name = "S3"
rate_kg_s = 3.0
cylinders = [6.1]
""")
    config = str(station.config)
    registry = station.dir / "cylinders.csv"
    registry.write_text(REGISTRY)
    assert cli("lpg", "import", str(registry), "--config", config).returncode == 0
    added = cli("operators", "--config", config, "add", "op1", "--role", "operator", "--password-stdin",
                stdin=PASSWORD + "\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    station.start_sim("--rate", "0", "--scenario", str(scenario))
    wait_until(lambda: (station.dir / "tty-scales").exists(), 30, "the scales' pty link")
    station.start_daemon()

    def fill(barcode: str, scale: str, *more: str) -> tuple[int, dict[str, Any], str]:
        done = cli("lpg", "fill", barcode, "--scale", scale, "--config", config, "--user", "op1", "--password-stdin",
                   "--json", *more, stdin=PASSWORD + "\n")  # fmt: skip
        reply = json.loads(done.stdout) if done.stdout.strip() else {}
        return done.returncode, reply, done.stderr

    first: dict[str, Any] = {}

    def daemon_answers() -> bool:  # the daemon is up and its control API serves the scales
        code, reply, err = fill("LATE-1", "S1")
        first.update(reply, code=code, err=err)
        return code != 3

    wait_until(daemon_answers, 90, "the daemon's control API")
    assert first["code"] == 2 and first["status"] == "refused" and "overdue" in first["reason"], first
    for barcode, words in (("SCRAP-1", "scrapped"), ("NOPE-1", "not in the registry")):
        code, reply, err = fill(barcode, "S2")
        assert code == 2 and reply["status"] == "refused" and words in reply["reason"] and words in err, reply
    code, reply, _ = fill("OK-1", "S1")
    assert code == 0 and reply["status"] == "done" and reply["operator"] == "op1", reply
    code, reply, _ = fill("OVER-1", "S2")
    assert code == 0 and reply["status"] == "overfilled" and "over-filled" in reply["reason"], reply
    code, reply, _ = fill("OK-3", "S3")  # over TCP
    assert code == 0 and reply["status"] == "done" and reply["net_kg"] == pytest.approx(5.0, abs=0.2), reply

    # the refused cylinders never opened a valve; every stored fill is the simulator's, within resolution
    events = station.ledger_events()
    assert [e["scale"] for e in events if e["event"] == "scale_start"] == ["S1", "S2", "S3"]
    ledger = {e["scale"]: e for e in events if e["event"] == "scale_fill"}
    from edge.config import load_config

    db = load_config(station.config).storage.database
    stored = fills(db)
    assert [(r["barcode"], r["scale"], r["status"], r["operator"]) for r in stored] == [
        ("OK-1", "S1", "done", "op1"), ("OVER-1", "S2", "overfilled", "op1"), ("OK-3", "S3", "done", "op1")]
    for r in stored:
        resolution = SCALE_MAPS[MAP_OF[r["scale"]]].resolution_kg
        assert abs(r["gross_kg"] - ledger[r["scale"]]["final_gross_kg"]) <= resolution + 1e-9, (r, ledger)
        assert r["net_kg"] == pytest.approx(r["gross_kg"] - r["tare_kg"], abs=1e-6)

    # SIGKILL mid-fill: the fill is recorded interrupted at the next start, never silently gone
    code, reply, _ = fill("OK-2", "S1", "--no-wait")
    assert code == 0 and reply["status"] == "filling", reply
    wait_until(lambda: sum(e["event"] == "scale_start" for e in station.ledger_events()) == 4, 30, "the valve open")
    assert station.daemon is not None
    station.daemon.kill()
    [open_fill] = [r for r in fills(db) if r["barcode"] == "OK-2"]
    assert open_fill["status"] == "filling"
    station.start_daemon()
    wait_until(lambda: [r["status"] for r in fills(db) if r["barcode"] == "OK-2"] == ["interrupted"], 90,
               "the killed fill recorded as interrupted")  # fmt: skip
    wait_until(lambda: any(e["event"] == "scale_fill" and e["scale"] == "S1" and e["start_gross_kg"] == 15.8
                           for e in station.ledger_events()), 60, "the valve left open closed at the restart")  # fmt: skip
    store = cli("lpg", "store", "--config", config, "--json")
    counts = {(r["state"], r["spec"]): r["count"] for r in json.loads(store.stdout)}
    assert counts[("problem", "YSP-15")] == 2  # OVER-1 (over-filled) and OK-2 (interrupted)
    assert counts[("full", "YSP-15")] == 1 and counts[("full", "YSP-5")] == 1
