"""Period reports for control API clients (the TUI's reports screen): request → storage report → message.

Layer: edge (service over `storage.reports`). The report is read on a separate read-only connection in a
worker thread (WAL: the daemon keeps committing meanwhile), over the live and the archive journal.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING

from edge.control import messages as m
from edge.errors import EdgeError
from edge.housekeeping_config import housekeeping_settings
from protocol.i18n import DEFAULT_LANGUAGE, Translator, UnknownLanguage, translator
from storage.db import open_readonly
from storage.errors import StorageError
from storage.reports import labels as L
from storage.reports.core import Figures, Names, Report, ReportError
from storage.reports.periods import (
    Period,
    PeriodError,
    day_period,
    month_period,
    parse_day,
    parse_month,
    parse_year,
    year_period,
)
from storage.reports.query import ReportReader
from storage.reports.render import report_text

if TYPE_CHECKING:
    from edge.daemon import Station

TIME_BREAKDOWN = {"day": "hour", "month": "day", "year": "month"}
DEFAULT_BREAKDOWNS = ("product", "payment")


class ReportRequestError(EdgeError):
    """A report request that cannot be answered (bad period, unknown breakdown, unreadable database)."""


def _line(key: str, label: str, unit: str, f: Figures) -> m.ReportLine:
    return m.ReportLine(key, label, unit, f.count, f.volume, f.amount)


def report_translator(language: str, station: Station) -> Translator:
    """The reader's language (asked for, else the operator's), else the station's."""
    for candidate in (language, station.config.station.language):
        if candidate:
            try:
                return translator(candidate)
            except UnknownLanguage:
                continue
    return translator(DEFAULT_LANGUAGE)


def report_message(report: Report, tr: Translator = L.ENGLISH) -> m.PeriodReport:
    """The report as its reader reads it: titles, item words and text in `tr`'s language; dimensions,
    keys, units and figures the same in every language."""
    closed = report.closed
    total = L.word("total", tr)
    return m.PeriodReport(
        kind=report.period.kind.value,
        name=report.period.name,
        start=report.period.start_text,
        end=report.period.end_text,
        station=report.station,
        total=_line("", total, "", report.total),
        sections=tuple(
            m.ReportSectionView(
                dimension=s.dimension,
                title=L.section_title(s.dimension, tr),
                rows=tuple(
                    _line(r.key, L.row_label(s.dimension, r.key, r.label, tr), r.unit, r.figures)
                    for r in s.rows
                ),
                total=_line("", total, "", s.total),
            )
            for s in report.sections
        ),
        closed_at=closed.closed_at if closed else "",
        closed_by=closed.closed_by if closed else "",
        verified=closed.verified if closed else False,
        text=report_text(report, tr),
    )


def resolve_period(kind: str, value: str, station: Station, now: dt.datetime) -> Period:
    boundary = housekeeping_settings(station.config).day_boundary
    today = boundary.day_of(now.astimezone().replace(tzinfo=None))
    try:
        match kind:
            case "day":
                return day_period(parse_day(value) if value else today, boundary)
            case "month":
                year, month = parse_month(value) if value else (today.year, today.month)
                return month_period(year, month, boundary)
            case "year":
                return year_period(parse_year(value) if value else today.year, boundary)
    except PeriodError as exc:
        raise ReportRequestError(str(exc)) from exc
    raise ReportRequestError(f"unknown period kind {kind!r} (day, month, year)")


async def period_report(
    station: Station, kind: str, value: str, by: Sequence[str], *, now: dt.datetime, language: str = ""
) -> m.PeriodReport:
    period = resolve_period(kind, value, station, now)
    settings = housekeeping_settings(station.config)
    dims = tuple(by) or (*DEFAULT_BREAKDOWNS, TIME_BREAKDOWN[kind])
    products = station.config.products
    names = Names({p.g_code: p.name for p in products}, {p.g_code: p.unit for p in products})

    def build() -> Report:
        conn = open_readonly(station.config.storage.database)
        try:
            reader = ReportReader(
                conn,
                station=station.config.station.id,
                boundary=settings.day_boundary,
                names=names,
                archive=settings.archive_database,
            )
            return reader.report(period, dims, now=now)
        finally:
            conn.close()

    try:
        return report_message(await asyncio.to_thread(build), report_translator(language, station))
    except ReportError as exc:
        raise ReportRequestError(str(exc)) from exc
    except StorageError as exc:
        raise ReportRequestError(f"the journal cannot be read: {exc}") from exc
