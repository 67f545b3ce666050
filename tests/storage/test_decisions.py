"""Decisions stored durably; daily counters survive a restart (and a crash between the two commits); the
files of the rules (grey records, calendar, price tables) refused with file, line and problem."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from storage_testkit import make_record

from edge.counters import CounterBook
from storage.calendar import CalendarData, CalendarStore
from storage.counters import CounterStore
from storage.db import Database
from storage.decisions import DecisionLog, StoredDecision
from storage.journal import Journal
from storage.pricefile import PriceFileError, read_price_file
from storage.rulefiles import RuleFileError, read_calendar_file, read_grey_file

DAY = dt.datetime(2024, 5, 1, 9, 0)
CARD = "10000101000000012345"


async def test_decisions_survive_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "station.db"
    row = StoredDecision(
        line="bus1",
        dispenser=2,
        nzn=3,
        asn=CARD,
        kind="0x36",
        allowed=False,
        reason=31,
        reason_name="CYLINDER_EXPIRED",
        words="Vehicle gas cylinder inspection has expired.",
        local_at=DAY,
        warnings=({"kind": "cylinder_due", "words": "soon", "due": "2024-05-02"},),
        m_flag=62,
        generation=4,
        details={"price_level": 1},
    )
    async with await Database.open(path) as db:
        assert await DecisionLog(db).append(row) == 1
    async with await Database.open(path) as db:
        [back] = await DecisionLog(db).all()
    assert back.id == 1 and back.at is not None
    assert (back.asn, back.allowed, back.reason, back.m_flag, back.generation, back.local_at) == (
        CARD,
        False,
        31,
        62,
        4,
        DAY,
    )
    assert back.warnings == row.warnings and back.details == {"price_level": 1}


async def test_a_decision_kind_must_be_known(tmp_path: Path) -> None:
    async with await Database.open(tmp_path / "station.db") as db:
        row = StoredDecision("bus1", 1, 0, CARD, "0x99", True, 0, "NONE", "ok", DAY)
        with pytest.raises(ValueError, match="0x99"):
            await DecisionLog(db).append(row)


async def store_sale(journal: Journal, pos_ttc: int, **changes: object) -> tuple[object, object]:
    record, raw = make_record(pos_ttc, **{"time": DAY, "asn": CARD, **changes})
    result = await journal.store_record("bus1", 1, record, raw, received_at=DAY.astimezone())
    return record, result


async def test_counters_survive_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "station.db"
    now = DAY + dt.timedelta(hours=1)
    async with await Database.open(path) as db:
        journal = Journal(db)
        book = CounterBook(CounterStore(db), lambda: now)
        await book.load()
        for pos_ttc in (1, 2):
            record, result = await store_sale(journal, pos_ttc, amn=1_000, vol=150)
            await book.on_record("bus1", 1, record, result)  # type: ignore[arg-type]
        record, result = await store_sale(journal, 3, t_type=0x13, amn=700)  # an unlock debit: not a fill
        await book.on_record("bus1", 1, record, result)  # type: ignore[arg-type]
        # The same record re-sent is a DUPLICATE: not counted again.
        record, result = await store_sale(journal, 2, amn=1_000, vol=150)
        await book.on_record("bus1", 1, record, result)  # type: ignore[arg-type]
        assert book.usage(CARD, DAY.date()).to_dict() == {"fills": 2, "amount": 2_000, "volume": 300}
    async with await Database.open(path) as db:
        again = CounterBook(CounterStore(db), lambda: now)
        assert await again.load() == 0
        assert again.usage(CARD, DAY.date()).to_dict() == {"fills": 2, "amount": 2_000, "volume": 300}
        assert again.usage(CARD, DAY.date() + dt.timedelta(days=1)).fills == 0


async def test_a_sale_stored_but_not_counted_is_counted_once_at_start(tmp_path: Path) -> None:
    path = tmp_path / "station.db"
    now = DAY + dt.timedelta(hours=1)
    async with await Database.open(path) as db:
        journal = Journal(db)
        book = CounterBook(CounterStore(db), lambda: now)
        await book.load()
        record, result = await store_sale(journal, 1, amn=1_000, vol=150)
        await book.on_record("bus1", 1, record, result)  # type: ignore[arg-type]
        await store_sale(journal, 2, amn=500, vol=70)  # "crash" before its counter update
        await store_sale(journal, 3, amn=500, vol=70, time=DAY - dt.timedelta(days=1))  # yesterday's
    for expected_late in (1, 0):
        async with await Database.open(path) as db:
            book = CounterBook(CounterStore(db), lambda: now)
            assert await book.load() == expected_late
            assert book.usage(CARD, DAY.date()).to_dict() == {"fills": 2, "amount": 1_500, "volume": 220}


async def test_calendar_round_trip(tmp_path: Path) -> None:
    data = CalendarData(frozenset({dt.date(2026, 10, 1)}), frozenset({dt.date(2026, 9, 27)}), frozenset({6}))
    async with await Database.open(tmp_path / "station.db") as db:
        store = CalendarStore(db)
        assert await store.load() == CalendarData()
        await store.replace(data)
        assert await store.load() == data


# --- files -----------------------------------------------------------------------------------------


def write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text)
    return path


def test_calendar_file_problems_name_the_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "cal.toml",
        'weekend = [5, 6]\nholidays = [\n  "2026-10-02",\n  "2026-10-01",\n  "2026-10-01",\n  "2026-02-30",\n]\n'
        'shifted_working_days = ["2026-10-02"]\n',
    )
    with pytest.raises(RuleFileError) as info:
        read_calendar_file(path)
    assert info.value.problems == [
        "cal.toml: line 4: holidays[1]: 2026-10-01 is not after 2026-10-02 (dates must ascend)",
        "cal.toml: line 5: holidays[2]: 2026-10-01 is not after 2026-10-02 (dates must ascend)",
        "cal.toml: line 6: holidays[3]: '2026-02-30' is not a date YYYY-MM-DD",
        "cal.toml: line 8: shifted_working_days: 2026-10-02 is also a holiday",
    ]
    good = write(
        tmp_path, "ok.json", '{"holidays": ["2026-10-01", "2026-10-02"], "shifted_working_days": []}'
    )
    assert read_calendar_file(good).holidays == {dt.date(2026, 10, 1), dt.date(2026, 10, 2)}


def test_grey_file_by_fields_and_by_raw(tmp_path: Path) -> None:
    grey, raw = make_record(17, t_type=0x01, asn=CARD, time=DAY)
    path = write(
        tmp_path,
        "greys.toml",
        f"""
