"""`station lists import|show`: the card-rule data the centre distributes — lists, grey records, calendar.

Layer: edge (CLI shell over `storage.lists`, `storage.rulefiles` and `edge.spool`).

    station lists import FILE [--kind K] [--force] [--config FILE] [--wait-s S]
        K: base | added | deleted | white (a text list names its own kind; a binary one needs it),
           grey (grey records of other stations), calendar (working days). Without --kind a TOML / JSON
           file with [[records]] is grey records and one with holidays is a calendar.
    station lists show [--config FILE] [--json]

The file is checked completely first; every problem is printed (file, line, problem) and nothing changes
(exit 2). Then, if the daemon runs (it holds the list store's lock), the file is handed to it through
the inbox (`edge.spool`) and the command waits for its verdict; otherwise it is applied here. Exit
status: 0 applied, 2 refused (bad file, version not newer, bad arguments or configuration), 1 failed
(cannot write, or the daemon did not answer within --wait-s).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

NAME = "lists"
HELP = "Import or show the card lists, the centre's grey records and the working-day calendar."

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_REFUSED = 2
DEFAULT_CONFIG = "station.toml"
DEFAULT_WAIT_S = 60.0
KINDS = ("base", "added", "deleted", "white", "grey", "calendar")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    imp = sub.add_parser(
        "import",
        help="check a file and make it current (through the daemon when it runs)",
        description="Check a list, grey-record or calendar file completely, then make it current: "
        "through the running daemon (inbox), or directly when no daemon runs.",
    )
    imp.add_argument("file", type=Path, help="the file to import")
    imp.add_argument("--kind", choices=KINDS, help="what the file holds (default: from the file)")
    imp.add_argument("--force", action="store_true", help="lists: accept a version that is not newer")
    imp.add_argument("--config", type=Path, default=Path(DEFAULT_CONFIG), help="station TOML configuration")
    imp.add_argument(
        "--wait-s", type=float, default=DEFAULT_WAIT_S, help="how long to wait for the daemon's verdict"
    )
    imp.set_defaults(_action=_import)
    show = sub.add_parser("show", help="versions, counts, validity and generation of what is held")
    show.add_argument("--config", type=Path, default=Path(DEFAULT_CONFIG), help="station TOML configuration")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(_action=_show)


def run(args: argparse.Namespace) -> int:
    return int(args._action(args))


def fail(command: str, message: str, problems: list[str] | None = None, status: int = EXIT_REFUSED) -> int:
    print(f"station {command}: error: {message}", file=sys.stderr)
    for problem in problems or []:
        print(f"  {problem}", file=sys.stderr)
    return status


# --- the hand-over shared with `station prices import` ---------------------------------------------


Direct = Callable[[Any, Any], Awaitable[str]]
"""Apply the file with the open list store and database (no daemon running); return a summary."""


def run_import(
    command: str,
    config: Any,
    job_type: str,
    path: Path,
    options: dict[str, Any],
    direct: Direct,
    wait_s: float,
) -> int:
    """Apply through the daemon's inbox when it runs, else directly; print the outcome."""
    from edge.rules_config import inbox_dir
    from edge.spool import JobRejected, submit, wait_result
    from storage.errors import StorageError
    from storage.lists import ListStore, ListStoreLockedError

    try:
        store = ListStore.open(config.storage.lists_dir)
    except ListStoreLockedError:
        inbox = inbox_dir(config)
        job_id = submit(inbox, job_type, path, **options)
        print(f"the daemon is running: handed over as {inbox / job_id}.job; waiting for it", file=sys.stderr)
        outcome = wait_result(inbox, job_id, wait_s)
        if outcome is None:
            return fail(
                command,
                f"the daemon did not apply {path} within {wait_s:g} s; it is still queued in {inbox} "
                "(is the daemon running? see its log)",
                status=EXIT_FAILED,
            )
        if not outcome.get("ok"):
            status = EXIT_FAILED if outcome.get("failed") else EXIT_REFUSED
            return fail(
                command, f"the daemon refused {path}; nothing changed", outcome.get("problems"), status
            )
        print(outcome.get("message", "applied"))
        return EXIT_OK
    except StorageError as exc:
        return fail(command, f"cannot open the list store: {exc}", status=EXIT_FAILED)
    try:
        message = asyncio.run(_direct(config, store, direct))
    except JobRejected as exc:
        return fail(command, f"{path} refused; nothing changed", exc.problems)
    except StorageError as exc:
        return fail(command, f"cannot apply {path}: {exc}", status=EXIT_FAILED)
    finally:
        store.close()
    print(message)
    return EXIT_OK


