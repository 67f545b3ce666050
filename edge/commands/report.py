"""`station report`: shift, day, month, year and period reports from the journal; text, CSV, XLSX, JSON.

Layer: edge (CLI shell over `storage.reports`). Read-only, safe while the daemon runs. Figures are exact
integers in the wire's units (CSV, XLSX, JSON) or decimals computed from them (text). A closed business
day is reported with its frozen figures (verified against the records) and later adjustments apart.

    station report day 2026-12-03 --config /etc/station/station.toml
    station report month 2026-12 --by product,payment --format xlsx -o dec.xlsx
    station report period 2026-12-01T06:00 2026-12-08T06:00 --format csv
    station report shift 12 --format text -o shift12.txt        (printable, for the manager's file)
    station report day 2026-12-03 --language en                 (a field engineer's English)

Words people read (text, CSV and XLSX headers, item words, units) are in the report's language:
`--language`, else `STATION_LANGUAGE`, else the station's `[station] language` (zh_CN unless set). JSON,
and the CSV/XLSX `section` and `key` columns, hold codes: the same in every language.

Where tanks are configured, the text and JSON reports end with the station's stock of the period: the
tanks' reconciliations (opening, stock in, stock out, book and measured closing, variance; in tonnes too
with the products' density), as `station query stock` lists them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import TYPE_CHECKING

from edge.commands import reporting as rp

if TYPE_CHECKING:
    from storage.reports.periods import Period
    from storage.reports.query import ReportReader

NAME = "report"
HELP = "Reports by shift, day, month, year or period (product, payment, nozzle, employee …); text, CSV, XLSX, JSON."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from storage.reports.core import DEFAULT_DIMENSIONS, DIMENSIONS

    kinds = parser.add_subparsers(dest="period_kind", metavar="PERIOD", required=True)
    specs = {
        "shift": (("shift_id",), "a shift (records received while it was open)"),
        "day": (("day",), "a business day YYYY-MM-DD (from the day boundary to the next)"),
        "month": (("month",), "a month YYYY-MM of business days"),
        "year": (("year",), "a year YYYY of business days"),
        "period": (("start", "end"), "an arbitrary period [START, END) of record times, ISO 8601 local"),
    }
    for name, (positionals, help_text) in specs.items():
        sub = kinds.add_parser(name, help=help_text, description=help_text)
        for p in positionals:
            sub.add_argument(p)
        rp.add_source_arguments(sub)
        sub.add_argument(
            "--by",
            help=f"breakdowns, comma-separated, from {', '.join(DIMENSIONS)} (default {','.join(DEFAULT_DIMENSIONS)})",
        )


def run(args: argparse.Namespace) -> int:
    from storage.errors import StorageError
    from storage.reports import labels as L
    from storage.reports import render, xlsx
    from storage.reports.core import DEFAULT_DIMENSIONS
    from storage.reports.periods import PeriodError
    from storage.reports.query import require_dimensions

    if args.format == "xlsx" and args.output is None:
        return rp.fail(NAME, "--format xlsx needs --output FILE")
    try:
        dims = require_dimensions(args.by, DEFAULT_DIMENSIONS)
        with rp.open_reader(args) as (reader, tr):
            period = _period(args, reader)
            report = reader.report(period, dims, now=dt.datetime.now(dt.UTC))
            if args.format == "xlsx":
                rows = xlsx.write_report(args.output, report, tr)
                print(tr("{n} rows written to {path}").format(n=rows, path=args.output), flush=True)
                return rp.EXIT_OK
            stock = list(reader.stock(period))  # the tanks' reconciliations of the period (none: no tanks)
            if args.format == "json":
                text = render.report_json_text(report)  # codes and figures: the same in every language
                if stock:
                    text = json.dumps({**json.loads(text), "stock": stock}, ensure_ascii=False, indent=2,
                                      sort_keys=True) + "\n"  # fmt: skip
            elif args.format == "csv":
                text = render.report_csv(report, tr)
            else:
                text = render.report_text(report, tr)
                if stock:
                    text += "\n" + render.listing_text(L.title("stock", tr), L.STOCK_COLUMNS, stock, None, tr)
            with rp.text_output(args.output) as out:
                out.write(text)
    except (rp.UsageError, PeriodError) as exc:
        return rp.fail(NAME, str(exc))
    except StorageError as exc:
        return rp.fail(NAME, str(exc), rp.EXIT_FAILED)
    except OSError as exc:
        return rp.fail(NAME, f"cannot write: {exc}", rp.EXIT_FAILED)
    return rp.EXIT_OK


def _period(args: argparse.Namespace, reader: ReportReader) -> Period:
    from storage.reports import periods as P

    boundary = reader.boundary
    match args.period_kind:
        case "day":
            return P.day_period(P.parse_day(args.day), boundary)
        case "month":
            return P.month_period(*P.parse_month(args.month), boundary)
        case "year":
            return P.year_period(P.parse_year(args.year), boundary)
        case "period":
            return P.range_period(P.parse_time(args.start), P.parse_time(args.end))
        case "shift":
            try:
                shift_id = int(args.shift_id)
            except ValueError:
                raise P.PeriodError(f"shift {args.shift_id!r} is not a number") from None
            opened, closed = reader.shift_window(shift_id, dt.datetime.now(dt.UTC))
            return P.shift_period(shift_id, opened, closed)
    raise P.PeriodError(f"unknown period kind {args.period_kind}")
