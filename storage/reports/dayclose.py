"""The daily close (日结): a business day's figures frozen in one transaction, late records as adjustments.

Layer: storage. `close_day_in(tx, ...)` runs inside the caller's transaction (the daemon adds the audit
row and the message for the centre to the same transaction), so a day is either closed with every
figure, or not closed at all — a crash or SIGKILL in the middle leaves no trace:

    day already closed?  ─yes─▶ DayCloseError
    shift open?          ─yes─▶ DayCloseError (the daemon checks the dispensers before this)
    day not over yet?    ─yes─▶ DayCloseError
    high-water mark = max(transactions.id)         every record stored so far, and no later one
    report of the day's records (event_time in the window, id <= mark), every section checked
    INSERT day_closes (figures JSON + SHA-256)     frozen: triggers refuse UPDATE and DELETE
    INSERT day_adjustments for records of earlier closed days that arrived after their close

A record of a closed day that arrives later is never folded into the frozen figures: it becomes a
`day_adjustments` row (noted at the next close, or by `note_adjustments_in`), shown apart in the report.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from storage.clock import iso_instant
from storage.db import Tx
from storage.errors import StorageError
from storage.reports.core import (
    COUNTED_KINDS,
    DEFAULT_DIMENSIONS,
    DISPENSED_KINDS,
    Names,
    Report,
    build_report,
    figures_json,
)
from storage.reports.periods import DayBoundary, day_period
from storage.reports.query import covered_figures, covered_statement, cube_rows, cube_statement

CLOSE_DIMENSIONS = (*DEFAULT_DIMENSIONS, "hour")
"""The breakdowns frozen with a closed day."""


class DayCloseError(StorageError):
    """A business day that cannot be closed now; the message says why."""


@dataclass(frozen=True, slots=True)
class ClosedDayRow:
    day: dt.date
    closed_at: dt.datetime
    closed_by: str
    last_record_id: int
    report: Report
    digest: str
    adjustments: int
    """Late records of earlier closed days noted by this close."""


def figures_text(report: Report) -> str:
    return json.dumps(figures_json(report), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


async def close_day_in(
    tx: Tx,
    day: dt.date,
    boundary: DayBoundary,
    *,
    by: str,
    now: dt.datetime,
    station: str = "",
    names: Names | None = None,
) -> ClosedDayRow:
    """Close business day `day` inside `tx` (see the module docstring)."""
    period = day_period(day, boundary)
    if await tx.fetchone("SELECT 1 FROM day_closes WHERE day = ?", (period.name,)) is not None:
        raise DayCloseError(f"business day {period.name} is already closed")
    shift = await tx.fetchone("SELECT id, opened_by FROM shifts WHERE closed_at IS NULL")
    if shift is not None:
        raise DayCloseError(
            f"shift {shift['id']} (opened by {shift['opened_by']}) is still open: close it first"
        )
    local_now = now.astimezone().replace(tzinfo=None) if now.tzinfo else now
    if local_now < period.end:
        raise DayCloseError(f"business day {period.name} is not over until {period.end_text}")
    mark = int((await tx.one("SELECT coalesce(max(id), 0) FROM transactions"))[0])
    st, cols = cube_statement(period, CLOSE_DIMENSIONS, boundary, upto_id=mark)
    cube = cube_rows(await tx.execute(st.sql, st.params), cols)
    cov = covered_statement(period, upto_id=mark)
    covered, _ = covered_figures(await tx.one(cov.sql, cov.params))
    report = build_report(station, period, cube, covered, CLOSE_DIMENSIONS, names=names or Names())
    text = figures_text(report)
    digest = hashlib.sha256(text.encode()).hexdigest()
    await tx.execute(
        "INSERT INTO day_closes (day, starts_at, ends_at, closed_at, closed_by, last_record_id, records, volume,"
        " amount, figures, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (period.name, period.start_text, period.end_text, iso_instant(now), by, mark, covered.count,
         covered.volume, covered.amount, text, digest),
    )  # fmt: skip
    noted = await note_adjustments_in(tx, by=by, now=now)
    return ClosedDayRow(day, now, by, mark, report, digest, noted)


async def note_adjustments_in(tx: Tx, *, by: str, now: dt.datetime) -> int:
    """Record as adjustments every record of a closed day stored after that day's close (once each)."""
    counted = ", ".join(str(k) for k in COUNTED_KINDS)
    dispensed = ", ".join(str(k) for k in DISPENSED_KINDS)
    rows = await tx.execute(
        "INSERT INTO day_adjustments (day, record_id, kind, counted, volume, amount, noted_at, noted_by)"
        f" SELECT c.day, t.id, t.kind, t.kind IN ({counted}),"
        f" CASE WHEN t.kind IN ({dispensed}) THEN t.vol ELSE 0 END, t.amn, ?, ?"
        " FROM day_closes AS c JOIN transactions AS t"
        "   ON t.event_time >= c.starts_at AND t.event_time < c.ends_at AND t.id > c.last_record_id"
        " WHERE t.conflict_of IS NULL"
        "   AND NOT EXISTS (SELECT 1 FROM day_adjustments AS a WHERE a.record_id = t.id)"
        " RETURNING id",
        (iso_instant(now), by),
    )
    return len(rows)


async def closed_days(tx: Tx) -> list[str]:
    return [str(r[0]) for r in await tx.execute("SELECT day FROM day_closes ORDER BY day")]
