"""`station query`: listings from the journal — records, card and plate statements, grey records
outstanding, price changes and receipts, closed days; text, CSV, XLSX or JSON lines.

Layer: edge (CLI shell over `storage.reports.query`). Read-only, safe while the daemon runs. Rows are
streamed (constant memory), figures exact integers in the wire's units; statements end with their total.

    station query card 10000101000000000123 --month 2026-12 --config station.toml
    station query plate 京A12345 --format xlsx -o plate.xlsx --config station.toml
    station query records --day 2026-12-03 --format csv --config station.toml
    station query greys --config station.toml
    station query stock --month 2026-12 --config station.toml      (where tanks are configured)

Titles, headers and code names (kind, payment) are in the report language (`--language`, as
`station report`); JSON lines keep the codes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from edge.commands import reporting as rp

if TYPE_CHECKING:
    from protocol.i18n import Translator
    from storage.reports.core import Figures
    from storage.reports.labels import Column
    from storage.reports.periods import Period
    from storage.reports.query import ReportReader

NAME = "query"
HELP = "Listings: records, card / plate statements, grey records outstanding, price changes, closed days."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    kinds = parser.add_subparsers(dest="what", metavar="WHAT", required=True)
    for name, positional, help_text in (
        ("records", None, "the counted records of a period"),
        ("card", "asn", "a card statement: the card's records and their total"),
        ("plate", "plate", "a plate statement: the records of the cards seen with this vehicle plate"),
        ("greys", None, "grey records (cards locked here) not yet unlocked"),
        ("prices", None, "price tables and each dispenser's receipt"),
        ("closes", None, "closed business days, their frozen figures, adjustments, archive"),
        ("stock", None, "station stock in / out per tank (the tank reconciliations of a period)"),
    ):
        sub = kinds.add_parser(name, help=help_text, description=help_text)
        if positional:
            sub.add_argument(positional)
        rp.add_source_arguments(sub)
        if name in ("records", "card", "plate", "stock"):
            when = sub.add_mutually_exclusive_group()
            when.add_argument("--day", help="one business day YYYY-MM-DD")
            when.add_argument("--month", help="one month YYYY-MM")
            when.add_argument("--since", help="from this local time (ISO 8601) on; with --until")
            sub.add_argument("--until", help="up to this local time (excluded)")


def run(args: argparse.Namespace) -> int:
    from storage.errors import StorageError
    from storage.reports.periods import PeriodError

    if args.format == "xlsx" and args.output is None:
        return rp.fail(NAME, "--format xlsx needs --output FILE")
    try:
        with rp.open_reader(args) as (reader, tr):
            columns, items, total, title = _listing(args, reader, tr)
            _emit(args, columns, items, total, title, tr)
    except (rp.UsageError, PeriodError) as exc:
        return rp.fail(NAME, str(exc))
    except StorageError as exc:
        return rp.fail(NAME, str(exc), rp.EXIT_FAILED)
    except OSError as exc:
        return rp.fail(NAME, f"cannot write: {exc}", rp.EXIT_FAILED)
    return rp.EXIT_OK


class _Totalled:
    """Pass items through while summing the counted figures (the statement's total)."""

    def __init__(self, items: Iterable[dict[str, Any]]) -> None:
        self._items = items
        self.count = self.volume = self.amount = 0

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for item in self._items:
            self.count += 1
            self.volume += int(item.get("volume") or 0)
            self.amount += int(item.get("amount") or 0)
            yield item

    def figures(self) -> Figures:
        from storage.reports.core import Figures

        return Figures(self.count, self.volume, self.amount)


def _period(args: argparse.Namespace, reader: ReportReader) -> Period:
    from storage.reports import periods as P

    if args.day:
        return P.day_period(P.parse_day(args.day), reader.boundary)
    if args.month:
        return P.month_period(*P.parse_month(args.month), reader.boundary)
    start = P.parse_time(args.since) if args.since else dt.datetime(1970, 1, 1)
    end = P.parse_time(args.until) if args.until else dt.datetime(9999, 1, 1)
    return P.range_period(start, end)


def _listing(
    args: argparse.Namespace, reader: ReportReader, tr: Translator
) -> tuple[Sequence[Column], Iterable[dict[str, Any]], _Totalled | None, str]:
    from storage.reports import labels as L

    match args.what:
        case "records":
            items = _Totalled(reader.records(_period(args, reader)))
            return L.RECORD_COLUMNS, items, items, f"{L.title('records', tr)}"
        case "card":
            items = _Totalled(reader.records(_period(args, reader), asn=args.asn))
            return L.RECORD_COLUMNS, items, items, f"{L.title('card', tr)} {args.asn}"
        case "plate":
            cards = reader.plate_cards(args.plate)
            items = _Totalled(reader.records(_period(args, reader), asns=cards))
            return (
                L.RECORD_COLUMNS,
                items,
                items,
                f"{L.title('plate', tr)} {args.plate} ({', '.join(cards) or '-'})",
            )
        case "greys":
            items = _Totalled(reader.greys_outstanding())
            return L.GREY_COLUMNS, items, items, L.title("greys", tr)
        case "prices":
            return L.PRICE_COLUMNS, reader.price_changes(), None, L.title("prices", tr)
        case "closes":
            return L.CLOSE_COLUMNS, reader.closes(), None, L.title("closes", tr)
        case "stock":
            return L.STOCK_COLUMNS, reader.stock(_period(args, reader)), None, L.title("stock", tr)
    raise rp.UsageError(f"unknown listing {args.what}")


def _emit(
    args: argparse.Namespace,
    columns: Sequence[Column],
    items: Iterable[dict[str, Any]],
    total: _Totalled | None,
    title: str,
    tr: Translator,
) -> None:
    from storage.reports import render, xlsx

    rows = render.dict_rows(columns, items, tr)
    if args.format == "xlsx":
        n = xlsx.write_rows(args.output, columns, _with_total(rows, columns, total, tr), tr)
        print(tr("{n} rows written to {path}").format(n=n, path=args.output), flush=True)
        return
    with rp.text_output(args.output) as out:
        if args.format == "csv":
            render.write_csv(out, columns, _with_total(rows, columns, total, tr), tr)
        elif args.format == "json":
            for item in items:
                out.write(json.dumps(item, ensure_ascii=False, sort_keys=True) + "\n")
            if total is not None:
                f = total.figures()
                out.write(
                    json.dumps({"total": {"count": f.count, "volume": f.volume, "amount": f.amount}}) + "\n"
                )
        else:
            materialised = list(items)
            out.write(
                render.listing_text(
                    title, columns, materialised, None if total is None else total.figures(), tr
                )
            )


def _with_total(
    rows: Iterator[list[Any]], columns: Sequence[Column], total: _Totalled | None, tr: Translator
) -> Iterator[list[Any]]:
    """The rows, then (for statements) a TOTAL row with the count in the first column."""
    from storage.reports import labels as L

    yield from rows
    if total is None:
        return
    f = total.figures()
    values: Mapping[str, Any] = {"volume": f.volume, "amount": f.amount}
    last = [values.get(c.key, "") for c in columns]
    last[0] = L.word("total", tr)
    if len(columns) > 1:
        last[1] = f"{f.count}"
    yield last
