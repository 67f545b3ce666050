"""The report SQL: one grouped scan per report (the cube), an independent total, record listings.

Layer: storage. The only module of the reports that knows SQL. `ReportReader` wraps a read connection
(`storage.db.open_readonly`, safe while the daemon writes) and, when an archive database exists, reads
the live and the archived journal as one (`UNION ALL`): a report of an archived day is the same report.
The daemon's daily close builds the same statements inside its transaction (`cube_statement`,
`covered_statement` with a `Tx`).

    SELECT <dimension columns>, count(*), sum(dispensed vol), sum(amn)
    FROM <journal> WHERE conflict_of IS NULL AND kind IN (counted)
      AND event_time >= :start AND event_time < :end          (a shift: received_at in its window)
      [AND id <= :upto]                                        (a closed day: its frozen high-water mark)
    GROUP BY <dimension columns>
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storage.errors import translate
from storage.reports import labels as L
from storage.reports.core import (
    COUNTED_KINDS,
    DISPENSED_KINDS,
    ClosedDay,
    CubeRow,
    Figures,
    Names,
    Report,
    ReportError,
    Row,
    Section,
    build_report,
    check_dimensions,
    figures_json,
    tonnes,
    total_of,
)
from storage.reports.periods import DayBoundary, Period, day_period

JOURNAL_COLUMNS = (
    "id", "line", "dispenser", "pos_ttc", "t_type", "kind", "time", "event_time", "asn", "bal", "amn", "ctc",
    "ds", "unit", "nzn", "g_code", "vol", "prc", "emp", "v_tot", "t_mac", "raw", "received_at",
    "tmac_error", "conflict_of",
)  # fmt: skip
"""The journal columns the archive keeps and the reports read (both databases have them)."""

log = logging.getLogger(__name__)

_COUNTED = ", ".join(str(k) for k in COUNTED_KINDS)
_DISPENSED = ", ".join(str(k) for k in DISPENSED_KINDS)
_FIGURES = (
    f"count(*), coalesce(sum(CASE WHEN kind IN ({_DISPENSED}) THEN vol ELSE 0 END), 0), coalesce(sum(amn), 0)"
)
_CARD_KIND = "CASE WHEN length(asn) = 20 THEN substr(asn, 5, 2) ELSE '' END"

# dimension → the cube columns it needs: (name, over the records, over `report_hours`); `:mod` is the
# day-boundary modifier
_NEEDS: Mapping[str, tuple[tuple[str, str, str], ...]] = {
    "product": (("g_code", "g_code", "g_code"),),
    "nozzle": (("line", "line", "line"), ("dispenser", "dispenser", "dispenser"), ("nzn", "nzn", "nzn"),
               ("g_code", "g_code", "g_code")),
    "dispenser": (("line", "line", "line"), ("dispenser", "dispenser", "dispenser")),
    "employee": (("emp", "emp", "emp"),),
    "payment": (("kind", "kind", "kind"), ("pay", "(unit >> 4) & 15", "pay")),
    "mode": (("kind", "kind", "kind"),),
    "card_kind": (("card_kind", _CARD_KIND, "card_kind"),),
    "day": (("day", "date(event_time, :mod)", "date(hour || ':00:00', :mod)"),),
    "month": (("month", "substr(date(event_time, :mod), 1, 7)", "substr(date(hour || ':00:00', :mod), 1, 7)"),),
    "hour": (("hour", "substr(event_time, 12, 2)", "substr(hour, 12, 2)"),),
}  # fmt: skip
_CUBE_FIGURES = "sum(count), sum(volume), sum(amount)"


@dataclass(frozen=True, slots=True)
class Statement:
    sql: str
    params: dict[str, Any]


def _window(period: Period, upto_id: int | None, extra: str = "") -> tuple[str, dict[str, Any]]:
    if period.received is not None:
        where = "received_at >= :start AND received_at < :end"
        params: dict[str, Any] = {"start": period.received[0], "end": period.received[1]}
    else:
        where = "event_time >= :start AND event_time < :end"
        params = {"start": period.start_text, "end": period.end_text}
    where = f"conflict_of IS NULL AND kind IN ({_COUNTED}) AND {where}"
    if upto_id is not None:
        where += " AND id <= :upto"
        params["upto"] = upto_id
    if extra:
        where += f" AND {extra}"
    return where, params


def _modifier(boundary: DayBoundary) -> str:
    return f"-{int(boundary.offset.total_seconds())} seconds"


def cube_statement(
    period: Period,
    dimensions: Sequence[str],
    boundary: DayBoundary,
    *,
    source: str = "transactions",
    upto_id: int | None = None,
) -> tuple[Statement, tuple[str, ...]]:
    """The grouped scan for `dimensions` and the cube column names it yields (before the figures)."""
    columns: dict[str, str] = {}
    for d in check_dimensions(dimensions):
        for name, expr, _ in _NEEDS[d]:
            columns.setdefault(name, expr)
    where, params = _window(period, upto_id)
    if any(":mod" in e for e in columns.values()):
        params["mod"] = _modifier(boundary)
    select = ", ".join(f"{expr} AS {name}" for name, expr in columns.items())
    names = tuple(columns)
    sql = f"SELECT {select}, {_FIGURES} FROM {source} WHERE {where} GROUP BY {', '.join(names)}"
    return Statement(sql, params), names


def hours_usable(period: Period, boundary: DayBoundary, upto_id: int | None) -> bool:
    """Can `report_hours` answer this report? Only for whole hours of event time, without a record
    high-water mark (a closed day is reported from its records), with a boundary on the hour."""
    whole = all(t.minute == 0 and t.second == 0 for t in (period.start, period.end))
    on_hour = boundary.minute == 0 and boundary.second == 0
    return period.received is None and upto_id is None and whole and on_hour


def hours_statement(
    period: Period, dimensions: Sequence[str], boundary: DayBoundary
) -> tuple[Statement, tuple[str, ...]]:
    """The cube of a whole-hour period from `report_hours` (same columns as `cube_statement`)."""
    columns: dict[str, str] = {}
    for d in check_dimensions(dimensions):
        for name, _, expr in _NEEDS[d]:
            columns.setdefault(name, expr)
    params: dict[str, Any] = {"start": period.start_text[:13], "end": period.end_text[:13]}
    if any(":mod" in e for e in columns.values()):
        params["mod"] = _modifier(boundary)
    select = ", ".join(f"{expr} AS {name}" for name, expr in columns.items())
    names = tuple(columns)
    sql = (
        f"SELECT {select}, {_CUBE_FIGURES} FROM report_hours WHERE hour >= :start AND hour < :end"
        f" GROUP BY {', '.join(names)}"
    )
    return Statement(sql, params), names


def covered_statement(
    period: Period, *, source: str = "transactions", upto_id: int | None = None
) -> Statement:
    """The independent total of the records a report covers (no grouping)."""
    where, params = _window(period, upto_id)
    return Statement(f"SELECT {_FIGURES}, coalesce(max(id), 0) FROM {source} WHERE {where}", params)


def cube_rows(rows: Sequence[Any], names: Sequence[str]) -> list[CubeRow]:
    n = len(names)
    return [
        CubeRow(dict(zip(names, tuple(r)[:n], strict=True)), Figures(int(r[n]), int(r[n + 1]), int(r[n + 2])))
        for r in rows
    ]


def covered_figures(row: Any) -> tuple[Figures, int]:
    """(figures, highest record id) of a `covered_statement` row."""
    return Figures(int(row[0]), int(row[1]), int(row[2])), int(row[3])


class ReportReader:
    """Reports over a read connection: the live journal, plus the archive database when there is one."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        *,
        station: str = "",
        boundary: DayBoundary | None = None,
        names: Names | None = None,
        archive: Path | None = None,
    ) -> None:
        self.conn = conn
        self.station = station
        self.boundary = boundary or DayBoundary()
        self.names = names or Names()
        self.source = "transactions"
        self.archived = False
        if archive is not None and archive.is_file():
            self._attach(archive)

    def _attach(self, archive: Path) -> None:
        try:
            self.conn.execute("ATTACH DATABASE ? AS archive", (f"{archive.resolve().as_uri()}?mode=ro",))
            has = self.conn.execute(
                "SELECT count(*) FROM archive.sqlite_schema WHERE type = 'table' AND name = 'transactions'"
            ).fetchone()[0]
        except sqlite3.Error as exc:
            raise translate(exc, "ATTACH archive") from exc
        if has:
            cols = ", ".join(JOURNAL_COLUMNS)
            # archive rows the live journal still holds (an archive run cut short) are read once
            self.source = (
                f"(SELECT {cols} FROM main.transactions UNION ALL SELECT {cols} FROM archive.transactions AS a"
                " WHERE NOT EXISTS (SELECT 1 FROM main.transactions AS m WHERE m.id = a.id))"
            )
            self.archived = True

    def _all(self, st: Statement) -> list[Any]:
        try:
            return self.conn.execute(st.sql, st.params).fetchall()
        except sqlite3.Error as exc:
            raise translate(exc, st.sql) from exc

    # --- period reports -----------------------------------------------------------------------------

    def report(
        self,
        period: Period,
        dimensions: Sequence[str],
        *,
        now: dt.datetime | None = None,
        upto_id: int | None = None,
    ) -> Report:
        """The report of `period` broken down by `dimensions`; a closed business day is reported as it
        was frozen (records up to the close's high-water mark), with later records as adjustments."""
        close = self.closed_day(period.name) if period.kind.value == "day" else None
        if close is not None and upto_id is None:
            upto_id = int(close["last_record_id"])
        covered, _ = covered_figures(
            self._all(covered_statement(period, source=self.source, upto_id=upto_id))[0]
        )
        cube: list[CubeRow] | None = None
        if hours_usable(period, self.boundary, upto_id) and self._has_table("report_hours"):
            st, names = hours_statement(period, dimensions, self.boundary)
            cube = cube_rows(self._all(st), names)
            if total_of(r.figures for r in cube) != covered:
                log.warning(
                    "%s: the hourly sums differ from the records; reporting from the records", period.name
                )
                cube = None
        if cube is None:
            st, names = cube_statement(period, dimensions, self.boundary, source=self.source, upto_id=upto_id)
            cube = cube_rows(self._all(st), names)
        report = build_report(self.station, period, cube, covered, dimensions, names=self.names, now=now)
        if close is None:
            return report
        frozen = _frozen_matches(close["figures"], report)
        closed = ClosedDay(
            day=close["day"],
            closed_at=close["closed_at"],
            closed_by=close["closed_by"],
            last_record_id=int(close["last_record_id"]),
            verified=frozen,
        )
        return build_report(
            self.station, period, cube, covered, dimensions, names=self.names, now=now, closed=closed,
            adjustments=self.adjustments(period.name),
        )  # fmt: skip

    def day_report(
        self, day: dt.date, dimensions: Sequence[str], *, now: dt.datetime | None = None
    ) -> Report:
        return self.report(day_period(day, self.boundary), dimensions, now=now)

    def shift_window(self, shift_id: int, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
        """When shift `shift_id` was open: (opened, closed — or `now` while it is open)."""
        if not self._has_table("shifts"):
            raise ReportError(f"no shift {shift_id}")
        rows = self._all(
            Statement("SELECT opened_at, closed_at FROM shifts WHERE id = :id", {"id": shift_id})
        )
        if not rows:
            raise ReportError(f"no shift {shift_id}")
        opened = dt.datetime.fromisoformat(rows[0][0])
        closed = dt.datetime.fromisoformat(rows[0][1]) if rows[0][1] else now
        return opened, closed

    def closed_day(self, day: str) -> sqlite3.Row | None:
        if not self._has_table("day_closes"):
            return None
        rows = self._all(Statement("SELECT * FROM day_closes WHERE day = :day", {"day": day}))
        return rows[0] if rows else None

    def adjustments(self, day: str) -> Section:
        rows = self._all(
            Statement(
                "SELECT kind, count(*), sum(volume), sum(amount) FROM day_adjustments"
                " WHERE day = :day AND counted = 1 GROUP BY kind ORDER BY kind",
                {"day": day},
            )
        )
        out = tuple(
            Row(f"{int(r[0]):02d}", L.kind_name(int(r[0])), Figures(int(r[1]), int(r[2]), int(r[3])))
            for r in rows
        )
        total = Figures()
        for r in out:
            total = total + r.figures
        return Section("adjustments", out, total)

    def _has_table(self, name: str) -> bool:
        row = self.conn.execute(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?", (name,)
        )
        return bool(row.fetchone()[0])

    # --- listings -----------------------------------------------------------------------------------

    def records(
        self,
        period: Period,
        *,
        asn: str | None = None,
        asns: Sequence[str] | None = None,
        batch: int = 1000,
    ) -> Iterator[dict[str, Any]]:
        """The counted records of a period (optionally of one card or several), in time order, streamed."""
        extra = ""
        params_extra: dict[str, Any] = {}
        if asn is not None:
            extra, params_extra = "asn = :asn", {"asn": asn}
        elif asns is not None:
            keys = {f"a{i}": a for i, a in enumerate(asns)}
            extra = f"asn IN ({', '.join(':' + k for k in keys)})" if keys else "0"
            params_extra = keys
        where, params = _window(period, None, extra)
        params.update(params_extra, mod=_modifier(self.boundary))
        sql = (
            "SELECT id, event_time, date(event_time, :mod), line, dispenser, nzn, pos_ttc, kind, unit, asn,"
            " g_code, CASE WHEN kind IN (" + _DISPENSED + ") THEN vol ELSE 0 END, prc, amn, bal, ctc, emp"
            f" FROM {self.source} WHERE {where} ORDER BY event_time, id"
        )
        yield from self._records(sql, params, batch)

    def _records(self, sql: str, params: dict[str, Any], batch: int) -> Iterator[dict[str, Any]]:
        try:
            cursor = self.conn.execute(sql, params)
            while chunk := cursor.fetchmany(batch):
                for r in chunk:
                    kind = int(r[7])
                    yield {
                        "id": r[0], "time": r[1], "business_day": r[2], "line": r[3], "dispenser": r[4],
                        "nzn": r[5], "pos_ttc": r[6], "kind": L.kind_name(kind),
                        "payment": L.payment_name(kind, (int(r[8]) >> 4) & 15), "asn": r[9], "g_code": r[10],
                        "product": self.names.products.get(r[10], ""), "volume": r[11], "price": r[12],
                        "amount": r[13], "balance": r[14], "ctc": r[15], "emp": r[16],
                    }  # fmt: skip
        except sqlite3.Error as exc:
            raise translate(exc, sql) from exc

    def plate_cards(self, plate: str) -> list[str]:
        """The cards seen with this vehicle plate (the CNG card profile, kept with the card decisions)."""
        if not self._has_table("decisions"):
            return []
        wanted = plate.replace(" ", "").upper()
        rows = self._all(
            Statement(
                "SELECT DISTINCT asn FROM decisions"
                " WHERE upper(replace(json_extract(details, '$.plate'), ' ', '')) = :plate ORDER BY asn",
                {"plate": wanted},
            )
        )
        return [str(r[0]) for r in rows]

    def greys_outstanding(self, before: dt.datetime | None = None) -> Iterator[dict[str, Any]]:
        """This station's grey records (kind 1) with no unlock or supplementary record (kind 3/4) of the
        same card and card counter, oldest first."""
        params: dict[str, Any] = {"before": None if before is None else before.isoformat(timespec="seconds")}
        sql = (
            f"SELECT g.id, g.event_time, g.line, g.dispenser, g.nzn, g.asn, g.ctc, g.bal, g.amn, g.vol"
            f" FROM {self.source} AS g WHERE g.kind = 1 AND g.conflict_of IS NULL"
            f" AND (:before IS NULL OR g.event_time < :before)"
            f" AND NOT EXISTS (SELECT 1 FROM {self.source} AS u WHERE u.asn = g.asn AND u.ctc = g.ctc"
            f" AND u.kind IN (3, 4) AND u.conflict_of IS NULL)"
            " ORDER BY g.event_time, g.id"
        )
        names = ("id", "time", "line", "dispenser", "nzn", "asn", "ctc", "balance", "amount", "volume")
        for r in self._all(Statement(sql, params)):
            yield dict(zip(names, tuple(r), strict=True))

    def price_changes(self) -> Iterator[dict[str, Any]]:
        """Every price table and, under it, each dispenser's receipt (one row per receipt; none: empty)."""
        if not self._has_table("price_tables"):
            return
        sql = (
            "SELECT t.version, t.effective, t.imported_at, coalesce(t.activated_at, ''),"
            " coalesce(r.line, ''), r.dispenser, coalesce(r.received_at, '')"
            " FROM price_tables AS t LEFT JOIN price_receipts AS r ON r.version = (t.version & 255)"
            " ORDER BY t.version, r.line, r.dispenser"
        )
        names = ("version", "effective", "imported_at", "activated_at", "line", "dispenser", "received_at")
        for r in self._all(Statement(sql, {})):
            yield dict(zip(names, tuple(r), strict=True))

    def stock(self, period: Period) -> Iterator[dict[str, Any]]:
        """The tanks' reconciliations inside the period: opening, stock in (deliveries), stock out (sales),
        book and measured closing, variance (litres at 15 °C as the tank service computed them), and stock
        in, out and variance in tonnes where the tank's product has a density (`Names.densities`)."""
        if not self._has_table("tank_reconciliations"):
            return
        start = period.start.astimezone(dt.UTC).isoformat(timespec="microseconds")
        end = period.end.astimezone(dt.UTC).isoformat(timespec="microseconds")
        names = ("tank", "period_start", "period_end", "opening_l", "deliveries_l", "sales_l", "book_closing_l",
                 "measured_closing_l", "variance_l", "variance_pct")  # fmt: skip
        sql = (
            f"SELECT {', '.join(names)} FROM tank_reconciliations"
            " WHERE period_start >= :start AND period_end <= :end ORDER BY tank, period_start"
        )
        for r in self._all(Statement(sql, {"start": start, "end": end})):
            row = dict(zip(names, tuple(r), strict=True))
            product = self.names.tank_products.get(int(row["tank"]), "")
            density = self.names.densities.get(product)
            yield {
                "tank": row["tank"],
                "product": self.names.products.get(product, product),
                **{k: v for k, v in row.items() if k != "tank"},
                "deliveries_t": tonnes(row["deliveries_l"], density),
                "sales_t": tonnes(row["sales_l"], density),
                "variance_t": tonnes(row["variance_l"], density),
            }

    def closes(self) -> Iterator[dict[str, Any]]:
        """Every closed day with its frozen figures, adjustments and archive state."""
        if not self._has_table("day_closes"):
            return
        sql = (
            "SELECT c.day, c.closed_at, c.closed_by, c.records, c.volume, c.amount,"
            " (SELECT count(*) FROM day_adjustments AS a WHERE a.day = c.day),"
            " CASE WHEN EXISTS (SELECT 1 FROM archived_days AS x WHERE x.day = c.day) THEN 'yes' ELSE '' END"
            " FROM day_closes AS c ORDER BY c.day"
        )
        names = ("day", "closed_at", "closed_by", "count", "volume", "amount", "adjustments", "archived")
        for r in self._all(Statement(sql, {})):
            yield dict(zip(names, tuple(r), strict=True))


def _frozen_matches(frozen_text: str, report: Report) -> bool:
    """Do the figures frozen at the close equal the report's, section by section and key by key?
    (Labels are not compared: they depend on the product names a reader was given.)"""
    try:
        frozen = json.loads(frozen_text)
    except ValueError:
        return False

    def figures_of(doc: dict[str, Any], wanted: set[str]) -> dict[str, set[tuple[Any, ...]]]:
        return {
            s["dimension"]: {(r["key"], r["count"], r["volume"], r["amount"]) for r in s["rows"]}
            for s in doc.get("sections", [])
            if s.get("dimension") in wanted
        }

    mine = figures_json(report)
    wanted = {s["dimension"] for s in mine["sections"]}
    return bool(frozen.get("total") == mine["total"] and figures_of(frozen, wanted) == figures_of(mine, wanted))


def require_dimensions(text: str | None, default: Sequence[str]) -> tuple[str, ...]:
    """`--by product,payment` → ('product', 'payment'); `ReportError` for an unknown name."""
    if not text:
        return tuple(default)
    return check_dimensions([t.strip() for t in text.split(",") if t.strip()])


__all__ = [
    "JOURNAL_COLUMNS",
    "ReportError",
    "ReportReader",
    "Statement",
    "covered_statement",
    "cube_statement",
]
