"""`station lpg import|export|store`: the LPG cylinder registry from and to CSV, and the store's counts;
`station lpg fill|customer|handout|return` go through the running daemon (`edge.commands.lpg_daemon`).

Layer: edge (CLI shell over `edge.devices.lpg.registry`).

    station lpg import FILE [--config FILE]      check the whole file, then apply it in one transaction
    station lpg export [--output FILE] [--config FILE]
    station lpg store [--json] [--config FILE]   cylinders by state and specification

The specifications come from the configuration's `[lpg]` table (docs/lpg.md). A file with any bad line
is refused whole: every problem printed (line, column, what), an alarm raised, nothing changed.
Exit status: 0 done, 2 refused (bad file or configuration), 1 failed (cannot open or write).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from pathlib import Path

NAME = "lpg"
HELP = "LPG: cylinder registry import/export, the store; fills and the counter through the daemon."

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_REFUSED = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    imp = sub.add_parser("import", help="check a CSV registry file completely, then apply it")
    imp.add_argument("file", type=Path)
    imp.add_argument("--actor", default="cli", help="who imports (audited)")
    exp = sub.add_parser("export", help="the registry as CSV")
    exp.add_argument("--output", type=Path, help="file to write (default: standard output)")
    store = sub.add_parser("store", help="cylinder counts by state and specification")
    store.add_argument("--json", action="store_true")
    for p in (imp, exp, store):
        p.add_argument("--config", type=Path, default=Path("station.toml"), help="station TOML configuration")
    from edge.commands import lpg_daemon

    lpg_daemon.add_parsers(sub)


def _fail(message: str, problems: list[str] | None = None, status: int = EXIT_REFUSED) -> int:
    print(f"station lpg: error: {message}", file=sys.stderr)
    for problem in problems or []:
        print(f"  {problem}", file=sys.stderr)
    return status


def run(args: argparse.Namespace) -> int:
    from edge.commands import lpg_daemon

    if args.action in lpg_daemon.ACTIONS:
        return lpg_daemon.run(args)
    from edge.config import ConfigError, load_config
    from edge.devices.lpg.errors import BadCylinderFile, BadLpgConfig
    from edge.devices.lpg.specs import parse_settings
    from storage.errors import StorageError

    try:
        config = load_config(args.config)
        settings = parse_settings(config.extra.get("lpg"))
    except ConfigError as exc:
        return _fail("invalid configuration", exc.problems)
    except BadLpgConfig as exc:
        return _fail("invalid configuration", exc.problems)
    try:
        return asyncio.run(_run(args, config.storage.database, settings))
    except BadCylinderFile as exc:
        return _fail(f"{args.file}: refused, nothing imported", exc.problems)
    except (StorageError, OSError) as exc:
        return _fail(str(exc), status=EXIT_FAILED)


async def _run(args: argparse.Namespace, db_path: Path, settings: object) -> int:
    from edge.devices.lpg.registry import export_csv, import_csv
    from edge.devices.lpg.specs import LpgSettings
    from storage import lpg
    from storage.db import Database

    assert isinstance(settings, LpgSettings)
    text = args.file.read_text(encoding="utf-8-sig") if args.action == "import" else ""
    async with await Database.open(db_path) as db:
        if args.action == "import":
            result = await import_csv(db, text, settings, actor=args.actor, source=str(args.file.name))
            print(f"{result.added} cylinders added, {result.updated} updated")
        elif args.action == "export":
            out = await export_csv(db)
            if args.output is None:
                sys.stdout.write(out)
            else:
                args.output.write_text(out, encoding="utf-8")
        else:
            counts = Counter((c.state.value, c.spec) for c in await lpg.cylinders(db))
            rows = [{"state": s, "spec": p, "count": n} for (s, p), n in sorted(counts.items())]
            if args.json:
                print(json.dumps(rows))
            else:
                for r in rows:
                    print(f"{r['state']:<14} {r['spec']:<8} {r['count']:>6}")
    return EXIT_OK
