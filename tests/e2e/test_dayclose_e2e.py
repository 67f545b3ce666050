"""The daily close under load: dispensers sell across the day boundary, the daemon is SIGKILLed in the
middle of the closing transaction, and the day ends up either not closed at all or closed with every one
of its records — checked against the simulator's ledger.

The day boundary is set a few seconds ahead of now, so the business day that ends there is the one
closed while the simulator keeps selling into the next.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from protocol.codec import decode_message
from protocol.messages import Direction, RecordUpload
from tests.e2e.harness import Station, wait_until

pytestmark = pytest.mark.e2e

TRAFFIC = ("--seed", "31", "--rate", "240", "--fuel-speed", "400", "--p2p-interval-ms", "100")
PASSWORD = "close-day-9"
LEAD_S = 20


def station_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", *args], input=stdin, capture_output=True, text=True, timeout=120
    )


def ledger_day(station: Station, start: dt.datetime, end: dt.datetime) -> tuple[int, int, int]:
    """Counted records of the ledger whose TIME is in [start, end): (count, volume, amount)."""
    count = volume = amount = 0
    for e in station.ledger_events():
        if e["event"] != "record":
            continue
        msg = decode_message(b"\x32" + bytes.fromhex(e["raw"]), Direction.P)
        assert isinstance(msg, RecordUpload)
        rec, kind = msg.record, msg.record.t_type & 0x0F
        if (
            not isinstance(rec.time, dt.datetime)
            or not start <= rec.time < end
            or kind not in (0, 1, 3, 4, 7, 9)
        ):
            continue
        count += 1
        volume += rec.vol if kind in (0, 1, 7, 9) else 0
        amount += rec.amn
    return count, volume, amount


def ledger_times(station: Station) -> list[dt.datetime]:
    out = []
    for e in station.ledger_events():
        if e["event"] == "record":
            msg = decode_message(b"\x32" + bytes.fromhex(e["raw"]), Direction.P)
            assert isinstance(msg, RecordUpload)
            if isinstance(msg.record.time, dt.datetime):
                out.append(msg.record.time)
    return out


def db_path(station: Station) -> Path:
    from edge.config import load_config

    return load_config(station.config).storage.database


def closes(station: Station) -> list[sqlite3.Row]:
    conn = sqlite3.connect(f"{db_path(station).as_uri()}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute("SELECT * FROM day_closes").fetchall()
    finally:
        conn.close()


def audited_closes(station: Station) -> list[str]:
    conn = sqlite3.connect(f"{db_path(station).as_uri()}?mode=ro", uri=True)
    try:
        return [
            r[0]
            for r in conn.execute(
                "SELECT target FROM audit_log WHERE action = 'close_day' AND outcome = 'ok'"
            )
        ]
    finally:
        conn.close()


@pytest.fixture
def station(tmp_path: Path) -> Station:
    st = Station.create(tmp_path)
    yield st  # type: ignore[misc]
    st.stop()


def test_close_under_load_survives_sigkill_and_closes_with_every_record(
    station: Station, monkeypatch: pytest.MonkeyPatch
) -> None:
    boundary = (dt.datetime.now() + dt.timedelta(seconds=LEAD_S)).replace(microsecond=0)
    day = (boundary - dt.timedelta(days=1)).date()
    day_start = boundary - dt.timedelta(days=1)
    with station.config.open("a") as f:
        f.write(f'\n[reports]\nday_boundary = "{boundary:%H:%M:%S}"\n')
    added = station_cli("operators", "--config", str(station.config), "add", "boss", "--role", "admin",
                        "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    close_args = (
        "day",
        "close",
        day.isoformat(),
        "--config",
        str(station.config),
        "--user",
        "boss",
        "--password-stdin",
        "--language",
        "en",  # a field engineer's English (the station's own is Chinese)
    )

    station.start_sim(*TRAFFIC)
    monkeypatch.setenv("STATION_FAULT_CLOSE_PAUSE_S", "60")
    daemon = station.start_daemon()
    monkeypatch.delenv("STATION_FAULT_CLOSE_PAUSE_S")
    # selling on both sides of the boundary
    wait_until(lambda: any(t >= boundary for t in ledger_times(station)), 120, "sales after the day boundary")
    assert any(day_start <= t < boundary for t in ledger_times(station)), "sales before the boundary"

    # 1. the close pauses inside its transaction; SIGKILL the daemon there
    def attempt() -> bool:
        cli = subprocess.Popen([sys.executable, "-m", "edge.cli", *close_args], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
        assert cli.stdin is not None
        cli.stdin.write(PASSWORD + "\n")
        cli.stdin.close()
        try:
            wait_until(
                lambda: "pausing" in daemon.log_text() or cli.poll() is not None, 60, "the close to start"
            )
        finally:
            if "pausing" not in daemon.log_text():
                cli.wait(60)
        return "pausing" in daemon.log_text()

    wait_until(attempt, 120, "a close that is not refused (sales in progress before the boundary)")
    daemon.popen.send_signal(signal.SIGKILL)
    daemon.popen.wait()
    assert closes(station) == [], "a close killed before COMMIT left a closed day behind"
    assert audited_closes(station) == []

    # 2. restarted: the close goes through (retried while sales of the day are still coming in)
    daemon = station.start_daemon()
    outcome: dict[str, str] = {}

    def close_once() -> bool:
        result = station_cli(*close_args, stdin=PASSWORD + "\n")
        outcome["last"] = result.stdout + result.stderr
        return result.returncode == 0

    wait_until(close_once, 180, "the day to close")
    assert f"business day {day.isoformat()} closed" in outcome["last"], outcome["last"]
    again = station_cli(*close_args, stdin=PASSWORD + "\n")
    assert again.returncode == 1 and "already closed" in again.stderr, again.stderr
    wait_until(
        lambda: any(t >= boundary + dt.timedelta(seconds=5) for t in ledger_times(station)), 60, "more sales"
    )
    station.sim.terminate()  # type: ignore[union-attr]
    daemon.terminate()

    rows = closes(station)
    assert [r["day"] for r in rows] == [day.isoformat()]
    assert audited_closes(station) == [f"day {day.isoformat()}"]
    frozen = (rows[0]["records"], rows[0]["volume"], rows[0]["amount"])
    assert frozen[0] > 0
    # every record the dispensers made in that day is in the frozen figures: none came late
    assert frozen == ledger_day(station, day_start, boundary)
    # the day report says so, verified against the records, and the next day was open for business
    report = station_cli(
        "report", "day", day.isoformat(), "--config", str(station.config), "--format", "json"
    )
    assert report.returncode == 0, report.stderr
    doc = json.loads(report.stdout)
    assert doc["closed"]["verified"] is True
    assert (doc["total"]["count"], doc["total"]["volume"], doc["total"]["amount"]) == frozen
    assert ledger_day(station, boundary, boundary + dt.timedelta(days=1))[0] > 0