async def _direct(config: Any, store: Any, direct: Direct) -> str:
    from storage.db import Database

    db = await Database.open(config.storage.database)
    try:
        return await direct(store, db)
    finally:
        await db.close()


def load(command: str, path: Path) -> Any:
    """The configuration, or an exit status after printing why it cannot be read."""
    from edge.config import ConfigError, load_config
    from edge.rules_config import rules_settings

    try:
        config = load_config(path)
        rules_settings(config)
    except ConfigError as exc:
        return fail(command, f"{path}: invalid configuration", exc.problems)
    return config


# --- import ----------------------------------------------------------------------------------------


def _detect(path: Path) -> str | None:
    """grey / calendar for a TOML or JSON document with their keys; None for anything else."""
    from storage.rulefiles import RuleFileError, read_document

    if path.suffix.lower() not in (".toml", ".json"):
        return None
    try:
        doc, _ = read_document(path)
    except RuleFileError:
        return None
    if "records" in doc:
        return "grey"
    if "holidays" in doc or "shifted_working_days" in doc:
        return "calendar"
    return None


def _import(args: argparse.Namespace) -> int:
    from edge.rules_runtime import apply_calendar, apply_grey, station_place
    from protocol.downloads import ListKind
    from storage.calendar import CalendarStore
    from storage.greys import RemoteGreyStore
    from storage.listfiles import read_list_file
    from storage.lists import ListImportError
    from storage.rulefiles import RuleFileError, read_calendar_file, read_grey_file

    command = "lists import"
    config = load(command, args.config)
    if isinstance(config, int):
        return config
    path: Path = args.file
    if not path.is_file():
        return fail(command, f"{path}: no such file")
    kind = args.kind or _detect(path)
    province = station_place(config).province
    if kind == "grey":
        try:
            records = read_grey_file(path, station_province=province)
        except RuleFileError as exc:
            return fail(command, f"{path} refused; nothing changed", exc.problems)
        print(f"{path}: {len(records)} grey records checked", file=sys.stderr)

        async def grey(_store: Any, db: Any) -> str:
            return await apply_grey(RemoteGreyStore(db), path, province)

        return run_import(command, config, "grey", path, {"source": str(path)}, grey, args.wait_s)
    if kind == "calendar":
        try:
            read_calendar_file(path)
        except RuleFileError as exc:
            return fail(command, f"{path} refused; nothing changed", exc.problems)

        async def calendar(_store: Any, db: Any) -> str:
            return await apply_calendar(CalendarStore(db), path)

        return run_import(command, config, "calendar", path, {"source": str(path)}, calendar, args.wait_s)
    wanted = ListKind.from_label(kind) if kind else None
    try:
        found, lst = read_list_file(path, kind=wanted)
    except ListImportError as exc:
        where = f"line {exc.line}: " if exc.line is not None else ""
        where = where or (f"entry {exc.entry}: " if exc.entry is not None else "")
        return fail(command, f"{path} refused; nothing changed", [f"{path.name}: {where}{exc.problem}"])
    except OSError as exc:
        return fail(command, f"cannot read {path}: {exc}")
    print(f"{path}: {found.label} list version {lst.version}, {lst.count} cards checked", file=sys.stderr)

    async def lists(store: Any, _db: Any) -> str:
        from edge.spool import JobRejected
        from storage.lists import ListStoreError

        try:
            result = await asyncio.to_thread(store.replace, found, lst, force=args.force)
        except ListStoreError as exc:
            raise JobRejected([str(exc)]) from exc
        held = result.get(found)
        return f"lists generation {result.generation} in force: {found.label} v{held.version} ({held.count} cards)"

    options = {"kind": found.label, "force": bool(args.force), "source": str(path)}
    return run_import(command, config, "lists", path, options, lists, args.wait_s)


