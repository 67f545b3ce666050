"""`station prices import|show`: price tables with several levels per nozzle, scheduled by effective time.

Layer: edge (CLI shell over `storage.prices`, `edge.prices` and `edge.spool`).

    station prices import FILE [--config FILE] [--wait-s S]
    station prices show [--config FILE] [--json]

The file format (TOML or JSON) is in `storage.pricefile` and docs/rules.md. The file is checked completely
against the configuration first (every problem printed with file, line and key; exit 2, nothing
changes); then it goes to the running daemon through the inbox, or is stored directly when no daemon
runs. The daemon advertises the new version at its effective time; dispensers download it and confirm
with a T_TYPE 8 record (`show` lists who did). Exit status as `station lists import`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path
from typing import Any

from edge.commands.lists import DEFAULT_CONFIG, DEFAULT_WAIT_S, EXIT_OK, fail, load, run_import

NAME = "prices"
HELP = "Import a price table (levels per nozzle, effective time) or show the tables and receipts."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    imp = sub.add_parser(
        "import",
        help="check a price table file and schedule it (through the daemon when it runs)",
        description="Check a price table file against the configuration, then store it: it takes effect "
        "(is advertised to the dispensers) at its effective time.",
    )
    imp.add_argument("file", type=Path, help="price table file (TOML or JSON)")
    imp.add_argument("--config", type=Path, default=Path(DEFAULT_CONFIG), help="station TOML configuration")
    imp.add_argument(
        "--wait-s", type=float, default=DEFAULT_WAIT_S, help="how long to wait for the daemon's verdict"
    )
    imp.set_defaults(_action=_import)
    show = sub.add_parser("show", help="the tables, the one in force and the dispensers' receipts")
    show.add_argument("--config", type=Path, default=Path(DEFAULT_CONFIG), help="station TOML configuration")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(_action=_show)


def run(args: argparse.Namespace) -> int:
    return int(args._action(args))


def _import(args: argparse.Namespace) -> int:
    from edge.prices import PriceScheduler
    from edge.rules_runtime import apply_prices
    from storage.pricefile import PriceFileError, read_price_file
    from storage.prices import PriceStore

    command = "prices import"
    config = load(command, args.config)
    if isinstance(config, int):
        return config
    path: Path = args.file
    if not path.is_file():
        return fail(command, f"{path}: no such file")
    nozzles = [n.nzn for line in config.lines for d in line.dispensers for n in d.nozzles]
    try:
        schedule = read_price_file(path, g_codes=[p.g_code for p in config.products], nozzles=nozzles)
    except PriceFileError as exc:
        return fail(command, f"{path} refused; nothing changed", exc.problems)
    print(
        f"{path}: price table version {schedule.version}, effective {schedule.effective:%Y-%m-%d %H:%M}, "
        f"{len(schedule.products)} products, {len(schedule.nozzles)} nozzles checked"
    )

    async def direct(_store: Any, db: Any) -> str:
        scheduler = PriceScheduler(PriceStore(db), config)
        await scheduler.load()
        return await apply_prices(scheduler, path, source=str(path))

    return run_import(command, config, "prices", path, {"source": str(path)}, direct, args.wait_s)


def _show(args: argparse.Namespace) -> int:
    command = "prices show"
    config = load(command, args.config)
    if isinstance(config, int):
        return config
    report = prices_report(config, dt.datetime.now())
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
        return EXIT_OK
    print(f"price version in force: {report['in_force']} ({report['in_force_source']})")
    for table in report["tables"]:
        state = "IN FORCE" if table["version"] == report["in_force"] else table["state"]
        print(
            f"  v{table['version']:<5} PRC_VER {table['wire_version']:<3} effective {table['effective']}  "
            f"{state:<9} activated {table['activated_at'] or '-'}  {table['source']}"
        )
        for product in table["products"]:
            print(f"        product {product['g_code']}: {product['prices']}")
        for nozzle in table["nozzles"]:
            print(f"        nozzle {nozzle['nzn']}: {nozzle['prices']}")
    receipts = report["receipts"]
    if receipts:
        print(f"receipts of PRC_VER {report['in_force_wire']}:")
        for item in receipts:
            print(f"  {item['dispenser']:<12} {item['received_at'] or 'NOT CONFIRMED'}")
    return EXIT_OK


def prices_report(config: Any, now: dt.datetime) -> dict[str, Any]:
    """What `prices show` prints, as a JSON-ready dict (database read-only)."""
    from storage.readonly import price_rows

    stored = price_rows(config.storage.database)
    tables: list[dict[str, Any]] = []
    for row in stored.tables:
        body = json.loads(row["body"])
        effective = dt.datetime.fromisoformat(row["effective"])
        tables.append(
            {
                "version": int(row["version"]),
                "wire_version": int(row["version"]) & 0xFF,
                "effective": effective.isoformat(timespec="minutes"),
                "state": "due" if effective <= now else "scheduled",
                "activated_at": row["activated_at"],
                "source": row["source"],
                "products": body["products"],
                "nozzles": body["nozzles"],
            }
        )
    received = stored.receipts
    due = [t for t in tables if t["state"] == "due"]
    in_force = due[-1]["version"] if due else 1
    wire = in_force & 0xFF
    activated = due[-1]["activated_at"] if due else None
    receipts = []
    for line in config.lines:
        for disp in line.dispensers:
            stamp = received.get((line.name, disp.pos_p, wire))
            if stamp is not None and activated is not None and stamp < activated:
                stamp = None
            receipts.append({"dispenser": f"{line.name}/{disp.pos_p}", "received_at": stamp})
    return {
        "in_force": in_force,
        "in_force_wire": wire,
        "in_force_source": "imported table" if due else "configuration [[products]] prices",
        "tables": tables,
        "receipts": receipts,
    }
