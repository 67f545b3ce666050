"""The daemon's integrity watch (edge.record_integrity) on a real database: damaged records named by alarm,
columns rebuilt from intact bytes, 0x3E queued for damaged bytes; quick_check at start; integrity_check."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from types import SimpleNamespace

import pytest
from authority_testkit import FakeAlarms

from edge.record_integrity import check_at_start, check_database, verify_records
from protocol.messages import RecordRead
from protocol.record import RECORD_STRUCT, sample_record
from storage.clock import utc_now
from storage.db import Database
from storage.errors import DatabaseCorruptError
from storage.journal import Journal


async def filled(path: Path) -> Database:
    db = await Database.open(path)
    journal = Journal(db)
    for pos in range(1, 6):
        record = sample_record(pos_ttc=pos)
        await journal.store_record(
            "bus1", 3, record, RECORD_STRUCT.build(record.to_dict()), received_at=utc_now()
        )
    return db


def tamper(path: Path, sql: str) -> None:
    with closing(sqlite3.connect(path)) as conn:
        conn.execute(sql)
        conn.commit()


async def test_verify_names_repairs_and_asks_again(tmp_path: Path) -> None:
    path = tmp_path / "station.db"
    db = await filled(path)
    try:
        tamper(path, "UPDATE transactions SET vol = 1 WHERE pos_ttc = 2")  # a derived column
        tamper(path, "UPDATE transactions SET raw = zeroblob(95) WHERE pos_ttc = 4")  # the record itself
        session = SimpleNamespace(pos_p=3, reads=[])
        session.request_read = session.reads.append
        alarms = FakeAlarms()
        station = SimpleNamespace(
            db=db, services=SimpleNamespace(alarms=alarms), sessions={"bus1": [session]}
        )

        damaged = await verify_records(station)  # type: ignore[arg-type]

        assert [(d.pos_ttc, d.raw_damaged) for d in damaged] == [(2, False), (4, True)]
        assert [(a[0], a[1]) for a in alarms.raised] == [
            ("bus1/3#2", "record_damaged"),
            ("bus1/3#4", "record_damaged"),
        ]
        assert "bus1/3 POS_TTC 4 (row " in alarms.raised[1][3] and "0x3E" in alarms.raised[1][3]
        assert alarms.cleared == [("bus1/3#2", "record_damaged")]  # rebuilt from its intact bytes
        assert session.reads == [RecordRead(4)]
        assert [d.pos_ttc for d in await verify_records(station)] == [4]  # type: ignore[arg-type]
        assert await check_database(station) == []  # type: ignore[arg-type]
        assert alarms.cleared[-1] == ("storage", "database_damaged")
    finally:
        await db.close()


async def test_quick_check_at_start_refuses_a_broken_structure(tmp_path: Path) -> None:
    path = tmp_path / "station.db"
    db = await filled(path)
    await db.close()
    data = bytearray(path.read_bytes())
    page = 4096
    root = 2  # the first table's root page header: make its page type invalid
    data[(root - 1) * page] = 0x07
    path.write_bytes(bytes(data))
    db = await Database.open(path)
    try:
        with pytest.raises(DatabaseCorruptError, match="quick_check"):
            await check_at_start(db)
    finally:
        await db.close()
