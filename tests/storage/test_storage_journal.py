"""`storage.journal`: idempotent, durable record storage (NEW / DUPLICATE / CONFLICT), totals, info."""

from __future__ import annotations

import datetime as dt

import pytest
from storage_testkit import RECEIVED, FakeClock, MakeRecord

from protocol.messages import DispenserInfo, NozzleTotal, Totals
from storage.alarms import Alarms, Severity
from storage.db import Database
from storage.errors import DiskFullError, InvalidRecordError, SqliteError
from storage.journal import CONFLICT_ALARM_CODE, Journal, StoreOutcome, StoreResult, alarm_source
from storage.outbox import Outbox, OutboxMessage


def msg(key: str) -> OutboxMessage:
    return OutboxMessage("station/ST-1/tx", key, key.encode())


async def count(db: Database, table: str) -> int:
    row = await db.fetchone(f"SELECT count(*) FROM {table}")
    assert row is not None
    return int(row[0])


async def test_new_then_duplicate(journal: Journal, db: Database, record: MakeRecord) -> None:
    rec, raw = record(42)
    first = await journal.store_record("bus1", 3, rec, raw, received_at=RECEIVED, outbox=[msg("a")])
    assert first.outcome is StoreOutcome.NEW
    assert first.row_id == first.original_id
    again = await journal.store_record("bus1", 3, rec, raw, received_at=RECEIVED, outbox=[msg("b")])
    assert again == StoreResult(StoreOutcome.DUPLICATE, first.row_id, first.row_id)
    assert await count(db, "transactions") == 1
    assert [m.key for _, m in await Outbox(db).peek(10)] == ["a"]  # no outbox row for a duplicate
    # The same POS_TTC on another dispenser or line is another record.
    assert (await journal.store_record("bus1", 4, rec, raw, received_at=RECEIVED)).outcome is StoreOutcome.NEW
    assert (await journal.store_record("bus2", 3, rec, raw, received_at=RECEIVED)).outcome is StoreOutcome.NEW


async def test_stored_columns(journal: Journal, db: Database, record: MakeRecord) -> None:
    rec, raw = record(7, t_type=0x11, amn=1234, vol=567, t_mac=0xDEADBEEF)
    result = await journal.store_record("bus1", 3, rec, raw, received_at=RECEIVED, tmac_error=True)
    row = await db.fetchone("SELECT * FROM transactions WHERE id = ?", (result.row_id,))
    assert row is not None
    assert (row["line"], row["dispenser"], row["pos_ttc"], row["t_type"], row["kind"]) == (
        "bus1",
        3,
        7,
        0x11,
        1,
    )
    assert (row["amn"], row["vol"], row["prc"], row["nzn"], row["g_code"]) == (1234, 567, 750, 1, "0102")
    assert (row["asn"], row["bal"], row["ctc"], row["emp"], row["v_tot"]) == (
        rec.asn,
        100_000,
        7,
        255,
        1_000_000,
    )
    assert row["t_mac"] == 0xDEADBEEF
    assert row["time"] == "2024-05-01T08:30:00"
    assert row["event_time"] == "2024-05-01T08:30:00"
    assert row["received_at"] == "2024-05-01T00:31:00.000000+00:00"
    assert row["tmac_error"] == 1
    assert row["conflict_of"] is None
    assert bytes(row["raw"]) == raw
    [stored] = await journal.records("bus1", 3, 7)
    assert stored.raw == raw and stored.tmac_error and stored.received_at == RECEIVED


async def test_invalid_time_falls_back_to_reception_for_event_time(
    journal: Journal, db: Database, record: MakeRecord
) -> None:
    rec, raw = record(8, time="20241399999999")
    await journal.store_record("bus1", 3, rec, raw, received_at=RECEIVED)
    row = await db.fetchone("SELECT time, event_time FROM transactions")
    assert row is not None
    assert row["time"] is None
    assert row["event_time"] == RECEIVED.astimezone().replace(tzinfo=None).isoformat(timespec="seconds")


