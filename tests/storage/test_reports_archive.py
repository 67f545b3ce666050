"""Archive of closed days: the day reports are byte for byte the same before and after, and nothing
unsent, open or still needed (an outstanding grey record) leaves the live journal."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

from storage_testkit import make_record

from storage.archive import archive_before
from storage.db import Database, open_readonly
from storage.journal import Journal
from storage.outbox import OutboxMessage, enqueue_in
from storage.reports.core import DEFAULT_DIMENSIONS, report_json
from storage.reports.dayclose import close_day_in
from storage.reports.periods import DayBoundary, day_period, month_period
from storage.reports.query import ReportReader
from storage.reports.render import report_csv

BOUNDARY = DayBoundary(6)
DAYS = [dt.date(2026, 11, 20), dt.date(2026, 11, 21), dt.date(2026, 11, 22)]
USER = "10000111000000012345"
CONFIG = """\
[station]
id = "T1"

[storage]
database = "station.db"

[reports]
day_boundary = "06:00"

[[products]]
g_code = "0102"
name = "95#"

[[lines]]
name = "bus1"
url = "socket://127.0.0.1:9"
mode = "multi-drop"

[[lines.dispensers]]
pos_p = 1
nozzles = [{ nzn = 1, g_code = "0102" }]
"""


async def build(path: Path) -> None:
    db = await Database.open(path)
    journal = Journal(db)
    received = dt.datetime(2026, 11, 23, tzinfo=dt.UTC)
    ttc = 0

    async def put(when: dt.datetime, **changes: object) -> None:
        nonlocal ttc
        ttc += 1
        rec, raw = make_record(ttc, time=when, **changes)
        await journal.store_record("bus1", 1, rec, raw, received_at=received)

    try:
        for day in DAYS:
            noon = dt.datetime.combine(day, dt.time(12))
            await put(noon, amn=1_000 + day.day, vol=100)
            await put(
                noon + dt.timedelta(hours=17), amn=500, vol=60, unit=0x10
            )  # 05:00 next day: same business day
            await put(noon.replace(hour=5), amn=70, vol=10)  # 05:00 of `day`: the previous business day
        first = dt.datetime.combine(DAYS[0], dt.time(13))
        await put(first, t_type=0x11, asn=USER, ctc=40, amn=900, vol=120)  # grey, unlocked below
        await put(first + dt.timedelta(minutes=5), t_type=0x13, asn=USER, ctc=40, amn=900, vol=0)
        await put(
            first + dt.timedelta(minutes=9), t_type=0x11, asn=USER, ctc=41, amn=333, vol=44
        )  # outstanding
        # a conflict copy: the same POS_TTC re-sent with other bytes
        rec, raw = make_record(
            1, time=dt.datetime.combine(DAYS[0], dt.time(12)), amn=1_000 + DAYS[0].day, vol=100, emp=7
        )
        await journal.store_record("bus1", 1, rec, raw, received_at=received)
        now = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
        async with db.transaction() as tx:
            for day in DAYS[:2]:
                await close_day_in(tx, day, BOUNDARY, by="boss", now=now, station="T1")
            unsent = int(
                (await tx.one("SELECT pos_ttc FROM transactions WHERE event_time LIKE '2026-11-21T12%'"))[0]
            )
            await enqueue_in(
                tx, [OutboxMessage("station/T1/records", f"rec:T1:bus1:1:{unsent}", b"{}")], now=now
            )
    finally:
        await db.close()


def reports(db: Path, archive: Path) -> dict[str, str]:
    conn = open_readonly(db)
    try:
        rd = ReportReader(conn, station="T1", boundary=BOUNDARY, archive=archive)
        out = {}
        for day in [DAYS[0] - dt.timedelta(days=1), *DAYS]:
            report = rd.report(day_period(day, BOUNDARY), (*DEFAULT_DIMENSIONS, "hour"))
            out[day.isoformat()] = report_csv(report) + json.dumps(report_json(report), sort_keys=True)
        month = rd.report(month_period(2026, 11, BOUNDARY), ("day", "product", "payment"))
        out["month"] = report_csv(month)
        out["greys"] = json.dumps(list(rd.greys_outstanding()))
        return out
    finally:
        conn.close()


def live_ids(db: Path) -> dict[str, set[int]]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT id, substr(event_time, 1, 10), kind FROM transactions").fetchall()
    finally:
        conn.close()
    out: dict[str, set[int]] = {}
    for rid, day, _kind in rows:
        out.setdefault(day, set()).add(rid)
    return out


async def test_archive_keeps_the_reports_and_never_moves_open_unsent_or_outstanding(tmp_path: Path) -> None:
    db, archive = tmp_path / "station.db", tmp_path / "archive.db"
    await build(db)
    before = reports(db, archive)
    assert '"verified": true' in before[DAYS[0].isoformat()]
    conn = sqlite3.connect(db)
    try:  # the hourly sums (kept by the insert trigger) equal the counted originals, conflict copy excluded
        hours = conn.execute("SELECT sum(count), sum(volume), sum(amount) FROM report_hours").fetchone()
        raw = conn.execute(
            "SELECT count(*), sum(CASE WHEN kind IN (0, 1, 7, 9) THEN vol ELSE 0 END), sum(amn) FROM transactions"
            " WHERE conflict_of IS NULL AND kind IN (0, 1, 3, 4, 7, 9)"
        ).fetchone()
        assert hours == raw and raw[0] == 12
        assert conn.execute("SELECT count(*) FROM transactions WHERE conflict_of IS NOT NULL").fetchone() == (
            1,
        )
    finally:
        conn.close()

    result = archive_before(db, archive, dt.date(2026, 12, 1))
    assert result.moved_days == [DAYS[0].isoformat()]
    assert (
        set(result.skipped) == {DAYS[1].isoformat()} and "not yet sent" in result.skipped[DAYS[1].isoformat()]
    )
    assert result.kept_greys == 1
    after = reports(db, archive)
    assert after == before

    conn = sqlite3.connect(db)
    try:
        live = conn.execute("SELECT kind, asn, ctc, event_time FROM transactions ORDER BY id").fetchall()
        archived = conn.execute("SELECT day, records FROM archived_days").fetchall()
    finally:
        conn.close()
    # day 1's records left, except the outstanding grey (kept for the 0x35 lookup)
    day1 = [
        r
        for r in live
        if day_period(DAYS[0], BOUNDARY).start_text <= r[3] < day_period(DAYS[0], BOUNDARY).end_text
    ]
    assert day1 == [(1, USER, 41, "2026-11-20T13:09:00")]
    assert archived == [(DAYS[0].isoformat(), 6)]  # 5 originals + the conflict copy
    # day 2 (a record unsent) and day 3 (not closed) untouched
    for day, count in ((DAYS[1], 3), (DAYS[2], 2)):
        p = day_period(day, BOUNDARY)
        assert len([r for r in live if p.start_text <= r[3] < p.end_text]) == count
    arch = sqlite3.connect(archive)
    try:
        assert arch.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert arch.execute("SELECT count(*) FROM transactions").fetchone() == (6,)
    finally:
        arch.close()

    # once everything is sent, day 2 goes too; a second run moves nothing twice
    conn = sqlite3.connect(db)
    conn.execute("DELETE FROM outbox")
    conn.commit()
    conn.close()
    again = archive_before(db, archive, dt.date(2026, 12, 1))
    assert again.moved_days == [DAYS[1].isoformat()] and not again.skipped
    assert reports(db, archive) == before
    assert archive_before(db, archive, dt.date(2026, 12, 1)).moved_days == []


async def test_an_archive_cut_short_counts_nothing_twice(tmp_path: Path) -> None:
    db, archive = tmp_path / "station.db", tmp_path / "archive.db"
    await build(db)
    before = reports(db, archive)
    from storage.archive import open_archive
    from storage.reports.query import JOURNAL_COLUMNS

    # step 1 done (rows copied into the archive), step 2 not (still in the live journal)
    cols = ", ".join(JOURNAL_COLUMNS)
    arch = open_archive(archive)
    live = sqlite3.connect(db)
    try:
        rows = live.execute(f"SELECT {cols} FROM transactions").fetchall()
        arch.executemany(
            f"INSERT INTO transactions ({cols}) VALUES ({', '.join('?' * len(JOURNAL_COLUMNS))})", rows
        )
    finally:
        live.close()
        arch.close()
    assert reports(db, archive) == before
    assert archive_before(db, archive, dt.date(2026, 12, 1)).moved_days == [DAYS[0].isoformat()]
    assert reports(db, archive) == before


def test_cli_archive_and_reports_read_the_archive(tmp_path: Path) -> None:
    import asyncio

    (tmp_path / "station.toml").write_text(CONFIG)
    asyncio.run(build(tmp_path / "station.db"))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "edge.cli", *args], capture_output=True, text=True, timeout=120
        )

    cfg = str(tmp_path / "station.toml")
    day = cli("report", "day", DAYS[0].isoformat(), "--config", cfg, "--format", "csv")
    assert day.returncode == 0, day.stderr
    # frozen without product names, read with them (--config) and without (--db): verified both ways
    for source in (("--config", cfg), ("--db", str(tmp_path / "station.db"), "--day-boundary", "06:00")):
        doc = json.loads(cli("report", "day", DAYS[0].isoformat(), *source, "--format", "json").stdout)
        assert doc["closed"]["verified"] is True, source
    moved = cli("archive", "--before", "2026-12-01", "--config", cfg, "--json")
    assert moved.returncode == 0, moved.stderr
    assert json.loads(moved.stdout)["moved_days"] == [DAYS[0].isoformat()]
    assert (tmp_path / "archive.db").is_file()
    assert cli("report", "day", DAYS[0].isoformat(), "--config", cfg, "--format", "csv").stdout == day.stdout
    bad = cli("archive", "--before", "yesterday", "--config", cfg)
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr
