"""What `station report` and `station query` share: the source database, the reader, the output.

Layer: edge (CLI shell over `storage.reports`). The database comes from `--config` (its
`storage.database`, `[reports] day_boundary`, product names and the archive database) or from `--db`
(with `--day-boundary`, no product names). Reads are read-only (safe while the daemon runs). Output goes to
stdout, or to `--output FILE` written beside it and renamed when complete; `--format xlsx` needs a file.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from edge.errors import EdgeError
from storage.reports.core import Names
from storage.reports.periods import DayBoundary

if TYPE_CHECKING:
    from protocol.i18n import Translator
    from storage.reports.query import ReportReader

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
FORMATS = ("text", "csv", "xlsx", "json")


class UsageError(EdgeError):
    """Bad arguments or a source that cannot be opened (exit status 2)."""


def add_source_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--config", type=Path, help="station TOML configuration (database, day boundary, products)"
    )
    source.add_argument("--db", type=Path, help="the SQLite database file itself")
    parser.add_argument(
        "--archive", type=Path, help="archive database to read too (default: the configured one)"
    )
    parser.add_argument(
        "--day-boundary", help="business day start HH:MM (default: [reports] day_boundary, else 00:00)"
    )
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format (default text)")
    parser.add_argument(
        "--language",
        help="language of the words people read: zh_CN or en (default: STATION_LANGUAGE, else the"
        " station's [station] language, else zh_CN); JSON and the CSV section/key columns stay codes",
    )
    parser.add_argument("--output", "-o", type=Path, help="write to this file (atomically) instead of stdout")


@dataclass(frozen=True, slots=True)
class Source:
    database: Path
    archive: Path | None
    boundary: DayBoundary
    names: Names
    station: str
    language: str = ""
    """The station's language (`[station] language`); empty with `--db`."""


def source_of(args: argparse.Namespace) -> Source:
    from edge.config import ConfigError, load_config
    from storage.reports.periods import PeriodError

    try:
        boundary = DayBoundary.parse(args.day_boundary) if args.day_boundary else None
    except PeriodError as exc:
        raise UsageError(str(exc)) from exc
    if args.db is not None:
        return Source(Path(args.db), args.archive, boundary or DayBoundary(), Names(), "")
    from edge.housekeeping_config import housekeeping_settings

    try:
        config = load_config(args.config)
        settings = housekeeping_settings(config)
    except ConfigError as exc:
        raise UsageError(str(exc)) from exc
    names = Names(
        products={p.g_code: p.name for p in config.products},
        units={p.g_code: p.unit for p in config.products},
        densities={p.g_code: p.density for p in config.products if p.density is not None},
        tank_products=tank_products(config.extra.get("tanks")),
    )
    return Source(
        config.storage.database,
        args.archive or settings.archive_database,
        boundary or settings.day_boundary,
        names,
        config.station.id,
        config.station.language,
    )


@dataclass(frozen=True, slots=True)
class TankEntry:
    """What the reports and `station tanks` show of one `[[tanks.tank]]`."""

    name: str
    product: str
    """Its product code; empty when the entry names none."""


def tank_entries(table: object) -> dict[int, TankEntry]:
    """Tank number → name and product from the `[tanks]` table (checked by the tanks' own reader when the
    daemon starts; here only what is well-formed is taken, a missing name reads `T<number>`)."""
    if not isinstance(table, dict):
        return {}
    out: dict[int, TankEntry] = {}
    for tank in table.get("tank", []):
        if not isinstance(tank, dict) or not isinstance(number := tank.get("number"), int):
            continue
        product = tank.get("product")
        out[number] = TankEntry(str(tank.get("name") or f"T{number}"), product if isinstance(product, str) else "")
    return out


def tank_products(table: object) -> dict[int, str]:
    """Tank number → product code, for the tanks that name one."""
    return {number: entry.product for number, entry in tank_entries(table).items() if entry.product}


def report_translator(args: argparse.Namespace, source: Source | None = None) -> Translator:
    """The language of a report: `--language`, else `STATION_LANGUAGE`, else the station's (from
    `--config`), else Chinese (the station default; `--db` has no configuration)."""
    from edge.commands.language import cli_translator
    from protocol.i18n import UnknownLanguage, translator

    wanted = getattr(args, "language", None)
    if wanted:
        try:
            return translator(wanted)
        except UnknownLanguage as exc:
            raise UsageError(str(exc)) from exc
    return cli_translator(source.language if source is not None else "")


@contextlib.contextmanager
def open_reader(args: argparse.Namespace) -> Iterator[tuple[ReportReader, Translator]]:
    """A `storage.reports.query.ReportReader` over the source (closed afterwards) and the translator of
    the report's language (`report_translator`)."""
    from storage.db import open_readonly
    from storage.errors import DatabaseNotFoundError, StorageError
    from storage.reports.query import ReportReader

    src = source_of(args)
    tr = report_translator(args, src)
    try:
        conn = open_readonly(src.database)
    except DatabaseNotFoundError as exc:
        raise UsageError(f"{exc} (is storage.database right? has the daemon ever run?)") from exc
    except StorageError as exc:
        raise UsageError(f"cannot open {src.database}: {exc}") from exc
    try:
        reader = ReportReader(
            conn, station=src.station, boundary=src.boundary, names=src.names, archive=src.archive
        )
        yield reader, tr
    finally:
        conn.close()


@contextlib.contextmanager
def text_output(path: Path | None) -> Iterator[TextIO]:
    """stdout, or a temporary file beside `path` renamed over it only when everything was written."""
    if path is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    temp = path.with_name(f".{path.name}.partial")
    try:
        with temp.open("w", encoding="utf-8", newline="") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)


def fail(command: str, message: str, status: int = EXIT_USAGE) -> int:
    print(f"station {command}: error: {message}", file=sys.stderr)
    return status