[[records]]
station = "00000077"
dispenser = 3
asn = "{CARD}"
bal = 80000
ctc = 17
time = 2026-01-15T08:30:00
amn = 1234
gmac = 99
psam_tid = "0102030405AB"
psam_ttc = 5
locked_at = 2026-01-15T08:29:00

[[records]]
station = "00000078"
province = "32"
line = "bus2"
dispenser = 1
pos_ttc = 17
raw = "{raw.hex()}"
""",
    )
    first, second = read_grey_file(path, station_province=0x11)
    assert (first.asn, first.bal, first.province, first.lock_time) == (
        CARD,
        80_000,
        0x11,
        dt.datetime(2026, 1, 15, 8, 29),
    )
    assert first.psam_tid == bytes.fromhex("0102030405AB")
    assert (second.station_id, second.province, second.line, second.time, second.raw) == (
        "00000078",
        0x32,
        "bus2",
        DAY,
        raw,
    )
    assert second.amn == grey.amn


def test_grey_file_problems(tmp_path: Path) -> None:
    _, sale = make_record(1)
    path = write(
        tmp_path,
        "greys.toml",
        f"""[[records]]
station = "00000077"
dispenser = 3
raw = "{sale.hex()}"

[[records]]
station = "00000077"
dispenser = 300
asn = "123"
bal = 1
ctc = 1
time = "yesterday"
amn = 1
gmac = 1
psam_tid = "zz"
psam_ttc = 1
colour = "grey"
""",
    )
    with pytest.raises(RuleFileError) as info:
        read_grey_file(path, station_province=0x11)
    problems = info.value.problems
    assert problems[0] == "greys.toml: line 1: records[0].raw: not a grey record (T_TYPE 0x10)"
    assert all(p.startswith("greys.toml: line 6: records[1].") for p in problems[1:])
    assert {p.split(": ")[2] for p in problems[1:]} == {
        "records[1].colour",
        "records[1].dispenser",
        "records[1].asn",
        "records[1].time",
        "records[1].psam_tid",
    }


def test_price_file_problems(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "prices.json",
        '{"version": 3, "effective": "2026-02-30T06:00",\n "products": [{"g_code": "92", "prices": []}],\n'
        ' "nozzles": [{"nzn": 1, "prices": [700]}, {"nzn": 1, "prices": [710]}]}',
    )
    with pytest.raises(PriceFileError) as info:
        read_price_file(path, g_codes=["0092"], nozzles=[1, 2])
    assert info.value.problems == [
        "prices.json: line 1: effective: '2026-02-30T06:00' is not a real date and time",
        "prices.json: products[0].g_code: must be 4 digits, got '92'",
        "prices.json: nozzles[1].nzn: nozzle 1 is already priced in nozzles[0]",
    ]
    good = write(
        tmp_path,
        "prices.toml",
        'version = 3\neffective = "2026-03-01 06:00"\n[[products]]\ng_code = "0092"\nprices = [760, 750]\n',
    )
    schedule = read_price_file(good, g_codes=["0092"], nozzles=[1, 2])
    assert (schedule.version, schedule.effective, schedule.products[0].prices) == (
        3,
        dt.datetime(2026, 3, 1, 6, 0),
        (760, 750),
    )
