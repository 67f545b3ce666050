"""Reports checked against the simulator's ledger, never against the database they read.

A real simulator sells to a real daemon (sales, grey locks and unlocks, cash, card errors, price
receipts) until every record is acknowledged. Its ledger then
- is stored record by record into a fresh journal, split into three shifts by arrival time, and
- is summed independently here (decoding each record's 95 bytes with the protocol codec),
and every report total, every section row, the XLSX read back with openpyxl and the CLI's output must
equal those sums. The daemon's own database must give the same day figures too.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from protocol.codec import decode_message
from protocol.messages import Direction, RecordUpload
from protocol.record import TransactionRecord
from storage.db import Database, open_readonly
from storage.journal import Journal
from storage.reports import xlsx
from storage.reports.periods import DayBoundary, day_period, month_period, range_period, shift_period
from storage.reports.query import ReportReader
from storage.shifts import close_in, open_in
from tests.e2e.harness import Station, wait_until

pytestmark = pytest.mark.e2e

TRAFFIC = (
    "--seed", "14", "--rate", "300", "--fuel-speed", "50000", "--p2p-interval-ms", "100",
    "--mix", "sale=45,grey=15,cash=15,duty=15,error=10", "--max-records", "240", "--exit-when-acked",
)  # fmt: skip
DIMENSIONS = ("product", "nozzle", "dispenser", "employee", "payment", "mode", "card_kind", "hour")


# --- the ledger, summed independently -------------------------------------------------------------


@dataclass(frozen=True)
class LedgerRecord:
    line: str
    dispenser: int
    at: dt.datetime
    rec: TransactionRecord
    raw: bytes


def ledger_records(events: Iterable[dict[str, Any]]) -> list[LedgerRecord]:
    out = []
    for e in events:
        if e["event"] != "record":
            continue
        raw = bytes.fromhex(e["raw"])
        msg = decode_message(b"\x32" + raw, Direction.P)
        assert isinstance(msg, RecordUpload)
        out.append(
            LedgerRecord(e["line"], e["dispenser"], dt.datetime.fromisoformat(e["at"]), msg.record, raw)
        )
    return sorted(out, key=lambda r: r.at)


def _kind(r: LedgerRecord) -> int:
    return r.rec.t_type & 0x0F


def counted(r: LedgerRecord) -> bool:
    return _kind(r) in (0, 1, 3, 4, 7, 9)


def figures(r: LedgerRecord) -> tuple[int, int, int]:
    return (1, r.rec.vol if _kind(r) in (0, 1, 7, 9) else 0, r.rec.amn)


def key_of(dimension: str, r: LedgerRecord) -> str:
    rec = r.rec
    match dimension:
        case "product":
            return rec.g_code
        case "nozzle":
            return f"{r.line}/{r.dispenser}/{rec.nzn}"
        case "dispenser":
            return f"{r.line}/{r.dispenser}"
        case "employee":
            return f"{rec.emp:03d}"
        case "payment":
            if _kind(r) == 1:
                return "grey_unpaid"
            return {0: "cash", 1: "ticket", 2: "credit", 3: "bank_card"}.get((rec.unit >> 4) & 15, "other")
        case "mode":
            return f"{_kind(r):02d}"
        case "card_kind":
            code = rec.asn[4:6] if len(rec.asn) == 20 else ""
            return {
                "01": "user",
                "04": "employee",
                "05": "internal_05",
                "06": "internal_06",
                "00": "no_card",
                "": "no_card",
            }.get(code, f"kind_{code}")
        case "hour":
            assert isinstance(rec.time, dt.datetime)
            return f"{rec.time.hour:02d}"
    raise AssertionError(dimension)


def sums(
    records: Iterable[LedgerRecord], key: Callable[[LedgerRecord], str] = lambda r: ""
) -> dict[str, tuple[int, int, int]]:
    acc: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for r in records:
        if counted(r):
            for i, v in enumerate(figures(r)):
                acc[key(r)][i] += v
    return {k: (v[0], v[1], v[2]) for k, v in acc.items()}


def business_day(r: LedgerRecord, boundary: DayBoundary) -> dt.date:
    assert isinstance(r.rec.time, dt.datetime)
    t = r.rec.time
    start = dt.time(boundary.hour, boundary.minute, boundary.second)
    return t.date() if t.time() >= start else t.date() - dt.timedelta(days=1)


def section_rows(report: Any, dimension: str) -> dict[str, tuple[int, int, int]]:
    s = report.section(dimension)
    return {row.key: (row.figures.count, row.figures.volume, row.figures.amount) for row in s.rows}


def total(report: Any) -> tuple[int, int, int]:
    return (report.total.count, report.total.volume, report.total.amount)


# --- the run ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Station:
    st = Station.create(tmp_path_factory.mktemp("reports"))
    try:
        st.start_sim(*TRAFFIC)
        st.start_daemon()
        wait_until(lambda: not st.sim.alive(), 240, "every record acknowledged")  # type: ignore[union-attr]
        assert st.sim is not None and st.sim.popen.returncode == 0, st.sim.log_text()[-2000:]
    finally:
        st.stop()
    return st


@dataclass
class Built:
    path: Path
    records: list[LedgerRecord]
    boundary: DayBoundary
    shifts: list[tuple[int, dt.datetime, dt.datetime]]


async def build_journal(
    path: Path, records: list[LedgerRecord], shifts: int = 3
) -> list[tuple[int, dt.datetime, dt.datetime]]:
    """Store the ledger's records in a fresh journal, arrival time = the ledger's time, in `shifts`
    shifts whose windows split the records by arrival."""
    db = await Database.open(path)
    journal = Journal(db)
    cuts = [records[len(records) * k // shifts].at for k in range(shifts)] + [
        records[-1].at + dt.timedelta(seconds=1)
    ]
    windows = []
    try:
        for k in range(shifts):
            async with db.transaction() as tx:
                shift = await open_in(tx, f"op{k}", [], now=cuts[k])
            for r in records:
                if cuts[k] <= r.at < cuts[k + 1]:
                    await journal.store_record(r.line, r.dispenser, r.rec, r.raw, received_at=r.at)
            async with db.transaction() as tx:
                await close_in(tx, f"op{k}", [], now=cuts[k + 1], nozzles=[])
            windows.append((shift.id, cuts[k], cuts[k + 1]))
    finally:
        await db.close()
    return windows


@pytest.fixture(scope="module")
def built(run: Station, tmp_path_factory: pytest.TempPathFactory) -> Built:
    records = ledger_records(run.ledger_events())
    kinds = {_kind(r) for r in records}
    assert {0, 1, 3, 7}.issubset(kinds), (
        f"the run should hold sales, greys, unlocks and cash records: {kinds}"
    )
    times = sorted(r.rec.time for r in records if isinstance(r.rec.time, dt.datetime))
    middle = times[len(times) // 2]
    boundary = DayBoundary(middle.hour, middle.minute, middle.second)
    path = tmp_path_factory.mktemp("built") / "station.db"
    windows = asyncio.run(build_journal(path, records))
    return Built(path, records, boundary, windows)


def reader(built: Built) -> ReportReader:
    return ReportReader(open_readonly(built.path), station="T", boundary=built.boundary)


def test_day_reports_every_section_equals_the_ledger(built: Built) -> None:
    rd = reader(built)
    days = sorted({business_day(r, built.boundary) for r in built.records})
    assert len(days) == 2, "the day boundary splits the run into two business days"
    for day in days:
        of_day = [r for r in built.records if business_day(r, built.boundary) == day]
        report = rd.report(day_period(day, built.boundary), DIMENSIONS)
        assert total(report) == sums(of_day)[""], day
        for dimension in DIMENSIONS:
            assert section_rows(report, dimension) == sums(of_day, lambda r, d=dimension: key_of(d, r)), (
                day,
                dimension,
            )


def test_shift_month_and_period_reports_equal_the_ledger(built: Built) -> None:
    rd = reader(built)
    for shift_id, start, end in built.shifts:
        report = rd.report(shift_period(shift_id, start, end), ("product", "employee", "payment"))
        assert total(report) == sums(r for r in built.records if start <= r.at < end)[""], shift_id
    assert (
        sum(total(rd.report(shift_period(s, a, b), ("mode",)))[0] for s, a, b in built.shifts)
        == sums(built.records)[""][0]
    )
    first = min(r.rec.time for r in built.records if isinstance(r.rec.time, dt.datetime))
    month = rd.report(month_period(first.year, first.month, built.boundary), ("day", "product"))
    # the business days of the run are in the month unless the run straddles a month's first boundary
    in_month = [r for r in built.records if business_day(r, built.boundary).month == first.month]
    assert total(month) == sums(in_month)[""]
    assert section_rows(month, "day") == sums(in_month, lambda r: business_day(r, built.boundary).isoformat())
    split = dt.datetime.combine(first.date(), dt.time()) + built.boundary.offset
    if split <= first:
        split += dt.timedelta(days=1)
    period = rd.report(range_period(first, split), ("nozzle",))
    assert (
        total(period)
        == sums(
            r for r in built.records if isinstance(r.rec.time, dt.datetime) and first <= r.rec.time < split
        )[""]
    )


def test_xlsx_read_back_gives_the_same_figures(built: Built, tmp_path: Path) -> None:
    rd = reader(built)
    day = business_day(built.records[-1], built.boundary)
    report = rd.report(day_period(day, built.boundary), DIMENSIONS)
    path = tmp_path / "day.xlsx"
    xlsx.write_report(path, report)
    book = openpyxl.load_workbook(path, read_only=True)
    rows = list(book["report"].iter_rows(values_only=True))
    header = rows[0]
    assert header[4:] == ("Records [records, int]", "Volume [0.01 unit, int]", "Amount [fen, int]")
    of_day = [r for r in built.records if business_day(r, built.boundary) == day]
    for dimension in DIMENSIONS:
        got = {row[1]: (row[4], row[5], row[6]) for row in rows[1:] if row[0] == dimension and row[1]}
        assert got == sums(of_day, lambda r, d=dimension: key_of(d, r)), dimension
        totals = [row for row in rows[1:] if row[0] == dimension and not row[1]]
        assert [(t[4], t[5], t[6]) for t in totals] == [sums(of_day)[""]]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_report_csv_and_xlsx_and_card_statement_equal_the_ledger(built: Built, tmp_path: Path) -> None:
    day = business_day(built.records[0], built.boundary)
    of_day = [r for r in built.records if business_day(r, built.boundary) == day]
    b = built.boundary
    common = (
        "--db",
        str(built.path),
        "--day-boundary",
        f"{b.hour:02d}:{b.minute:02d}:{b.second:02d}",
        "--language",
        "en",
    )
    out = cli("report", "day", day.isoformat(), *common, "--by", "product,payment", "--format", "csv")
    assert out.returncode == 0, out.stderr
    rows = list(csv.reader(io.StringIO(out.stdout)))
    assert rows[0][4:] == ["Records [records, int]", "Volume [0.01 unit, int]", "Amount [fen, int]"]
    got = {r[1]: (int(r[4]), int(r[5]), int(r[6])) for r in rows[1:] if r[0] == "payment" and r[1]}
    assert got == sums(of_day, lambda r: key_of("payment", r))
    target = tmp_path / "month.xlsx"
    first = of_day[0].rec.time
    assert isinstance(first, dt.datetime)
    out = cli(
        "report",
        "period",
        "2000-01-01",
        "2100-01-01",
        *common,
        "--by",
        "mode",
        "--format",
        "xlsx",
        "-o",
        str(target),
    )
    assert out.returncode == 0, out.stderr
    sheet = list(openpyxl.load_workbook(target, read_only=True)["report"].iter_rows(values_only=True))
    assert (sheet[1][4], sheet[1][5], sheet[1][6]) == sums(built.records)[""]
    # a card statement: the card with the most counted records
    by_card = sums(built.records, lambda r: r.rec.asn)
    asn = max(by_card, key=lambda a: by_card[a][0])
    out = cli("query", "card", asn, *common, "--format", "json")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    items, last = lines[:-1], lines[-1]
    assert len(items) == by_card[asn][0] and all(i["asn"] == asn for i in items)
    assert (last["total"]["count"], last["total"]["volume"], last["total"]["amount"]) == by_card[asn]


def test_greys_outstanding_equal_the_ledger(built: Built) -> None:
    unlocked = {(r.rec.asn, r.rec.ctc) for r in built.records if _kind(r) in (3, 4)}
    expected = sorted(
        (r.rec.asn, r.rec.ctc, r.rec.amn)
        for r in built.records
        if _kind(r) == 1 and (r.rec.asn, r.rec.ctc) not in unlocked
    )
    got = sorted((g["asn"], g["ctc"], g["amount"]) for g in reader(built).greys_outstanding())
    assert got == expected


def test_the_daemons_own_database_gives_the_same_day_figures(run: Station, built: Built) -> None:
    from edge.config import load_config

    rd = ReportReader(open_readonly(load_config(run.config).storage.database), boundary=built.boundary)
    for day in sorted({business_day(r, built.boundary) for r in built.records}):
        of_day = [r for r in built.records if business_day(r, built.boundary) == day]
        report = rd.report(day_period(day, built.boundary), ("product", "payment"))
        assert total(report) == sums(of_day)[""]
        assert section_rows(report, "payment") == sums(of_day, lambda r: key_of("payment", r))


def test_reports_from_the_hourly_sums_equal_the_ledger(built: Built) -> None:
    """With a day boundary on the hour, whole-hour periods are read from `report_hours` (kept by a trigger
    as each record is stored): the same figures as the ledger, every section."""
    from storage.reports.query import hours_usable

    first = min(r.rec.time for r in built.records if isinstance(r.rec.time, dt.datetime))
    boundary = DayBoundary(first.hour)
    rd = ReportReader(open_readonly(built.path), station="T", boundary=boundary)
    period = month_period(first.year, first.month, boundary)
    assert hours_usable(period, boundary, None)
    report = rd.report(period, (*DIMENSIONS, "day"))
    in_month = [r for r in built.records if business_day(r, boundary).month == first.month]
    assert total(report) == sums(in_month)[""]
    for dimension in DIMENSIONS:
        assert section_rows(report, dimension) == sums(in_month, lambda r, d=dimension: key_of(d, r)), (
            dimension
        )
    assert section_rows(report, "day") == sums(in_month, lambda r: business_day(r, boundary).isoformat())
