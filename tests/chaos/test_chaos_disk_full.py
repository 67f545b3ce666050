"""Chaos: the database's filesystem full for 60 s under traffic.

The daemon's log grows by less than 100 KB (one line per dispenser per 30 s, no tracebacks), one
`journal_failed` alarm is stored per affected dispenser and cleared once space returns, and every
record the simulator made is then stored, byte for byte (ledger vs export).

The size-limited filesystem is a small tmpfs (mounting needs root: CI runs as root); where mounting is
not allowed the test is skipped with the reason.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Station, assert_export_matches_ledger, wait_until

pytestmark = pytest.mark.chaos

FULL_FOR_S = 60.0
LOG_GROWTH_LIMIT_BYTES = 100_000
TMPFS_SIZE = "16m"


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={TMPFS_SIZE}", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a size-limited tmpfs here: {result.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def fill(disk: Path) -> Path:
    """Write one file until the filesystem is full; returns it (remove it to free the space)."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 16, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def acked(station: Station) -> set[tuple[str, int, int]]:
    return {(e["line"], e["dispenser"], e["pos_ttc"]) for e in station.ledger_events() if e["event"] == "ack"}


def produced(station: Station) -> dict[tuple[str, int, int], str]:
    return {
        (e["line"], e["dispenser"], e["pos_ttc"]): e["at"]
        for e in station.ledger_events()
        if e["event"] == "record"
    }


def test_sixty_seconds_of_full_disk_under_traffic(tmp_path: Path, small_disk: Path) -> None:
    station = Station.create(tmp_path / "station")
    text = station.config.read_text().replace(
        'database = "station.db"', f'database = "{small_disk}/station.db"'
    )
    station.config.write_text(text)
    try:
        station.start_sim("--seed", "11", "--rate", "120", "--fuel-speed", "4000", "--p2p-interval-ms", "200")
        daemon = station.start_daemon()
        wait_until(lambda: len(acked(station)) >= 4, 120, "the first records stored")
        filler = fill(small_disk)
        full_since = time.monotonic()
        log_before = daemon.log.stat().st_size
        before = set(produced(station))
        # the disk is full: records are made and not acknowledged
        wait_until(lambda: set(produced(station)) - before - acked(station), 120, "a record not stored")
        wait_until(
            lambda: time.monotonic() >= full_since + FULL_FOR_S, FULL_FOR_S + 5, "the full-disk period"
        )
        log_growth = daemon.log.stat().st_size - log_before
        unstored = set(produced(station)) - acked(station)
        affected = {f"{line}/{pos_p}" for line, pos_p, _ in unstored}
        filler.unlink()  # space returns
        station.sim.popen.send_signal(signal.SIGUSR1)  # type: ignore[union-attr]  # then production halts
        wait_until(lambda: any(e["event"] == "production_done" for e in station.ledger_events()), 180, "halt")
        wait_until(lambda: set(produced(station)) <= acked(station), 180, "every record acknowledged")
        assert daemon.alive(), daemon.log_text()[-3000:]
        wait_until(lambda: not _active_journal_alarms(small_disk / "station.db"), 60, "the alarms cleared")
        assert daemon.terminate() == 0
    finally:
        station.stop()
    log_text = daemon.log_text()
    assert log_growth < LOG_GROWTH_LIMIT_BYTES, f"the log grew by {log_growth} bytes while the disk was full"
    assert "Traceback" not in log_text
    alarms = _journal_alarms(small_disk / "station.db")
    assert affected, "no dispenser had a record waiting while the disk was full"
    per_source = {source: [a for a in alarms if a[0] == source] for source in affected}
    assert all(len(rows) == 1 for rows in per_source.values()), per_source
    assert all(cleared is not None for _, cleared in alarms), alarms
    assert {source for source, _ in alarms} <= {f"{k[0]}/{k[1]}" for k in produced(station)}
    assert_export_matches_ledger(station)


def _journal_alarms(db: Path) -> list[tuple[str, str | None]]:
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT source, cleared_at FROM alarms WHERE code = 'journal_failed' ORDER BY id")
        return [(str(r[0]), r[1]) for r in rows]


def _active_journal_alarms(db: Path) -> list[tuple[str, str | None]]:
    return [a for a in _journal_alarms(db) if a[1] is None]
