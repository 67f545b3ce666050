"""Chaos: the wall clock of a running station stepped by -1 day and by +1 day (libfaketime from Debian).

The daemon runs under libfaketime with its offset read from a file the test rewrites (the monotonic
clock is left real, as NTP or `date -s` leave it), while the simulator sells. Each step must raise the
`clock_step` alarm; a shift must not close while the clock is in doubt nor ever before it opened; the
daily counters must not take a day from a stepped clock; the doubt ends when the clock is put back or
when an operator acknowledges the alarm; a clock behind the stored order at start is a step too. At the
end every record the simulator produced is stored once, byte-identical.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import glob
import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from edge.control import messages as m
from edge.control.client import ControlClient
from tests.e2e.harness import (
    Process,
    Station,
    assert_export_matches_ledger,
    ledger_acks,
    ledger_records,
    wait_until,
)

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]

TRAFFIC = ("--seed", "1605", "--rate", "120", "--fuel-speed", "50000", "--p2p-interval-ms", "100")
PASSWORD = "pw-senior-clock"
LIBFAKETIME = sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))


@pytest.fixture
def station(tmp_path: Path) -> Any:
    st = Station.create(tmp_path)
    yield st
    st.stop()


def add_operator(station: Station, username: str, role: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "edge.cli", "operators", "--config", str(station.config), "add", username,
         "--role", role, "--password-stdin"],
        input=PASSWORD + "\n", text=True, check=True, capture_output=True, timeout=60,
    )  # fmt: skip


def start_daemon_with_fake_clock(station: Station, offset_file: Path) -> Process:
    assert LIBFAKETIME, "libfaketime is not installed (scripts/bootstrap.sh --test installs it)"
    env = {
        **__import__("os").environ,
        "LD_PRELOAD": LIBFAKETIME[0],
        "FAKETIME_TIMESTAMP_FILE": str(offset_file),
        "FAKETIME_CACHE_DURATION": "1",
        "FAKETIME_DONT_FAKE_MONOTONIC": "1",
    }
    station.daemon_runs += 1
    log = station.dir / f"station-{station.daemon_runs}.log"
    with log.open("ab") as out:
        popen = subprocess.Popen(
            [sys.executable, "-m", "edge.cli", "run", "--config", str(station.config)],
            stdout=out, stderr=subprocess.STDOUT, env=env,
        )  # fmt: skip
    station.daemon = Process("station", popen, log)
    return station.daemon


def snapshot(station: Station) -> dict[str, Any] | None:
    argv = [sys.executable, "-m", "edge.cli", "status", "--config", str(station.config), "--json"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        return None
    doc: dict[str, Any] = json.loads(result.stdout)["snapshot"]
    return doc


def clock_alarm(station: Station) -> dict[str, Any] | None:
    snap = snapshot(station)
    if snap is None:
        return None
    return next((a for a in snap["alarms"] if a["code"] == "clock_step"), None)


def no_clock_alarm(station: Station) -> bool:
    snap = snapshot(station)
    return snap is not None and not any(a["code"] == "clock_step" for a in snap["alarms"])


def socket_path(station: Station) -> Path:
    from edge.commands.status import socket_path as path_of

    return path_of(type("Args", (), {"socket": None, "config": str(station.config)})())


def control(station: Station, *requests: m.Request) -> list[m.Reply]:
    """Log in as the senior operator and send `requests` (their `token` filled in)."""

    async def run() -> list[m.Reply]:
        client = await ControlClient.connect(socket_path(station))
        try:
            login = await client.request(m.Login(username="senior1", password=PASSWORD))
            assert isinstance(login, m.LoginOk), login
            replies = []
            for request in requests:
                replies.append(
                    await client.request(type(request)(**{**m.to_json(request), "token": login.token}))
                )
            return replies
        finally:
            await client.close()

    return asyncio.run(run())


def acked(station: Station) -> int:
    return len(ledger_acks(station.ledger_events()))


def shifts(db: Path) -> list[tuple[int, str, str | None, int | None, int | None]]:
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT id, opened_at, closed_at, first_record_id, last_record_id FROM shifts ORDER BY id"
        ).fetchall()
    return [tuple(r) for r in rows]  # type: ignore[misc]


def test_clock_steps_of_minus_and_plus_one_day(station: Station) -> None:
    offset = station.dir / "faketime-offset"
    offset.write_text("+0\n")
    add_operator(station, "senior1", "senior")
    add_operator(station, "operator1", "operator")
    station.start_sim(*TRAFFIC)
    daemon = start_daemon_with_fake_clock(station, offset)
    wait_until(lambda: acked(station) >= 5, 120, "records flowing")
    [opened] = control(station, m.OpenShift(token=""))
    assert isinstance(opened, m.Shifts), opened

    # -1 day: NTP steps the clock back
    before = acked(station)
    offset.write_text("-1d\n")
    alarm = wait_until(lambda: clock_alarm(station), 60, "the clock_step alarm after -1 day")
    assert "-1 d" in alarm["message"] and alarm["severity"] == "critical"
    [refused] = control(station, m.CloseShift(token=""))
    assert isinstance(refused, m.Error) and "wall clock stepped by -1 d" in refused.message, refused
    wait_until(lambda: acked(station) >= before + 5, 120, "records still acknowledged during the doubt")

    offset.write_text("+0\n")  # corrected again
    wait_until(lambda: no_clock_alarm(station), 60, "the clock_step alarm cleared once the step is undone")
    [closed] = control(station, m.CloseShift(token="", handover_to="operator1"))
    assert isinstance(closed, m.Report) and closed.report is not None and closed.report.final

    # +1 day: a wrong time set by hand
    before = acked(station)
    offset.write_text("+1d\n")
    alarm = wait_until(lambda: clock_alarm(station), 60, "the clock_step alarm after +1 day")
    assert "+1 d" in alarm["message"]
    [refused] = control(station, m.CloseShift(token=""))
    assert isinstance(refused, m.Error) and "wall clock stepped by +1 d" in refused.message, refused
    wait_until(lambda: acked(station) >= before + 5, 120, "records still acknowledged during the doubt")
    [ack] = control(station, m.AckAlarm(token="", alarm_id=int(alarm["id"])))
    assert isinstance(ack, m.Ok), ack
    wait_until(lambda: no_clock_alarm(station), 60, "the clock trusted once the alarm is acknowledged")
    [closed] = control(station, m.CloseShift(token=""))
    assert isinstance(closed, m.Report), closed

    daemon.terminate()  # its exit status is the SIGTERM chaos test's business
    # Stopped, then started with the clock two days behind what it stored: a step while stopped.
    offset.write_text("-1d\n")
    daemon = start_daemon_with_fake_clock(station, offset)
    alarm = wait_until(lambda: clock_alarm(station), 90, "the clock_step alarm at start")
    assert "while the station was stopped" in alarm["message"]
    [refused] = control(station, m.OpenShift(token=""))
    assert isinstance(refused, m.Error), refused
    assert station.sim is not None
    station.sim.terminate()  # production ends; what the dispensers still hold is delivered
    sim = station.start_sim(*TRAFFIC, "--max-records", "1", "--exit-when-acked")
    wait_until(lambda: not sim.alive(), 180, "every record acknowledged")
    assert sim.popen.returncode == 0, sim.log_text()[-2000:]
    daemon.terminate()  # its exit status is the SIGTERM chaos test's business

    db = next(station.dir.rglob("station.db"))
    rows = shifts(db)
    assert len(rows) == 2, rows  # the shift refused at -1 day and at start was never recorded
    stamps = [t for r in rows for t in (r[1], r[2])]
    assert None not in stamps and stamps == sorted(stamps), rows  # nothing out of order
    assert rows[0][4] == rows[1][3], rows  # the second shift's records start where the first's ended
    with closing(sqlite3.connect(db)) as conn:
        days = sorted(r[0] for r in conn.execute("SELECT DISTINCT day FROM card_counters"))
    today = dt.date.today()
    assert set(days) <= {today.isoformat(), (today + dt.timedelta(days=1)).isoformat()}, days
    produced, acked_records = assert_export_matches_ledger(station)
    assert produced == acked_records == len(ledger_records(station.ledger_events()))
