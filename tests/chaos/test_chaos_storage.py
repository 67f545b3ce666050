"""Chaos: damaged storage at start-up. `station run` exits with code 3 (storage) and does not hang.

A hang was the failure: the CRITICAL line logged, then the database's worker thread kept the process
alive. Each test waits (generously) for that CRITICAL line, then gives the process 5 s to be gone.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import time
from pathlib import Path

import pytest

from edge.commands.run import EXIT_STORAGE
from storage.lists import LOCK_NAME
from tests.e2e.harness import Process, Station, wait_until

pytestmark = pytest.mark.chaos

EXIT_WITHIN_S = 5.0
PAGE_GARBAGE = bytes(range(256)) * 16  # one 4 KiB page of bytes SQLite cannot take for a b-tree page


def exit_after_critical(daemon: Process) -> int:
    """The daemon's exit code; it must come within EXIT_WITHIN_S of its CRITICAL log line."""
    wait_until(lambda: "CRITICAL" in daemon.log_text() or not daemon.alive(), 120, "the CRITICAL line")
    assert "CRITICAL" in daemon.log_text(), daemon.log_text()
    logged = time.monotonic()
    while daemon.alive() and time.monotonic() < logged + EXIT_WITHIN_S:
        time.sleep(0.05)
    assert not daemon.alive(), f"still running {EXIT_WITHIN_S} s after: {daemon.log_text()[-2000:]}"
    return int(daemon.popen.returncode)


@pytest.fixture
def station_with_sales(tmp_path: Path) -> Station:
    """A station whose daemon stored some sales and stopped; the simulator stopped too."""
    station = Station.create(tmp_path)
    try:
        station.start_sim("--seed", "5", "--rate", "60", "--fuel-speed", "2000")
        daemon = station.start_daemon()
        wait_until(lambda: sum(e["event"] == "ack" for e in station.ledger_events()) >= 3, 120, "3 acks")
        assert daemon.terminate() == 0
    finally:
        station.stop()
    return station


def corrupt_table_root(db: Path, table: str) -> None:
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        (root,) = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    conn.close()
    with db.open("r+b") as f:
        f.seek((root - 1) * page_size)
        f.write(PAGE_GARBAGE[:page_size])
        f.flush()
        os.fsync(f.fileno())


def test_a_corrupted_transactions_page_makes_station_run_exit_3(station_with_sales: Station) -> None:
    station = station_with_sales
    corrupt_table_root(station.dir / "station.db", "transactions")
    station.start_sim("--seed", "6", "--rate", "60", "--fuel-speed", "2000")
    try:
        daemon = station.start_daemon()
        assert exit_after_critical(daemon) == EXIT_STORAGE
    finally:
        station.stop()
    assert "malformed" in daemon.log_text()
    assert "Traceback" not in daemon.log_text()


def test_a_held_lists_lock_makes_station_run_exit_3(tmp_path: Path) -> None:
    station = Station.create(tmp_path)
    lists = station.dir / "lists"
    lists.mkdir(parents=True, exist_ok=True)
    fd = os.open(lists / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # another process holds the lists directory
        station.start_sim()
        daemon = station.start_daemon()
        assert exit_after_critical(daemon) == EXIT_STORAGE
    finally:
        os.close(fd)
        station.stop()
    assert "lock" in daemon.log_text()
    assert "Traceback" not in daemon.log_text()