# --- show ------------------------------------------------------------------------------------------


def _show(args: argparse.Namespace) -> int:
    command = "lists show"
    config = load(command, args.config)
    if isinstance(config, int):
        return config
    report = lists_report(config)
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
        return EXIT_OK
    lists = report["lists"]
    print(f"lists in {report['lists_dir']}: generation {lists['generation']}")
    today = dt.date.today().isoformat()
    for label, entry in lists["kinds"].items():
        if entry is None:
            print(f"  {label:<8} none")
            continue
        valid = entry["valid_from"] <= today <= entry["valid_to"]
        print(
            f"  {label:<8} version {entry['version']:<6} {entry['count']:>9} cards  valid {entry['valid_from']}"
            f" .. {entry['valid_to']} ({'in date' if valid else 'OUT OF DATE'})  area {entry['area']}"
            f"{'' if entry['downloadable'] else '  (too long for 0x34: dispensers get the first 1 MiB)'}"
        )
    greys = report.get("grey_records")
    print(f"grey records from the centre: {'unknown (no database yet)' if greys is None else greys}")
    cal = report.get("calendar")
    if cal is not None:
        print(
            f"calendar: weekend {cal['weekend']}, {len(cal['holidays'])} holidays, "
            f"{len(cal['shifted_working_days'])} shifted working days"
        )
    if report["inbox_pending"]:
        print(f"imports waiting for the daemon: {', '.join(report['inbox_pending'])}")
    return EXIT_OK


def lists_report(config: Any) -> dict[str, Any]:
    """What `lists show` prints, as a JSON-ready dict (reads files and the database read-only)."""
    from edge.rules_config import inbox_dir
    from protocol.downloads import MAX_SEGMENTED_LEN, ListKind
    from storage.lists import MANIFEST_NAME

    directory: Path = config.storage.lists_dir
    kinds: dict[str, Any] = {k.label: None for k in ListKind}
    generation = 0
    try:
        manifest = json.loads((directory / MANIFEST_NAME).read_text())
        generation = int(manifest.get("generation", 0))
        for label, entry in manifest.get("lists", {}).items():
            kinds[label] = {
                key: entry.get(key)
                for key in ("version", "valid_from", "valid_to", "area", "count", "size", "file")
            } | {"downloadable": int(entry.get("size", 0)) <= MAX_SEGMENTED_LEN}
    except FileNotFoundError:
        pass
    except (OSError, ValueError) as exc:
        kinds = {"error": str(exc)}
    inbox = inbox_dir(config)
    pending = sorted(p.stem for p in inbox.glob("*.job")) if inbox.is_dir() else []
    report: dict[str, Any] = {
        "lists_dir": str(directory),
        "lists": {"generation": generation, "kinds": kinds},
        "inbox_pending": pending,
        "grey_records": None,
        "calendar": None,
    }
    report.update(_db_report(config.storage.database))
    return report


def _db_report(path: Path) -> dict[str, Any]:
    from storage.readonly import rules_data

    data = rules_data(path)
    if data is None:
        return {}
    return {
        "grey_records": data.grey_records,
        "calendar": {
            "weekend": data.weekend,
            "holidays": data.holidays,
            "shifted_working_days": data.shifted_working_days,
        },
    }