async def test_conflict_is_kept_beside_the_original(
    journal: Journal, db: Database, record: MakeRecord, clock: FakeClock
) -> None:
    rec, raw = record(42)
    other_rec, other_raw = record(42, amn=99_999)
    original = await journal.store_record("bus1", 3, rec, raw, received_at=RECEIVED)
    conflict = await journal.store_record(
        "bus1", 3, other_rec, other_raw, received_at=RECEIVED, outbox=[msg("c1")]
    )
    assert conflict.outcome is StoreOutcome.CONFLICT
    assert conflict.original_id == original.row_id != conflict.row_id
    rows = await journal.records("bus1", 3, 42)
    assert [(r.id, r.raw, r.conflict_of) for r in rows] == [
        (original.row_id, raw, None),
        (conflict.row_id, other_raw, original.row_id),
    ]
    # The alarm was written in the same transaction.
    alarms = await Alarms(db, clock=clock).active()
    assert [(a.id, a.source, a.code, a.severity, a.count) for a in alarms] == [
        (conflict.alarm_id, alarm_source("bus1", 3), CONFLICT_ALARM_CODE, Severity.CRITICAL, 1)
    ]
    assert alarms[0].details == {
        "pos_ttc": 42,
        "original_id": original.row_id,
        "conflict_id": conflict.row_id,
    }
    assert [m.key for _, m in await Outbox(db).peek(10)] == ["c1"]

    # The same conflicting bytes again: stored once, answered DUPLICATE (with the copy's id).
    again = await journal.store_record(
        "bus1", 3, other_rec, other_raw, received_at=RECEIVED, outbox=[msg("c2")]
    )
    assert again == StoreResult(StoreOutcome.DUPLICATE, conflict.row_id, original.row_id)
    # The original again: still a duplicate of the original.
    assert (await journal.store_record("bus1", 3, rec, raw, received_at=RECEIVED)).row_id == original.row_id
    # A third variant is another copy; the alarm is repeated, not duplicated.
    third_rec, third_raw = record(42, amn=1)
    third = await journal.store_record("bus1", 3, third_rec, third_raw, received_at=RECEIVED)
    assert third.outcome is StoreOutcome.CONFLICT and third.alarm_id == conflict.alarm_id
    assert [r.raw for r in await journal.records("bus1", 3, 42)] == [raw, other_raw, third_raw]
    [alarm] = await Alarms(db).active()
    assert alarm.count == 2
    assert await count(db, "outbox") == 1


async def test_outbox_factory_sees_the_result(journal: Journal, db: Database, record: MakeRecord) -> None:
    seen: list[StoreResult] = []

    def factory(result: StoreResult) -> list[OutboxMessage]:
        seen.append(result)
        return [msg(f"tx/{result.outcome}/{result.row_id}")]

    rec, raw = record(5)
    new = await journal.store_record("bus1", 1, rec, raw, received_at=RECEIVED, outbox=factory)
    await journal.store_record("bus1", 1, rec, raw, received_at=RECEIVED, outbox=factory)
    assert seen == [new]  # not called for a duplicate
    assert [m.key for _, m in await Outbox(db).peek(10)] == [f"tx/new/{new.row_id}"]


async def test_a_failing_outbox_factory_rolls_the_record_back(
    journal: Journal, db: Database, record: MakeRecord
) -> None:
    def factory(result: StoreResult) -> list[OutboxMessage]:
        raise RuntimeError("cannot serialise")

    rec, raw = record(5)
    with pytest.raises(RuntimeError):
        await journal.store_record("bus1", 1, rec, raw, received_at=RECEIVED, outbox=factory)
    assert await count(db, "transactions") == 0
    assert await count(db, "outbox") == 0


async def test_a_failing_outbox_insert_rolls_the_record_back(
    journal: Journal, db: Database, record: MakeRecord
) -> None:
    # A connection-local trigger makes the outbox INSERT fail after the record INSERT succeeded.
    await db.fetchall(
        "CREATE TEMP TRIGGER fail_outbox BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'forced'); END"
    )
    rec, raw = record(6)
    with pytest.raises(SqliteError, match="forced"):
        await journal.store_record("bus1", 1, rec, raw, received_at=RECEIVED, outbox=[msg("x")])
    assert await count(db, "transactions") == 0
    assert await count(db, "outbox") == 0
    await db.fetchall("DROP TRIGGER temp.fail_outbox")
    result = await journal.store_record("bus1", 1, rec, raw, received_at=RECEIVED, outbox=[msg("x")])
    assert result.outcome is StoreOutcome.NEW  # not acknowledged before, so stored now as new
    assert await count(db, "outbox") == 1


