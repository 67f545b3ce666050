"""Reports as printable text (the manager's file, ≤ 80 columns), CSV and JSON lines.

Layer: storage (pure). Figures stay exact integers in CSV and JSON (the units are in the headers); the
printable text shows them as decimals (volume 0.01 → 12.34, money fen → yuan 12.34), computed from the
integers, never from floats. Words come from `labels`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TextIO

from protocol.words import centi
from storage.reports import labels as L
from storage.reports.core import Figures, Report, Section, report_json

TEXT_WIDTH = 78


def _figure_cells(f: Figures) -> str:
    return f"{f.count:>8} {centi(f.volume):>13} {centi(f.amount):>14}"


def _section_text(section: Section, title: str) -> list[str]:
    out = [
        title,
        f"{'':<38} {L.FIGURE_COLUMNS[0].header:>8} {L.FIGURE_COLUMNS[1].header:>13} {L.FIGURE_COLUMNS[2].header:>14}",
    ]
    if not section.rows:
        out.append(f"  {L.WORDS['no_rows']}")
    for r in section.rows:
        label = f"{r.label} ({r.unit})" if r.unit else r.label
        out.append(f"  {label[:36]:<36} {_figure_cells(r.figures)}")
    out.append(f"  {L.WORDS['total']:<36} {_figure_cells(section.total)}")
    return out


def report_text(report: Report) -> str:
    """The printable report (fits 80 columns)."""
    p = report.period
    title = L.TITLES.get(p.kind.value, p.kind.value.upper())
    out = [
        f"{title}  {p.name}" + (f"  —  {L.WORDS['station']} {report.station}" if report.station else ""),
        f"{L.WORDS['from']} {p.start_text.replace('T', ' ')}  {L.WORDS['to']} {p.end_text.replace('T', ' ')}",
    ]
    if report.closed is not None:
        c = report.closed
        state = L.WORDS["frozen_ok"] if c.verified else L.WORDS["frozen_bad"]
        out.append(
            f"{L.WORDS['closed']} {c.closed_at[:19].replace('T', ' ')} UTC {L.WORDS['closed_by']} {c.closed_by}; {state}"
        )
    elif p.kind.value == "day":
        out.append(L.WORDS["open_day"])
    if report.generated_at:
        out.append(f"{L.WORDS['generated']} {report.generated_at.replace('T', ' ')}")
    out += ["", f"{L.WORDS['total']:<38} {_figure_cells(report.total)}"]
    for s in report.sections:
        out += ["", *_section_text(s, L.SECTIONS.get(s.dimension, s.dimension))]
    if report.adjustments is not None and report.adjustments.rows:
        out += [
            "",
            *_section_text(report.adjustments, L.SECTIONS["adjustments"]),
            f"  ({L.WORDS['adjustment_note']})",
        ]
    out += ["", L.WORDS["units_note"]]
    return "\n".join(out) + "\n"


def section_rows(report: Report) -> Iterator[list[Any]]:
    """The report as rows under `labels.SECTION_COLUMNS` (a `total` row closes each section)."""
    yield ["total", "", L.WORDS["total"], "", report.total.count, report.total.volume, report.total.amount]
    for s in report.sections:
        for r in s.rows:
            yield [s.dimension, r.key, r.label, r.unit, r.figures.count, r.figures.volume, r.figures.amount]
        yield [s.dimension, "", L.WORDS["total"], "", s.total.count, s.total.volume, s.total.amount]
    if report.adjustments is not None:
        a = report.adjustments
        for r in a.rows:
            yield ["adjustments", r.key, r.label, r.unit, r.figures.count, r.figures.volume, r.figures.amount]
        yield ["adjustments", "", L.WORDS["total"], "", a.total.count, a.total.volume, a.total.amount]


def write_csv(out: TextIO, columns: Sequence[L.Column], rows: Iterable[Sequence[Any]]) -> int:
    """Header (with units and types) then the rows; returns the number of data rows."""
    w = csv.writer(out, lineterminator="\n")
    w.writerow([c.heading for c in columns])
    n = 0
    for row in rows:
        w.writerow(row)
        n += 1
    return n


def dict_rows(columns: Sequence[L.Column], items: Iterable[Mapping[str, Any]]) -> Iterator[list[Any]]:
    for item in items:
        yield [item.get(c.key, "") for c in columns]


def report_csv(report: Report) -> str:
    buf = io.StringIO()
    write_csv(buf, L.SECTION_COLUMNS, section_rows(report))
    return buf.getvalue()


def report_json_text(report: Report) -> str:
    return json.dumps(report_json(report), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


def listing_text(
    title: str, columns: Sequence[L.Column], items: Iterable[Mapping[str, Any]], total: Figures | None
) -> str:
    """A listing (records, statement, greys …) as printable text: one line per item, then the total."""
    cols = [c for c in columns if c.key not in ("id", "business_day", "g_code", "balance", "ctc", "pos_ttc")]
    out = [title, "  ".join(c.header for c in cols)]
    for item in items:
        cells = []
        for c in cols:
            v = item.get(c.key, "")
            cells.append(centi(int(v)) if c.unit in ("fen", "0.01 unit") and isinstance(v, int) else str(v))
        out.append("  ".join(cells))
    if total is not None:
        out.append(f"{L.WORDS['total']}: {total.count} | {centi(total.volume)} | {centi(total.amount)}")
    return "\n".join(out) + "\n"
