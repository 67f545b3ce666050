"""`station operators add|passwd|lock|unlock|language|list`: operators, directly on the database.

For the first station admin and for recovery (a locked-out admin): it opens the database itself, so it
works whether or not the daemon runs (SQLite WAL lets both write). Every change is audited with the
actor `cli:<unix user>`. Passwords are prompted twice with getpass, or read from the first line of
stdin with `--password-stdin`. `language USER en` gives an operator their own screen language (a field
engineer at a Chinese station); `language USER station` goes back to the station's. Messages speak
the station's language (`STATION_LANGUAGE` overrides, see `edge.commands.language`).
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from pathlib import Path
from typing import Any

from protocol.i18n import Translator, ljust, rjust

NAME = "operators"
HELP = "Add operators, reset passwords, lock and unlock them, list them (works on the database)."
ROLES = ("vendor", "admin", "senior", "operator", "readonly")
LANGUAGE_CHOICES = ("zh_CN", "en", "station")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--config", help="station TOML configuration (its database is used)")
    where.add_argument("--db", help="the station database file")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="add an operator")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--name", default="", help="display name")
    add.add_argument("--card", default="", help="employee card number: required as a second factor")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.add_argument(
        "--language",
        choices=LANGUAGE_CHOICES,
        default="station",
        help="their screen language (default: the station's)",
    )
    passwd = sub.add_parser("passwd", help="set an operator's password")
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    lock = sub.add_parser("lock", help="lock an operator out")
    lock.add_argument("username")
    lock.add_argument("--reason", default="locked with station operators lock")
    unlock = sub.add_parser("unlock", help="unlock an operator (and reset the failed logins)")
    unlock.add_argument("username")
    language = sub.add_parser("language", help="set an operator's own screen language")
    language.add_argument("username")
    language.add_argument("language", choices=LANGUAGE_CHOICES, help="zh_CN, en, or station (the station's)")
    listing = sub.add_parser("list", help="list the operators")
    listing.add_argument("--json", action="store_true")


def database_path(args: argparse.Namespace) -> Path:
    if args.db:
        return Path(args.db)
    from edge.config import load_config

    return load_config(args.config).storage.database


def station_translator(args: argparse.Namespace) -> Translator:
    """The station's language (from `--config`; Chinese with `--db`), unless `STATION_LANGUAGE` says."""
    from edge.commands.language import cli_translator
    from edge.config import ConfigError, load_config

    language = ""
    if args.config:
        try:
            language = load_config(args.config).station.language
        except ConfigError:
            language = ""
    return cli_translator(language)


def read_password(from_stdin: bool, tr: Translator) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(tr("New password: "))
    if getpass.getpass(tr("Again: ")) != first:
        raise ValueError(tr("the two passwords differ"))
    return first


def run(args: argparse.Namespace) -> int:
    from edge.auth.passwords import PasswordPolicyError
    from edge.config import ConfigError
    from storage.errors import StorageError

    try:
        path = database_path(args)
        tr = station_translator(args)
        password = None
        if args.action in ("add", "passwd"):
            password = read_password(args.password_stdin, tr)
        return asyncio.run(_run(args, path, password, tr))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except (ValueError, PasswordPolicyError, StorageError) as exc:
        print(f"station operators: {exc}", file=sys.stderr)
        return 1


async def _run(args: argparse.Namespace, path: Path, password: str | None, tr: Translator) -> int:
    from edge.auth import passwords
    from storage import operators as ops
    from storage.audit import append_in
    from storage.clock import utc_now
    from storage.db import Database

    actor = f"cli:{getpass.getuser()}"
    db = await Database.open(path)
    try:
        now = utc_now()
        if args.action == "list":
            rows = await ops.OperatorStore(db).all()
            _print_list(rows, args.json, tr)
            return 0
        details: dict[str, Any] = {}
        if password is not None:
            passwords.check_policy(password)
            hashed = await asyncio.to_thread(passwords.hash_password, password)
        async with db.transaction() as tx:
            if args.action == "add":
                row = await ops.add_in(
                    tx,
                    args.username,
                    args.role,
                    hashed,
                    now=now,
                    display_name=args.name,
                    card_asn=args.card or None,
                    language=_language(args.language),
                )
                details = {"role": row.role, "card": bool(row.card_asn), "language": row.language}
                message = tr("operator {user} added ({role})").format(user=row.username, role=row.role)
            elif args.action == "passwd":
                await ops.set_password_in(tx, args.username, hashed, now=now)
                await ops.unlock_in(tx, args.username)
                message = tr("password of {user} set (and unlocked)").format(user=args.username)
            elif args.action == "language":
                chosen = await ops.set_language_in(tx, args.username, _language(args.language))
                details = {"language": chosen}
                message = (
                    tr("{user} sees the screens in {language}").format(user=args.username, language=chosen)
                    if chosen
                    else tr("{user} sees the screens in the station language").format(user=args.username)
                )
            elif args.action == "lock":
                changed = await ops.lock_in(tx, args.username, args.reason, now=now)
                details = {"reason": args.reason}
                message = (tr("{user} locked") if changed else tr("{user} was already locked")).format(
                    user=args.username
                )
            else:
                was = await ops.unlock_in(tx, args.username)
                message = (tr("{user} unlocked") if was else tr("{user} was not locked")).format(
                    user=args.username
                )
            action = {
                "add": "add_operator",
                "passwd": "set_password",
                "lock": "lock_operator",
                "language": "set_language",
            }.get(args.action, "unlock_operator")
            await append_in(
                tx, actor=actor, source="cli", action=action, target=args.username, details=details, now=now
            )
        print(message)
        return 0
    finally:
        await db.close()


def _print_list(rows: list[Any], as_json: bool, tr: Translator) -> None:
    if as_json:
        doc = [
            {
                "username": r.username,
                "role": r.role,
                "display_name": r.display_name,
                "locked": r.locked,
                "failed_logins": r.failed_logins,
                "card": bool(r.card_asn),
                "demo": r.demo,
                "last_login_at": r.last_login_at.isoformat() if r.last_login_at else None,
                "language": r.language,
            }
            for r in rows
        ]
        print(json.dumps(doc, indent=2))
        return
    header = [
        ljust(tr("USER"), 16), ljust(tr("ROLE"), 9), ljust(tr("STATE"), 8), rjust(tr("FAILS"), 5),
        ljust(tr("CARD"), 4), ljust(tr("LANG"), 7), tr("NAME"),
    ]  # fmt: skip
    print(" ".join(header))
    for r in rows:
        state = tr("LOCKED") if r.locked else (tr("demo") if r.demo else tr("active"))
        card = tr("yes") if r.card_asn else tr("no")
        print(
            f"{r.username:<16} {r.role:<9} {ljust(state, 8)} {r.failed_logins:>5} {ljust(card, 4)}"
            f" {r.language or '-':<7} {r.display_name}"
        )


def _language(choice: str) -> str:
    return "" if choice == "station" else choice
