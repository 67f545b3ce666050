"""What a plain MQTT subscriber sees: the real daemon and simulator, a real mosquitto, and a `mosquitto_sub`
process (not the project's own consumer) on `station/+/events` and `station/+/records`.

The simulator sells on a multi-drop and a point-to-point dispenser, then each re-sends its last record
with other bytes (spec B8). The subscriber must receive the nozzle totals of every dispenser (0x38,
read when each comes online), every record under its key, and each conflicting copy under its OWN key
(`rec:…:c:{digest}`, `conflict: true`) so a centre that drops duplicates by key keeps it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Process, Station, wait_until
from uplink.mosquitto import STATION_ACL, Mosquitto

pytestmark = pytest.mark.e2e

STATION_ID = "DEMO-0001"
STATION_PASSWORD = "station-secret"
CENTRE_PASSWORD = "centre-secret"
SIM_OPTIONS = ("--rate", "0", "--fuel-speed", "3000", "--p2p-interval-ms", "100", "--seed", "3")
CARDS = {"bus1": "10000101100000000601", "p2p1": "10000101100000000602"}
PLACES = {"bus1": (1, 1), "p2p1": (4, 7)}
DISPENSERS = {("bus1", 1), ("bus1", 2), ("bus1", 3), ("p2p1", 4)}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    mq = Mosquitto(
        tmp_path / "broker", users={STATION_ID: STATION_PASSWORD, "centre": CENTRE_PASSWORD}, acl=STATION_ACL
    )
    mq.start()
    yield mq
    mq.stop()


def subscriber(broker: Mosquitto, out: Path, log: Path) -> Process:
    binary = shutil.which("mosquitto_sub")
    assert binary is not None, "mosquitto_sub is not installed (Debian package mosquitto-clients)"
    argv = [
        binary, "-h", broker.host, "-p", str(broker.port), "-u", "centre", "-P", CENTRE_PASSWORD,
        "-i", "plain-centre", "-V", "mqttv5", "-q", "1",
        "-t", "station/+/events", "-t", "station/+/records", "-F", "%t %p",
    ]  # fmt: skip
    with out.open("wb") as sink, log.open("ab") as errors:
        popen = subprocess.Popen(argv, stdout=sink, stderr=errors)
    return Process("mosquitto_sub", popen, log)


def received(out: Path) -> list[tuple[str, dict[str, Any]]]:
    if not out.exists():
        return []
    messages = []
    for line in out.read_text(encoding="utf-8").splitlines():
        topic, _, payload = line.partition(" ")
        if payload.startswith("{") and payload.endswith("}"):
            messages.append((topic, json.loads(payload)))
    return messages


def scenario() -> str:
    cards = "".join(
        f'[[cards]]\nasn = "{asn}"\nkind = "user"\nbalance = 100000\n\n' for asn in CARDS.values()
    )
    steps = []
    for line, (disp, nzn) in PLACES.items():
        base = f'line = "{line}"\ndispenser = {disp}\n'
        for action, extra in (
            ("insert_card", f'card = "{CARDS[line]}"\n'),
            ("lift", ""),
            ("fuel", "amount = 1500\n"),
            ("hang_up", ""),
            ("pull_card", ""),
        ):
            steps.append(f'[[timeline]]\n{base}nozzle = {nzn}\naction = "{action}"\n{extra}')
        steps.append(f'[[timeline]]\n{base}action = "resend_altered"\n')
    return cards + "\n".join(steps)


def test_a_plain_subscriber_gets_totals_and_conflicting_copies(tmp_path: Path, broker: Mosquitto) -> None:
    out = tmp_path / "mosquitto_sub.out"
    sub = subscriber(broker, out, tmp_path / "mosquitto_sub.log")
    station = Station.create(tmp_path / "station")
    station.extra.append(sub)
    (station.dir / "uplink.password").write_text(STATION_PASSWORD)
    (station.dir / "uplink.password").chmod(0o600)  # the daemon refuses a password others can read
    with station.config.open("a") as f:
        f.write(
            f'\n[uplink]\nurl = "{broker.url}"\nallow_plaintext = true\npassword_file = "uplink.password"\n'
        )
    (station.dir / "scenario.toml").write_text(scenario())
    try:
        wait_until(
            lambda: "Received SUBSCRIBE from plain-centre" in broker.log_tail(200_000) or not sub.alive(),
            30,
            "mosquitto_sub to subscribe",
        )
        assert sub.alive(), sub.log_text()
        station.start_sim(*SIM_OPTIONS, "--scenario", str(station.dir / "scenario.toml"), "--exit-when-acked")
        station.start_daemon()
        wait_until(lambda: not station.sim.alive(), 90, "the sales and the re-sent copies to be acked")  # type: ignore[union-attr]
        assert station.sim is not None and station.sim.popen.returncode == 0, station.sim.log_text()[-3000:]
        altered = {
            (e["line"], e["dispenser"], e["pos_ttc"]): e["raw"]
            for e in station.ledger_events()
            if e["event"] == "record_altered"
        }
        assert {(line, disp) for line, disp, _ in altered} == {(ln, d) for ln, (d, _) in PLACES.items()}

        def conflicts() -> list[dict[str, Any]]:
            return [p for t, p in received(out) if p.get("type") == "record" and p.get("conflict")]

        def totals() -> set[tuple[str, int]]:
            return {(p["line"], p["dispenser"]) for t, p in received(out) if p.get("type") == "totals"}

        wait_until(lambda: len(conflicts()) == len(altered), 60, "the conflicting copies at the subscriber")
        wait_until(lambda: totals() >= DISPENSERS, 60, "the nozzle totals of every dispenser")
    finally:
        station.stop()

    messages = received(out)
    records = [p for t, p in messages if p.get("type") == "record"]
    for (line, disp, pos_ttc), raw in altered.items():
        key = f"rec:{STATION_ID}:{line}:{disp}:{pos_ttc}"
        originals = [p for p in records if p["key"] == key]
        copies = [p for p in records if p["key"].startswith(key + ":c:")]
        assert len(originals) >= 1 and not originals[0]["conflict"], (key, records)
        assert len({p["key"] for p in copies}) == 1, copies
        copy = copies[0]
        assert copy["conflict"] is True and copy["raw"].lower() == raw.lower()
        assert copy["raw"] != originals[0]["raw"]
    for topic, payload in messages:
        expected = "records" if payload.get("type") == "record" else "events"
        assert topic == f"station/{STATION_ID}/{expected}"
    for line, disp in DISPENSERS:
        reading = next(
            p
            for t, p in messages
            if p.get("type") == "totals" and (p["line"], p["dispenser"]) == (line, disp)
        )
        assert reading["key"].startswith(f"totals:{STATION_ID}:{line}:{disp}:")
        assert reading["nozzles"] and all(n["v_tot"] > 0 for n in reading["nozzles"])
    conflict_alarms = [
        p for t, p in messages if p.get("type") == "alarm" and p.get("code") == "record_conflict"
    ]
    assert {p["source"] for p in conflict_alarms} == {f"{ln}/{d}" for ln, (d, _) in PLACES.items()}
