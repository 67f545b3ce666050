"""Reports and listings as XLSX workbooks, streamed (XlsxWriter `constant_memory`: one row in memory).

Layer: storage (file writer, no SQL). The first row of a sheet holds each column's header with its unit
and type (`Amount [fen, int]`, `金额 [分, 整数]`, as in CSV), the sheet's title and headers in the
language of the export; figures are written as exact integers (number format `0`),
text as text. The file is written beside the target and renamed over it only when complete.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import xlsxwriter

from protocol.i18n import N_, Translator, cells
from storage.reports import labels as L
from storage.reports.core import Report
from storage.reports.render import section_rows

SHEET_REPORT = N_("report")
SHEET_ROWS = N_("rows")
"""Sheet titles (English; in the file, in the language of the export: 报表, 明细)."""


def _write_sheet(
    book: Any, name: str, columns: Sequence[L.Column], rows: Iterable[Sequence[Any]], tr: Translator
) -> int:
    sheet = book.add_worksheet(tr(name))
    head = book.add_format({"bold": True})
    integer = book.add_format({"num_format": "0"})
    for col, c in enumerate(columns):
        heading = c.heading_in(tr)
        sheet.write_string(0, col, heading, head)
        # integers get their number format from the column: a per-cell format would double the cost
        sheet.set_column(col, col, max(10, min(40, cells(heading) + 2)), integer if c.type == "int" else None)
    numbers = [c.type in ("int", "number") for c in columns]
    write_number, write_string = sheet.write_number, sheet.write_string
    n = 0
    for n, row in enumerate(rows, start=1):
        for col, value in enumerate(row):
            if value is None or value == "":
                continue
            if numbers[col] and type(value) in (int, float):
                write_number(n, col, value)
            else:
                write_string(n, col, str(value))
    sheet.freeze_panes(1, 0)
    return n


def _publish(path: Path, build: Any) -> int:
    path = Path(path)
    temp = path.with_name(f".{path.name}.partial")
    temp.unlink(missing_ok=True)
    try:
        book = xlsxwriter.Workbook(str(temp), {"constant_memory": True, "strings_to_numbers": False})
        try:
            n = int(build(book))
        finally:
            book.close()
        fd = os.open(temp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return n


def write_report(path: Path, report: Report, tr: Translator = L.ENGLISH) -> int:
    """The report's sections (`labels.SECTION_COLUMNS`) in one sheet, headers and item words in `tr`'s
    language (the `section` and `key` columns hold codes); returns the rows written."""
    return _publish(
        path,
        lambda book: _write_sheet(book, SHEET_REPORT, L.SECTION_COLUMNS, section_rows(report, tr), tr),
    )


def write_rows(
    path: Path, columns: Sequence[L.Column], rows: Iterable[Sequence[Any]], tr: Translator = L.ENGLISH
) -> int:
    """A listing (records, statement, greys …), streamed; headers in `tr`'s language; returns the rows
    written."""
    return _publish(path, lambda book: _write_sheet(book, SHEET_ROWS, columns, rows, tr))
