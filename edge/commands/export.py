"""`station export transactions`: the journal as JSON lines or CSV, safe while the daemon runs.

Layer: edge (CLI shell over `storage.export`). The database is opened read-only (WAL lets the daemon
keep writing); it is taken from `--db`, or from `storage.database` of the `--config` file (with the
configuration's own rules: relative to the file's folder, `STATION_DB` overrides). Exit status: 0 done,
2 bad arguments or a database that cannot be opened, 1 a failure while exporting, 3 exported, but some
records failed their integrity check (each is named on stderr with the way to recover it).

Further kinds (`shifts`, `decisions`) will be sibling sub-commands of `transactions`.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

NAME = "export"
HELP = "Export stored data (transactions) as JSON lines or CSV; works while the daemon runs."

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_DAMAGED = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    kinds = parser.add_subparsers(dest="kind", metavar="KIND", required=True)
    tx = kinds.add_parser(
        "transactions",
        help="every stored transaction record (conflict copies included, marked)",
        description="Every stored transaction record, ordered by line, dispenser, POS_TTC; "
        "conflict copies (re-sent records that differed) follow their original with conflict=true.",
    )
    source = tx.add_mutually_exclusive_group(required=True)
    source.add_argument("--config", type=Path, help="station TOML configuration (its storage.database)")
    source.add_argument("--db", type=Path, help="the SQLite database file itself")
    tx.add_argument(
        "--since",
        help="only records at or after this ISO 8601 time (the record's TIME, or its reception time "
        "when TIME is invalid; station local time unless an offset is given), e.g. 2024-05-01T06:00",
    )
    tx.add_argument(
        "--format", choices=("jsonl", "csv"), default="jsonl", help="output format (default jsonl)"
    )
    tx.add_argument("--output", "-o", type=Path, help="write to this file (atomically) instead of stdout")
    tx.set_defaults(_export=_export_transactions)


def run(args: argparse.Namespace) -> int:
    return int(args._export(args))


def _fail(message: str, status: int = EXIT_USAGE) -> int:
    print(f"station export: error: {message}", file=sys.stderr)
    return status


def _database_path(args: argparse.Namespace) -> Path:
    if args.db is not None:
        return Path(args.db)
    from edge.config import load_config

    return load_config(args.config).storage.database


@contextlib.contextmanager
def _output(path: Path | None) -> Iterator[TextIO]:
    """stdout, or a temporary file beside `path` renamed over it only when the export succeeded."""
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


def _export_transactions(args: argparse.Namespace) -> int:
    from edge.config import ConfigError
    from storage.db import open_readonly
    from storage.errors import DatabaseNotFoundError, StorageError
    from storage.export import export_transactions
    from storage.integrity import DamagedRecord

    since: dt.datetime | None = None
    if args.since is not None:
        try:
            since = dt.datetime.fromisoformat(args.since)
        except ValueError:
            return _fail(f"--since {args.since!r} is not an ISO 8601 date or time")
    try:
        db_path = _database_path(args)
    except ConfigError as exc:
        return _fail(str(exc))
    try:
        conn = open_readonly(db_path)
    except DatabaseNotFoundError as exc:
        return _fail(f"{exc} (is storage.database right? has the daemon ever run?)")
    except StorageError as exc:
        return _fail(f"cannot open {db_path}: {exc}")
    damaged: list[DamagedRecord] = []
    try:
        with _output(args.output) as out:
            count = export_transactions(conn, out, since=since, fmt=args.format, damaged=damaged)
    except BrokenPipeError:
        raise  # the reader went away (`| head`): the CLI shell exits quietly
    except (StorageError, OSError) as exc:
        return _fail(f"export failed: {exc}", EXIT_FAILED)
    finally:
        conn.close()
    if args.output is not None:
        print(f"{count} transactions written to {args.output}", file=sys.stderr)
    for record in damaged:
        print(f"station export: DAMAGED: {record.message()}", file=sys.stderr)
    if damaged:
        print(
            f"station export: {len(damaged)} of {count} records changed on disk since they were stored "
            "(exported as stored; see docs/operations.md, 'Damaged records')",
            file=sys.stderr,
        )
        return EXIT_DAMAGED
    return EXIT_OK
