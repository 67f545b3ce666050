"""Desk operations reach the centre once each: daemon → real mosquitto → reference centre.

Card statuses are changed at the desk through the CLI (control API, operator login) while the broker is
down and the daemon is SIGKILLed after one of them; when the broker is back the centre holds one `desk`
message per operation after de-duplication, each with the operation's state, and the outbox is empty.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Station, spawn, wait_until
from tests.e2e.test_uplink_e2e import CENTRE_PASSWORD, STATION_PASSWORD, broker, outbox_depth
from uplink.mosquitto import Mosquitto

pytestmark = pytest.mark.e2e
__all__ = ["broker"]

PASSWORD = "desk-pass-2"
CARDS = ("10000101100000000701", "10000101100000000702")


def centre_desk(out: Path) -> list[dict[str, Any]]:
    if not out.exists():
        return []
    rows = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    return [r for r in rows if r["payload"].get("type") == "desk"]


def desk(station: Station, *args: str) -> dict[str, Any]:
    argv = [sys.executable, "-m", "edge.cli", "desk", *args, "--config", str(station.config), "--user", "ann",
            "--password-stdin", "--json"]  # fmt: skip
    result = subprocess.run(argv, input=PASSWORD + "\n", capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    answer: dict[str, Any] = json.loads(result.stdout)
    return answer


def start_daemon(station: Station) -> None:
    socket = station.dir / "control.sock"
    socket.unlink(missing_ok=True)
    daemon = station.start_daemon()
    wait_until(lambda: socket.exists() or not daemon.alive(), 60, "the daemon's control socket")
    assert daemon.alive(), daemon.log_text()[-3000:]


def test_each_desk_operation_reaches_the_centre_once(tmp_path: Path, broker: Mosquitto) -> None:
    station = Station.create(tmp_path / "station")
    (station.dir / "uplink.password").write_text(STATION_PASSWORD)
    (station.dir / "uplink.password").chmod(0o600)
    with station.config.open("a") as f:
        f.write(
            f'\n[uplink]\nurl = "{broker.url}"\nallow_plaintext = true\npassword_file = "uplink.password"\n'
        )
    added = subprocess.run(
        [sys.executable, "-m", "edge.cli", "operators", "--config", str(station.config), "add", "ann", "--role",
         "senior", "--password-stdin"], input=PASSWORD + "\n", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    out = tmp_path / "centre.jsonl"
    centre = spawn(
        "centre-sim",
        [sys.executable, "-m", "edge.cli", "centre-sim", "listen", "--url", broker.url, "--username", "centre",
         "--password", CENTRE_PASSWORD, "--no-share", "--out", str(out)],
        tmp_path / "centre.log",
    )  # fmt: skip
    station.extra.append(centre)
    try:
        wait_until(
            lambda: "subscribed" in centre.log_text() or not centre.alive(), 30, "the centre to subscribe"
        )
        station.start_sim("--rate", "0")
        start_daemon(station)
        first = desk(station, "lost", CARDS[0], "--reason", "wallet stolen")
        wait_until(lambda: len(centre_desk(out)) == 1, 60, "the first operation at the centre")

        broker.stop()  # the centre is unreachable: the operations wait in the outbox
        ops = [desk(station, "cancel", CARDS[1]), desk(station, "reinstate", CARDS[0])]
        assert station.daemon is not None
        station.daemon.kill()  # SIGKILL with the messages queued
        start_daemon(station)
        ops.append(desk(station, "lost", "10000101100000000703"))
        broker.start()

        keys = {o["op_key"] for o in [first, *ops]}
        wait_until(lambda: {m["payload"]["op_key"] for m in centre_desk(out)} == keys, 120, "every operation")
        wait_until(lambda: outbox_depth(station.dir / "station.db") == 0, 60, "an empty outbox")
        received = centre_desk(out)
        assert len(received) == len(keys) == 4  # once each after de-duplication
        by_key = {m["payload"]["op_key"]: m["payload"] for m in received}
        assert by_key[first["op_key"]]["op"] == "lost" and by_key[first["op_key"]]["asn"] == CARDS[0]
        assert {p["op"] for p in by_key.values()} == {"lost", "cancel", "reinstate"}
        assert all(p["state"] == "done" and p["operator"] == "ann" for p in by_key.values())
    finally:
        station.stop()