async def test_disk_full_is_typed_and_nothing_half_written(
    journal: Journal, db: Database, record: MakeRecord
) -> None:
    pages = (await db.fetchone("PRAGMA page_count"))[0]  # type: ignore[index]
    await db.fetchall(f"PRAGMA max_page_count = {pages + 2}")
    stored = []
    with pytest.raises(DiskFullError):
        for n in range(1, 10_000):
            rec, raw = record(n)
            await journal.store_record("bus1", 1, rec, raw, received_at=RECEIVED, outbox=[msg(f"k{n}")])
            stored.append(n)
    assert stored  # some fitted before the file was full
    rows = await db.fetchall("SELECT pos_ttc FROM transactions ORDER BY pos_ttc")
    assert [r[0] for r in rows] == stored
    assert await count(db, "outbox") == len(stored)
    await db.fetchall("PRAGMA max_page_count = 1073741823")
    rec, raw = record(stored[-1] + 1)
    assert (await journal.store_record("bus1", 1, rec, raw, received_at=RECEIVED)).outcome is StoreOutcome.NEW


@pytest.mark.parametrize("length", [0, 94, 96])
async def test_raw_must_be_95_bytes(journal: Journal, record: MakeRecord, length: int) -> None:
    rec, raw = record(1)
    with pytest.raises(InvalidRecordError):
        await journal.store_record("bus1", 1, rec, (raw * 2)[:length], received_at=RECEIVED)


async def test_raw_must_carry_the_records_pos_ttc(journal: Journal, record: MakeRecord) -> None:
    rec, _ = record(1)
    _, other_raw = record(2)
    with pytest.raises(InvalidRecordError, match="POS_TTC 1"):
        await journal.store_record("bus1", 1, rec, other_raw, received_at=RECEIVED)


async def test_naive_reception_time_is_local(journal: Journal, record: MakeRecord) -> None:
    rec, raw = record(1)
    naive = dt.datetime(2024, 5, 1, 10, 0, 0)
    await journal.store_record("bus1", 1, rec, raw, received_at=naive)
    [stored] = await journal.records("bus1", 1, 1)
    assert stored.received_at == naive.astimezone()


async def test_find_grey(journal: Journal, record: MakeRecord) -> None:
    grey, grey_raw = record(10, t_type=0x01, bal=5000, ctc=9, ds=0)
    sale, sale_raw = record(11, t_type=0x10, bal=5000, ctc=9, ds=0)
    await journal.store_record("bus1", 1, grey, grey_raw, received_at=RECEIVED)
    await journal.store_record("bus1", 1, sale, sale_raw, received_at=RECEIVED)
    assert isinstance(grey.time, dt.datetime)
    found = await journal.find_grey(grey.asn, 5000, 9, 0, grey.time)
    assert found is not None and found.raw == grey_raw
    assert await journal.find_grey(grey.asn, 5001, 9, 0, grey.time) is None
    assert await journal.find_grey(grey.asn, 5000, 9, 0, grey.time + dt.timedelta(seconds=1)) is None


async def test_totals_history_and_latest(journal: Journal, db: Database, clock: FakeClock) -> None:
    assert await journal.latest_totals("bus1", 1) is None
    first = Totals(totals=(NozzleTotal(2, 2000), NozzleTotal(1, 1000)))
    second = Totals(totals=(NozzleTotal(1, 1100), NozzleTotal(2, 2200)))
    t1 = clock.now
    t2 = clock.advance(minutes=5)
    await journal.store_totals("bus1", 1, first, t1)
    await journal.store_totals("bus1", 1, second, t2, outbox=[msg("totals")])
    await journal.store_totals("bus1", 2, first, t2)
    latest = await journal.latest_totals("bus1", 1)
    assert latest is not None
    assert latest.read_at == t2
    assert latest.totals == second
    assert await count(db, "totals") == 6  # history is kept
    assert await count(db, "outbox") == 1


async def test_dispenser_info_upsert(journal: Journal, db: Database, clock: FakeClock) -> None:
    info = DispenserInfo(
        m_info="VENDOR X    ",
        prov="11",
        city="01",
        superior="00000000",
        s_id="00000001",
        time=dt.datetime(2024, 5, 1, 8, 0, 0),
        nozzles=(1, 2),
        bl_ver=3,
        m_data=b"\x01\x02",
    )
    await journal.store_dispenser_info("bus1", 1, info, clock.now)
    newer = DispenserInfo(**{**{f: getattr(info, f) for f in info.__slots__}, "bl_ver": 4})
    await journal.store_dispenser_info("bus1", 1, newer, clock.advance(minutes=1))
    assert await journal.dispenser_info("bus1", 1) == newer
    assert await journal.dispenser_info("bus1", 2) is None
    assert await count(db, "dispenser_info") == 1
    row = await db.fetchone("SELECT info FROM dispenser_info")
    assert row is not None and '"bl_ver": 4' in row[0] and '"m_data": "0102"' in row[0]
