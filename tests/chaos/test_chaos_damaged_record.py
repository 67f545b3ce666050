"""Chaos: 64 random bytes written inside a `transactions` page of a station that has been selling.

SQLite's own checks see nothing (`PRAGMA quick_check` is `ok`); the station must: `station export`
names each damaged record, the daemon names it at start (log and alarm), asks the dispenser for it again
(0x3E) and takes the answer back because it matches the stored checksum. At the end the export matches
the simulator's ledger byte for byte.
"""

from __future__ import annotations

import random
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.harness import Station, assert_export_matches_ledger, ledger_acks, ledger_records, wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.chaos]

TRAFFIC = ("--seed", "1603", "--rate", "240", "--fuel-speed", "50000", "--p2p-interval-ms", "100")


@pytest.fixture
def station(tmp_path: Path) -> Any:
    st = Station.create(tmp_path)
    yield st
    st.stop()


def everything_acked(station: Station, at_least: int) -> bool:
    events = station.ledger_events()
    produced = set(ledger_records(events))
    return len(produced) >= at_least and produced <= ledger_acks(events)


def export_cli(station: Station) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "edge.cli", "export", "transactions", "--config", str(station.config)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_random_bytes_in_a_transactions_page_are_named_and_recovered(station: Station) -> None:
    station.start_sim(*TRAFFIC, "--max-records", "40")
    daemon = station.start_daemon()
    wait_until(lambda: everything_acked(station, 40), 180, "40 records produced and acknowledged")
    daemon.terminate()  # its exit status is the SIGTERM chaos test's business

    db = station.dir / "data" / "station.db"
    if not db.exists():
        db = next(station.dir.rglob("station.db"))
    with closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    records = ledger_records(station.ledger_events())
    victims = [
        next(key for key in sorted(records) if key[0] == "bus1" and key[2] > 3),
        next(key for key in sorted(records) if key[0] == "p2p1" and key[2] > 3),
    ]
    data = bytearray(db.read_bytes())
    rng = random.Random(64)
    for key in victims:
        offset = data.index(bytes.fromhex(records[key]))
        data[offset + 10 : offset + 10 + 64] = rng.randbytes(64)
    db.write_bytes(bytes(data))
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"

    result = export_cli(station)
    assert result.returncode == 3, result.stderr
    for line, dispenser, pos_ttc in victims:
        assert f"{line}/{dispenser} POS_TTC {pos_ttc} (row " in result.stderr, result.stderr
    assert result.stderr.count("DAMAGED:") == len(victims)
    assert "Traceback" not in result.stderr

    daemon = station.start_daemon()
    for line, dispenser, pos_ttc in victims:
        name = f"Record {line}/{dispenser} POS_TTC {pos_ttc} (row "
        wait_until(lambda n=name: n in daemon.log_text(), 90, f"the daemon naming {name} at start")  # type: ignore[misc]
        repaired = re.compile(rf"record {line}/{dispenser} POS_TTC {pos_ttc} \(row \d+\) repaired")
        wait_until(
            lambda r=repaired: r.search(daemon.log_text()),  # type: ignore[misc]
            120,
            f"{line}/{dispenser} POS_TTC {pos_ttc} re-read from the dispenser and repaired",
        )
    assert export_cli(station).returncode == 0
    daemon.terminate()  # its exit status is the SIGTERM chaos test's business
    assert station.sim is not None
    station.sim.terminate()
    produced, acked = assert_export_matches_ledger(station)
    assert produced == acked >= 40
