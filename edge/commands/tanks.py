"""`station tanks show|export`: the tanks' newest measurements, and their stored history.

Layer: edge (CLI shell over `storage.tanks`). Read-only on the database (WAL lets the daemon keep
writing), so it works while the daemon runs. The database is `--db`, or `storage.database` of
`--config`. Exit status: 0 done, 2 bad arguments or no database.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
from pathlib import Path
from typing import Any

NAME = "tanks"
HELP = "Show the tanks' newest measurements and alarms, or export measurements, deliveries, reconciliations."

EXIT_OK = 0
EXIT_USAGE = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)
    show = verbs.add_parser("show", help="every tank's newest measurement and its active alarms")
    export = verbs.add_parser("export", help="stored measurements, deliveries or reconciliations")
    for p in (show, export):
        source = p.add_mutually_exclusive_group(required=True)
        source.add_argument("--config", type=Path, help="station TOML configuration (its storage.database)")
        source.add_argument("--db", type=Path, help="the SQLite database file itself")
    show.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    export.add_argument(
        "--what", choices=("measurements", "deliveries", "reconciliations"), default="measurements"
    )
    export.add_argument("--since", help="from this instant (ISO 8601; local time unless an offset is given)")
    export.add_argument("--until", help="up to (not including) this instant")
    export.add_argument("--format", choices=("csv", "jsonl"), default="csv")


def run(args: argparse.Namespace) -> int:
    from edge.commands.reporting import tank_entries
    from edge.config import ConfigError, load_config
    from storage.db import open_readonly
    from storage.errors import StorageError

    names: dict[int, str] = {}
    products: dict[str, str] = {}
    try:
        if args.db is not None:
            db_path = Path(args.db)
        else:
            config = load_config(args.config)
            db_path = config.storage.database
            products = {p.g_code: p.name for p in config.products}
            names = {n: entry.name for n, entry in tank_entries(config.extra.get("tanks")).items()}
    except ConfigError as exc:
        return _fail(str(exc))
    try:
        conn = open_readonly(db_path)
    except StorageError as exc:
        return _fail(f"cannot open {db_path}: {exc}")
    try:
        if args.verb == "show":
            return _show(conn, args.json, names, products)
        return _export(conn, args)
    finally:
        conn.close()


def _fail(message: str) -> int:
    print(f"station tanks: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def _instant(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    value = dt.datetime.fromisoformat(text)
    return value if value.tzinfo is not None else value.astimezone()


def _show(conn: Any, as_json: bool, names: dict[int, str], products: dict[str, str]) -> int:
    from storage.tanks import active_tank_alarms, latest_measurements

    rows = latest_measurements(conn)
    alarms = active_tank_alarms(conn)
    by_tank: dict[int, list[str]] = {}
    for a in alarms:
        by_tank.setdefault(int(a["source"].split(":", 1)[1]), []).append(a["code"])
    if as_json:
        out = [
            {**r, "name": names.get(r["tank"], f"T{r['tank']}"), "alarms": by_tank.get(r["tank"], [])}
            for r in rows
        ]
        print(json.dumps({"tanks": out, "alarms": alarms}, ensure_ascii=False))
        return EXIT_OK
    if not rows:
        print("No tank measurement stored yet.")
        return EXIT_OK
    head = f"{'Tank':<10} {'Level mm':>9} {'Water mm':>9} {'Temp °C':>8} {'Volume L':>10} {'TC vol L':>10} {'Ullage L':>10}  Alarms"
    print(head)
    for r in rows:
        print(
            f"{names.get(r['tank'], 'T' + str(r['tank'])):<10} {r['product_height_mm']:>9.1f} "
            f"{r['water_height_mm']:>9.1f} {r['temperature_c']:>8.2f} {r['volume_l']:>10.1f} "
            f"{r['tc_volume_l']:>10.1f} {r['ullage_l']:>10.1f}  {', '.join(by_tank.get(r['tank'], [])) or '-'}"
        )
        print(f"{'':<10} measured {r['at']}")
    return EXIT_OK


def _export(conn: Any, args: argparse.Namespace) -> int:
    from storage.tanks import export_rows

    try:
        since, until = _instant(args.since), _instant(args.until)
    except ValueError as exc:
        return _fail(f"not an ISO 8601 instant: {exc}")
    columns, rows = export_rows(conn, args.what, since, until)
    if args.format == "csv":
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(row)
    else:
        for row in rows:
            print(json.dumps(dict(zip(columns, row, strict=True)), ensure_ascii=False))
    return EXIT_OK
