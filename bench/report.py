"""Report benchmark: a month report over 1 000 000 records, and the XLSX export of 100 000 rows.

Builds (untimed) a real station database with `records` counted records spread over one month, as a
busy station makes them (three products on sixteen nozzles of eight dispensers, two shifts of four
attendants, cash / ticket / credit / bank card, some grey and cash records), inserted through the
packaged schema (its triggers included), then, each in a fresh process so the figures are that
operation's alone:

- `month_report_s`: `station report month` with the default breakdowns and by day (target < 2 s);
- `xlsx_s`, `xlsx_rss_mb`: `station query records --format xlsx` of `xlsx_rows` rows, streamed
  (targets < 10 s, peak RSS < 150 MB).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from protocol.record import RECORD_STRUCT, sample_record
from storage.db import Database

TARGET_MONTH_S = 2.0
TARGET_XLSX_S = 10.0
TARGET_XLSX_RSS_MB = 150.0
MONTH = (2026, 11)
BATCH = 20_000


def _build(path: Path, records: int, seed: int = 14) -> None:
    async def migrate() -> None:
        db = await Database.open(path)
        await db.close()

    asyncio.run(migrate())
    rng = random.Random(seed)
    raw = RECORD_STRUCT.build(sample_record().to_dict())
    start = dt.datetime(*MONTH, 1, 6)
    span_s = 30 * 86400
    products = ("0092", "0095", "0098")
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA synchronous = OFF")
    cols = (
        "line, dispenser, pos_ttc, t_type, kind, time, event_time, asn, bal, amn, ctc, ds, unit, nzn, g_code, vol,"
        " prc, emp, v_tot, t_mac, raw, received_at"
    )
    sql = f"INSERT INTO transactions ({cols}) VALUES ({', '.join('?' * 22)})"
    received = "2026-12-01T00:00:00.000000+00:00"
    ttc = 0
    offsets = sorted(rng.randrange(span_s) for _ in range(records))
    for first in range(0, len(offsets), BATCH):
        chunk = offsets[first : first + BATCH]
        rows = []
        for off in chunk:
            ttc += 1
            t = (start + dt.timedelta(seconds=off)).isoformat()
            kind = rng.choices((0, 1, 3, 7), (88, 3, 2, 7))[0]
            dispenser = rng.randrange(1, 9)
            nzn = rng.randrange(1, 3) + 2 * (dispenser - 1)
            vol = rng.randrange(500, 6000)
            hour = (6 + off // 3600) % 24
            emp = (dispenser - 1) % 4 + 1 + 4 * (hour >= 14)  # two shifts of four attendants
            pay = rng.choices((0, 1, 2, 3), (50, 10, 5, 35))[0]
            card = "01" if kind != 7 else "00"
            rows.append((
                "bus1", dispenser, ttc, 0x10 | kind, kind, t, t, f"1000{card}{rng.randrange(10**14):014d}", 100_000,
                vol * 75 // 10, 7, 0, pay << 4, nzn, products[nzn % 3], vol, 750, emp, 0, 0, raw, received,
            ))  # fmt: skip
        conn.executemany(sql, rows)
        conn.commit()
    conn.close()


def _child(what: str, db: str, out: str, rows: int) -> None:
    """One measured operation in this (fresh) process; prints seconds and peak RSS as JSON."""
    from storage.db import open_readonly
    from storage.reports import labels as L
    from storage.reports import xlsx
    from storage.reports.core import DEFAULT_DIMENSIONS
    from storage.reports.periods import DayBoundary, month_period
    from storage.reports.query import ReportReader
    from storage.reports.render import dict_rows

    conn = open_readonly(db)
    reader = ReportReader(conn, boundary=DayBoundary(6))
    period = month_period(*MONTH, reader.boundary)
    t0 = time.perf_counter()
    if what == "month":
        report = reader.report(period, (*DEFAULT_DIMENSIONS, "day"))
        count = report.total.count
    else:
        count = xlsx.write_rows(
            Path(out),
            L.RECORD_COLUMNS,
            dict_rows(L.RECORD_COLUMNS, itertools.islice(reader.records(period), rows)),
        )
    seconds = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "rss_mb": rss_mb, "count": count}))


def _measure(what: str, db: Path, out: Path, rows: int) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "bench.report", what, str(db), str(out), str(rows)],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    doc: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return doc


def run(records: int = 1_000_000, xlsx_rows: int = 100_000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-report-") as tmp:
        db = Path(tmp) / "station.db"
        t0 = time.perf_counter()
        _build(db, records)
        build_s = time.perf_counter() - t0
        month = _measure("month", db, Path(tmp) / "unused", 0)
        export = _measure("xlsx", db, Path(tmp) / "records.xlsx", xlsx_rows)
        size_mb = (Path(tmp) / "records.xlsx").stat().st_size / 1e6
    assert month["count"] == records, month
    result = {
        "name": "report",
        "records": records,
        "month_report_s": round(month["seconds"], 3),
        "month_report_target_s": TARGET_MONTH_S,
        "xlsx_rows": export["count"],
        "xlsx_s": round(export["seconds"], 3),
        "xlsx_target_s": TARGET_XLSX_S,
        "xlsx_rss_mb": round(export["rss_mb"], 1),
        "xlsx_rss_target_mb": TARGET_XLSX_RSS_MB,
        "xlsx_mb": round(size_mb, 1),
        "build_s": round(build_s, 1),
        "ok": month["seconds"] < TARGET_MONTH_S
        and export["seconds"] < TARGET_XLSX_S
        and export["rss_mb"] < TARGET_XLSX_RSS_MB,
    }
    print(
        f"report: month report over {records} records {month['seconds']:.2f} s (target < {TARGET_MONTH_S} s); "
        f"XLSX of {export['count']} rows {export['seconds']:.2f} s (< {TARGET_XLSX_S} s), "
        f"peak RSS {export['rss_mb']:.0f} MB (< {TARGET_XLSX_RSS_MB:.0f} MB)",
        flush=True,
    )
    return result


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]))
