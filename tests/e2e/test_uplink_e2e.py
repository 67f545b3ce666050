"""Store-and-forward across processes: simulator → daemon → real mosquitto → reference centre.

While the simulator keeps selling, the broker is stopped and restarted, and the daemon is SIGKILLed
mid-drain; afterwards the centre holds every ledger record exactly once after de-duplication, in
POS_TTC order per dispenser, byte-identical, and the station's outbox is empty.
"""

from __future__ import annotations

import json
import random
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Station, ledger_records, spawn, wait_until
from uplink.mosquitto import STATION_ACL, Mosquitto

pytestmark = pytest.mark.e2e

STATION_ID = "DEMO-0001"
STATION_PASSWORD = "station-secret"
CENTRE_PASSWORD = "centre-secret"
TRAFFIC = ("--seed", "11", "--rate", "120", "--fuel-speed", "50000", "--p2p-interval-ms", "100")


def centre_records(out: Path) -> list[dict[str, Any]]:
    if not out.exists():
        return []
    rows = []
    for line in out.read_text().splitlines():
        if line.strip():
            msg = json.loads(line)
            if msg["payload"].get("type", msg["topic"].rsplit("/", 1)[-1]) in ("record", "records"):
                rows.append(msg)
    return rows


def outbox_depth(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
        return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])


@pytest.fixture
def broker(tmp_path: Path) -> Mosquitto:
    mq = Mosquitto(
        tmp_path / "broker", users={STATION_ID: STATION_PASSWORD, "centre": CENTRE_PASSWORD}, acl=STATION_ACL
    )
    mq.start()
    yield mq  # type: ignore[misc]
    mq.stop()


def test_centre_gets_every_record_once_through_broker_outage_and_daemon_kills(
    tmp_path: Path, broker: Mosquitto
) -> None:
    station = Station.create(tmp_path / "station")
    (station.dir / "uplink.password").write_text(STATION_PASSWORD)
    (station.dir / "uplink.password").chmod(0o600)  # the daemon refuses a password others can read
    with station.config.open("a") as f:
        f.write(
            f'\n[uplink]\nurl = "{broker.url}"\nallow_plaintext = true\npassword_file = "uplink.password"\n'
        )
    out = tmp_path / "centre.jsonl"
    centre = spawn(
        "centre-sim",
        [
            sys.executable,
            "-m",
            "edge.cli",
            "centre-sim",
            "listen",
            "--url",
            broker.url,
            "--username",
            "centre",
            "--password",
            CENTRE_PASSWORD,
            "--no-share",
            "--out",
            str(out),
        ],
        tmp_path / "centre.log",
    )
    station.extra.append(centre)
    try:
        wait_until(
            lambda: "subscribed" in centre.log_text() or not centre.alive(), 30, "the centre to subscribe"
        )
        assert centre.alive(), centre.log_text()
        station.start_sim(*TRAFFIC, "--max-records", "240", "--exit-when-acked")
        station.start_daemon()
        wait_until(lambda: len(centre_records(out)) >= 20, 60, "records at the centre")

        broker.stop()  # outage: the daemon keeps polling and storing; the outbox grows
        produced = len(ledger_records(station.ledger_events()))
        wait_until(
            lambda: len(ledger_records(station.ledger_events())) >= produced + 30,
            60,
            "sales during the outage",
        )
        broker.start()

        rng = random.Random(5)
        for _ in range(3):  # SIGKILL the daemon while it drains the backlog
            wait_until(lambda: len(centre_records(out)) > 0, 30, "the drain to resume")
            deadline = time.monotonic() + rng.uniform(0.3, 1.5)
            while time.monotonic() < deadline:
                time.sleep(0.02)
            assert station.daemon is not None
            station.daemon.kill()
            station.start_daemon()

        wait_until(
            lambda: station.sim is not None and not station.sim.alive(), 240, "every record acknowledged"
        )
        assert station.sim is not None and station.sim.popen.returncode == 0, station.sim.log_text()[-2000:]
        database = station.dir / "station.db"
        expected = ledger_records(station.ledger_events())
        wait_until(
            lambda: len(centre_records(out)) >= len(expected), 120, "the centre to receive the backlog"
        )
        wait_until(lambda: outbox_depth(database) == 0, 60, "an empty outbox")
        status = subprocess.run(
            [sys.executable, "-m", "edge.cli", "status", "--config", str(station.config)],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert status.returncode == 0, status.stderr
        # The outbox figures are visible (new alarms and events may be queued at any moment).
        assert re.search(
            rf"Centre: connected \({re.escape(broker.url)}\); outbox \d+ messages", status.stdout
        ), status.stdout
    finally:
        station.stop()

    got = centre_records(out)
    keys = [(m["payload"]["line"], m["payload"]["dispenser"], m["payload"]["pos_ttc"]) for m in got]
    assert len(keys) == len(set(keys)), "the centre kept a duplicate"
    assert set(keys) == set(expected)
    for m in got:
        key = (m["payload"]["line"], m["payload"]["dispenser"], m["payload"]["pos_ttc"])
        assert m["payload"]["raw"].lower() == expected[key].lower()
        assert m["payload"]["station"] == STATION_ID
    last: dict[tuple[str, int], int] = {}
    for line, dispenser, pos_ttc in keys:
        assert pos_ttc > last.get((line, dispenser), 0), f"out of order at {line}/{dispenser}: {pos_ttc}"
        last[(line, dispenser)] = pos_ttc
