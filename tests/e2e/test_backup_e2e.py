"""Backup while the simulator sells and the daemon writes, then restore on another data folder.

The backup must open, pass `PRAGMA integrity_check` and hold every record the dispensers had an
acknowledgement for before the backup began (byte for byte, from the ledger); restored into another data
folder, it must give the same reports of the closed days as the original station.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.harness import Station, ledger_acks, ledger_records, wait_until

pytestmark = pytest.mark.e2e

TRAFFIC = ("--seed", "5", "--rate", "300", "--fuel-speed", "2000", "--p2p-interval-ms", "100")
PASSWORD = "close-day-9"


def station_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", *args], input=stdin, capture_output=True, text=True, timeout=180
    )


@pytest.fixture
def station(tmp_path: Path) -> Station:
    st = Station.create(tmp_path / "a")
    yield st  # type: ignore[misc]
    st.stop()


def test_backup_while_selling_holds_every_acknowledged_record_and_restores_the_closed_days(
    station: Station, tmp_path: Path
) -> None:
    boundary = (dt.datetime.now() + dt.timedelta(seconds=15)).replace(microsecond=0)
    day = (boundary - dt.timedelta(days=1)).date().isoformat()
    with station.config.open("a") as f:
        f.write(f'\n[reports]\nday_boundary = "{boundary:%H:%M:%S}"\n')
    cfg = str(station.config)
    assert station_cli("operators", "--config", cfg, "add", "boss", "--role", "admin", "--password-stdin",
                       stdin=PASSWORD + "\n").returncode == 0  # fmt: skip
    station.start_sim(*TRAFFIC)
    station.start_daemon()
    wait_until(lambda: dt.datetime.now() > boundary + dt.timedelta(seconds=2), 60, "the day boundary")
    wait_until(
        lambda: station_cli("day", "close", day, "--config", cfg, "--user", "boss", "--password-stdin",
                            stdin=PASSWORD + "\n").returncode == 0,
        180, "the day to close",
    )  # fmt: skip
    wait_until(lambda: len(ledger_acks(station.ledger_events())) >= 40, 120, "40 acknowledged records")

    acked_before = ledger_acks(station.ledger_events())
    produced = ledger_records(station.ledger_events())
    made = station_cli("backup", "--config", cfg)
    assert made.returncode == 0, made.stderr
    assert (
        station.sim is not None
        and station.sim.alive()
        and station.daemon is not None
        and station.daemon.alive()
    )
    more = len(acked_before) + 10
    wait_until(
        lambda: len(ledger_acks(station.ledger_events())) >= more, 120, "sales to go on after the backup"
    )

    from edge.config import load_config

    sets = sorted((load_config(station.config).storage.database.parent / "backups").iterdir())
    backup = sets[-1]
    copy = sqlite3.connect(f"{(backup / 'station.db').as_uri()}?mode=ro", uri=True)
    try:
        assert copy.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        held = {
            (line, disp, ttc): bytes(raw).hex()
            for line, disp, ttc, raw in copy.execute(
                "SELECT line, dispenser, pos_ttc, raw FROM transactions WHERE conflict_of IS NULL"
            )
        }
    finally:
        copy.close()
    missing = sorted(k for k in acked_before if k not in held)
    assert not missing, f"acknowledged before the backup but not in it: {missing[:5]}"
    assert all(held[k] == produced[k].lower() for k in acked_before)
    assert station_cli("backup", "--config", cfg, "--verify", str(backup)).returncode == 0

    # the original's report of the closed day, then the same from the backup restored elsewhere
    original = station_cli("report", "day", day, "--config", cfg, "--format", "csv")
    assert original.returncode == 0, original.stderr
    assert original.stdout.count("\n") > 5
    other = tmp_path / "b"
    other.mkdir()
    text = station.config.read_text().replace(str(station.dir.resolve()), str(other.resolve()))
    (other / "station.toml").write_text(text)
    restored = station_cli("restore", str(backup), "--config", str(other / "station.toml"))
    assert restored.returncode == 0, restored.stderr
    again = station_cli("report", "day", day, "--config", str(other / "station.toml"), "--format", "csv")
    assert again.returncode == 0, again.stderr
    assert again.stdout == original.stdout
    closes = station_cli("query", "closes", "--config", str(other / "station.toml"), "--format", "csv")
    assert day in closes.stdout

    # restore refuses while the daemon of that folder runs, and a backup newer than the code
    refused = station_cli("restore", str(backup), "--config", cfg)
    assert refused.returncode == 2 and "running" in refused.stderr
    newer = tmp_path / "newer.db"
    conn = sqlite3.connect(backup / "station.db")
    try:
        conn.execute(f"VACUUM INTO '{newer}'")
    finally:
        conn.close()
    conn = sqlite3.connect(newer)
    conn.execute("PRAGMA user_version = 9999")
    conn.close()
    too_new = station_cli("restore", str(newer), "--config", str(other / "station.toml"))
    assert too_new.returncode == 1 and "newer" in too_new.stderr.lower(), too_new.stderr
