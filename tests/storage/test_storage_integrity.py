"""Record integrity: checksums written with every record, damage found on read, scan and export, repairs."""

from __future__ import annotations

import asyncio
import io
import os
import random
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from storage_testkit import RECEIVED, make_record

from storage.alarms import Alarms
from storage.db import Database, open_readonly
from storage.export import export_transactions
from storage.integrity import backfill_sums, record_sum, repair_columns, scan
from storage.journal import Journal, StoreOutcome

GREY_TIME = RECEIVED.replace(tzinfo=None)


async def fill(journal: Journal, count: int = 5) -> dict[int, bytes]:
    raws = {}
    for pos in range(1, count + 1):
        record, raw = make_record(pos)
        await journal.store_record("bus1", 2, record, raw, received_at=RECEIVED)
        raws[pos] = raw
    return raws


def tamper(path: Path, sql: str, params: tuple[object, ...] = ()) -> None:
    """Change the file behind the daemon's back (a plain connection, no checksum bookkeeping)."""
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(sql, params)
        conn.commit()


def damaged(path: Path) -> list:  # type: ignore[type-arg]
    with closing(open_readonly(path)) as conn:
        return list(scan(conn))


async def test_every_record_is_stored_with_its_checksum(db: Database, journal: Journal) -> None:
    raws = await fill(journal)
    rows = await db.fetchall("SELECT pos_ttc, raw_sum FROM transactions ORDER BY pos_ttc")
    assert [bytes(r["raw_sum"]) for r in rows] == [record_sum("bus1", 2, p, raws[p]) for p in raws]
    assert damaged(db.path) == []
    for pos in raws:
        assert [r.damage for r in await journal.records("bus1", 2, pos)] == [()]


async def test_changed_raw_bytes_are_named_on_scan_read_and_export(db: Database, journal: Journal) -> None:
    raws = await fill(journal)
    bad = bytearray(raws[3])
    bad[40:44] = b"\x99\x99\x99\x99"  # inside the record, away from POS_TTC
    tamper(db.path, "UPDATE transactions SET raw = ? WHERE pos_ttc = 3", (bytes(bad),))

    found = damaged(db.path)
    assert [(d.line, d.dispenser, d.pos_ttc, d.raw_damaged) for d in found] == [("bus1", 2, 3, True)]
    assert "bus1/2 POS_TTC 3" in found[0].message() and "0x3E" in found[0].message()
    assert (await journal.records("bus1", 2, 3))[0].damage
    assert not (await journal.records("bus1", 2, 4))[0].damage

    reported: list = []  # type: ignore[type-arg]
    with closing(open_readonly(db.path)) as conn:
        count = export_transactions(conn, io.StringIO(), damaged=reported)
    assert count == 5 and [d.pos_ttc for d in reported] == [3]


async def test_a_changed_derived_column_is_rebuilt_from_the_intact_bytes(
    db: Database, journal: Journal
) -> None:
    await fill(journal)
    tamper(db.path, "UPDATE transactions SET amn = amn + 100000 WHERE pos_ttc = 2")
    [found] = damaged(db.path)
    assert found.pos_ttc == 2 and not found.raw_damaged and "amn" in found.problems[0]
    assert await repair_columns(db, found)
    assert damaged(db.path) == []


async def test_the_dispensers_true_bytes_repair_a_damaged_record(db: Database, journal: Journal) -> None:
    raws = await fill(journal)
    tamper(db.path, "UPDATE transactions SET raw = ? WHERE pos_ttc = 4", (bytes(95),))
    alarms = Alarms(db)
    await alarms.raise_alarm("bus1/2#4", "record_damaged", "critical", "damaged", {})

    record, raw = make_record(4)
    result = await journal.store_record("bus1", 2, record, raw, received_at=RECEIVED)

    assert result.outcome is StoreOutcome.REPAIRED
    assert damaged(db.path) == []
    assert [r.raw for r in await journal.records("bus1", 2, 4)] == [raws[4]]  # repaired, no conflict copy
    assert not [a for a in await alarms.active() if a.code == "record_damaged"]


async def test_other_bytes_for_a_damaged_record_are_a_conflict_not_a_repair(
    db: Database, journal: Journal
) -> None:
    await fill(journal)
    tamper(db.path, "UPDATE transactions SET raw = ? WHERE pos_ttc = 4", (bytes(95),))
    record, raw = make_record(4, amn=1)
    result = await journal.store_record("bus1", 2, record, raw, received_at=RECEIVED)
    assert result.outcome is StoreOutcome.CONFLICT
    assert [d.pos_ttc for d in damaged(db.path)] == [4]  # still named: the true bytes never came


async def test_rows_from_before_checksums_get_theirs(db: Database, journal: Journal) -> None:
    raws = await fill(journal)
    tamper(db.path, "UPDATE transactions SET raw_sum = NULL")
    assert await backfill_sums(db, batch_rows=2) == len(raws)
    assert await backfill_sums(db) == 0
    rows = await db.fetchall("SELECT pos_ttc, raw_sum FROM transactions")
    assert {int(r[0]): bytes(r[1]) for r in rows} == {p: record_sum("bus1", 2, p, raws[p]) for p in raws}


async def test_a_damaged_grey_record_is_never_used_for_a_debit(db: Database, journal: Journal) -> None:
    record, raw = make_record(9, t_type=0x01, time=GREY_TIME)
    await journal.store_record("bus1", 2, record, raw, received_at=RECEIVED)
    query = (record.asn, record.bal, record.ctc, record.ds, GREY_TIME)
    assert await journal.find_grey(*query) is not None
    tamper(db.path, "UPDATE transactions SET raw_sum = zeroblob(32) WHERE pos_ttc = 9")
    assert await journal.find_grey(*query) is None


async def test_random_bytes_in_a_transactions_page_are_named_by_station_export(tmp_path: Path) -> None:
    path = tmp_path / "station.db"
    async with await Database.open(path) as db:
        raws = await fill(Journal(db), 40)
    victim = 17
    data = bytearray(path.read_bytes())
    offset = data.index(raws[victim])  # the page cell holding the record's bytes
    data[offset + 8 : offset + 8 + 64] = random.Random(16).randbytes(64)
    path.write_bytes(bytes(data))
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"  # SQLite itself sees nothing

    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "edge.cli", "export", "transactions", "--db", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ},
    )
    assert result.returncode == 3, result.stderr
    assert len(result.stdout.splitlines()) == 40  # everything exported, as stored
    assert f"bus1/2 POS_TTC {victim} (row " in result.stderr
    assert "0x3E" in result.stderr and "centre" in result.stderr
    assert result.stderr.count("DAMAGED:") == 1
    assert "Traceback" not in result.stderr
