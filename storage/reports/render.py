"""Reports as printable text (the manager's file, ≤ 80 columns), CSV and JSON lines.

Layer: storage (pure). Figures stay exact integers in CSV and JSON (the units are in the headers); the
printable text shows them as decimals (volume 0.01 → 12.34, money fen → ¥12.34), computed from the
integers, never from floats. Words come from `labels`, in the language of the translator given (English
when none is): text and CSV headers, item words and units for people; the CSV `section` and `key`
columns and all of JSON stay codes, the same in every language. Text aligns by terminal cells (a Chinese
character takes two), so a Chinese report keeps its columns within 80 cells.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, TextIO

from protocol.i18n import Translator, cells, clip, ljust, rjust
from protocol.words import centi
from storage.reports import labels as L
from storage.reports.core import Figures, Report, Section, report_json

TEXT_WIDTH = 78
_LABEL = 36
_COUNT, _VOLUME, _AMOUNT = 8, 13, 14


def yuan(fen: int) -> str:
    """Money for people, as Chinese stations write it: 12345 fen → '¥123.45' (exact)."""
    return f"-¥{centi(-fen)}" if fen < 0 else f"¥{centi(fen)}"


def local_time(text: str) -> str:
    """A station-local ISO time for people: `2026-12-03T06:00:00` → `2026-12-03 06:00` (seconds kept
    when they are not zero)."""
    out = text.replace("T", " ")
    return out[:16] if out[16:19] == ":00" and len(out) == 19 else out


def instant_text(text: str) -> str:
    """A UTC instant (`2026-12-03T02:14:00+00:00`) as station local time: `2026-12-03 10:14`."""
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return text
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone().strftime("%Y-%m-%d %H:%M")


def _figure_cells(f: Figures) -> str:
    return f"{f.count:>{_COUNT}} {centi(f.volume):>{_VOLUME}} {yuan(f.amount):>{_AMOUNT}}"


def _labelled(label: str, f: Figures) -> str:
    return f"  {ljust(clip(label, _LABEL), _LABEL)} {_figure_cells(f)}"


def _section_text(section: Section, title: str, tr: Translator) -> list[str]:
    heads = [c.title_in(tr) for c in L.FIGURE_COLUMNS]
    out = [
        title,
        " " * (_LABEL + 2)
        + f" {rjust(heads[0], _COUNT)} {rjust(heads[1], _VOLUME)} {rjust(heads[2], _AMOUNT)}",
    ]
    if not section.rows:
        out.append(f"  {L.word('no_rows', tr)}")
    for r in section.rows:
        label = L.row_label(section.dimension, r.key, r.label, tr)
        if r.unit:
            label = f"{label} ({L.unit_words(r.unit, tr)})"
        out.append(_labelled(label, r.figures))
    out.append(_labelled(L.word("total", tr), section.total))
    return out


def report_text(report: Report, tr: Translator = L.ENGLISH) -> str:
    """The printable report (fits 80 terminal cells: a Chinese character counts two), in `tr`'s language.
    Volumes are decimals of the product unit, amounts yuan (`¥123.45`), times station local."""
    p = report.period
    head = f"{L.title(p.kind.value, tr)}  {p.name}"
    if report.station:
        head += "  —  " + L.word("station", tr).format(station=report.station)
    out = [
        head,
        L.word("period", tr).format(start=local_time(p.start_text), end=local_time(p.end_text)),
    ]
    if report.closed is not None:
        c = report.closed
        state = L.word("frozen_ok" if c.verified else "frozen_bad", tr)
        out.append(L.word("closed", tr).format(at=instant_text(c.closed_at), who=c.closed_by, state=state))
    elif p.kind.value == "day":
        out.append(L.word("open_day", tr))
    if report.generated_at:
        out.append(L.word("generated", tr).format(at=instant_text(report.generated_at)))
    out += ["", f"{ljust(L.word('total', tr), _LABEL + 2)} {_figure_cells(report.total)}"]
    for s in report.sections:
        out += ["", *_section_text(s, L.section_title(s.dimension, tr), tr)]
    if report.adjustments is not None and report.adjustments.rows:
        out += [
            "",
            *_section_text(report.adjustments, L.section_title("adjustments", tr), tr),
            f"  ({L.word('adjustment_note', tr)})",
        ]
    out += ["", L.word("units_note", tr)]
    return "\n".join(out) + "\n"


def section_rows(report: Report, tr: Translator = L.ENGLISH) -> Iterator[list[Any]]:
    """The report as rows under `labels.SECTION_COLUMNS` (a `total` row closes each section): the
    `section` and `key` columns hold codes (the same in every language), the item and unit words."""
    total = L.word("total", tr)
    yield ["total", "", total, "", report.total.count, report.total.volume, report.total.amount]
    for s in report.sections:
        for r in s.rows:
            yield [s.dimension, r.key, L.row_label(s.dimension, r.key, r.label, tr), L.unit_words(r.unit, tr),
                   r.figures.count, r.figures.volume, r.figures.amount]  # fmt: skip
        yield [s.dimension, "", total, "", s.total.count, s.total.volume, s.total.amount]
    if report.adjustments is not None:
        a = report.adjustments
        for r in a.rows:
            yield ["adjustments", r.key, L.row_label("adjustments", r.key, r.label, tr), L.unit_words(r.unit, tr),
                   r.figures.count, r.figures.volume, r.figures.amount]  # fmt: skip
        yield ["adjustments", "", total, "", a.total.count, a.total.volume, a.total.amount]


def write_csv(
    out: TextIO, columns: Sequence[L.Column], rows: Iterable[Sequence[Any]], tr: Translator = L.ENGLISH
) -> int:
    """Header (with units and types, in `tr`'s language) then the rows; returns the number of data rows."""
    w = csv.writer(out, lineterminator="\n")
    w.writerow([c.heading_in(tr) for c in columns])
    n = 0
    for row in rows:
        w.writerow(row)
        n += 1
    return n


def dict_rows(
    columns: Sequence[L.Column], items: Iterable[Mapping[str, Any]], tr: Translator = L.ENGLISH
) -> Iterator[list[Any]]:
    """Listing items as rows under `columns`; code names (kind, payment …) in `tr`'s words."""
    keys = [c.key for c in columns]
    worded = [(i, k) for i, k in enumerate(keys) if k in L.VALUE_COLUMNS]
    for item in items:
        row = [item.get(k, "") for k in keys]
        for i, k in worded:
            row[i] = L.value_words(k, row[i], tr)
        yield row


def report_csv(report: Report, tr: Translator = L.ENGLISH) -> str:
    buf = io.StringIO()
    write_csv(buf, L.SECTION_COLUMNS, section_rows(report, tr), tr)
    return buf.getvalue()


def report_json_text(report: Report) -> str:
    return json.dumps(report_json(report), ensure_ascii=False, indent=2, sort_keys=True) + "\n"


_TEXT_HIDDEN = ("id", "business_day", "g_code", "balance", "ctc", "pos_ttc")


def _cell(column: L.Column, value: Any, tr: Translator) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        if column.unit == "fen":
            return yuan(value)
        if column.unit == "0.01 unit":
            return centi(value)
    if isinstance(value, str) and column.type == "datetime":
        return local_time(value) if column.unit == "station local" else value.replace("T", " ")
    return str(L.value_words(column.key, value, tr))


def listing_text(
    title: str,
    columns: Sequence[L.Column],
    items: Iterable[Mapping[str, Any]],
    total: Figures | None,
    tr: Translator = L.ENGLISH,
) -> str:
    """A listing (records, statement, greys …) as printable text in `tr`'s language: a header, one line
    per item in columns aligned by terminal cells (numbers to the right), then the total."""
    cols = [c for c in columns if c.key not in _TEXT_HIDDEN]
    heads = [c.title_in(tr) for c in cols]
    lines = [[_cell(c, item.get(c.key, ""), tr) for c in cols] for item in items]
    widths = [max([cells(h), *(cells(line[i]) for line in lines)]) for i, h in enumerate(heads)]
    right = [c.type in ("int", "number") for c in cols]

    def fmt(values: Sequence[str]) -> str:
        return "  ".join(
            (rjust if r else ljust)(v, w) for v, w, r in zip(values, widths, right, strict=True)
        ).rstrip()

    out = [title, fmt(heads), *(fmt(line) for line in lines)]
    if total is not None:
        out.append(f"{L.word('total', tr)}: {total.count} | {centi(total.volume)} | {yuan(total.amount)}")
    return "\n".join(out) + "\n"
