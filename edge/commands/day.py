"""`station day close [DAY]`: the daily close (日结) through the running daemon, as an operator.

Layer: edge (CLI shell over the control API's `close_day`). The operator logs in (password prompted,
or the first line of stdin with `--password-stdin`); the daemon checks the role, that no shift is open
and that nothing of the day is still in a dispenser, and says what is in the way otherwise.
Exit status: 0 closed, 1 refused (the reasons on stderr), 2 bad arguments, 3 the daemon is not running.

    station day close --config /etc/station/station.toml --user manager          the last day over
    station day close 2026-12-03 --config ... --user manager --print              print the day report

The summary and the printed report speak `--language`, else `STATION_LANGUAGE`, else the operator's
language (`station operators language`), else the station's.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from pathlib import Path

NAME = "day"
HELP = "Close a business day (daily close) through the daemon, with an operator's login."
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_NOT_RUNNING = 3
ENV = "STATION_LANGUAGE"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    close = sub.add_parser("close", help="close a business day (default: the last one that is over)")
    close.add_argument("day", nargs="?", default="", help="business day YYYY-MM-DD")
    where = close.add_mutually_exclusive_group(required=True)
    where.add_argument("--config", help="station TOML configuration (its control socket)")
    where.add_argument("--socket", help="the daemon's control socket")
    close.add_argument("--user", required=True, help="operator user name (a role allowed to close days)")
    close.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    close.add_argument("--print", action="store_true", help="print the closed day's report")
    close.add_argument(
        "--language",
        help="zh_CN or en (default: STATION_LANGUAGE, else the operator's language, else the station's)",
    )
    close.add_argument(
        "--timeout", type=float, default=60.0, help="seconds to wait for the daemon (default 60)"
    )


def run(args: argparse.Namespace) -> int:
    from edge.commands.status import socket_path
    from edge.config import ConfigError
    from edge.control.client import DaemonNotRunning

    try:
        path = socket_path(args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    from protocol.i18n import UnknownLanguage, normalise

    language = args.language or os.environ.get(ENV, "")
    try:
        language = normalise(language) if language else ""
    except UnknownLanguage as exc:
        if args.language:
            print(f"station day: {exc}", file=sys.stderr)
            return EXIT_USAGE
        language = ""
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("Password: ")
    try:
        return asyncio.run(_close(path, args.user, password, args.day, args.print, args.timeout, language))
    except DaemonNotRunning as exc:
        print(f"station: {exc}", file=sys.stderr)
        return EXIT_NOT_RUNNING
    except (TimeoutError, ConnectionError) as exc:
        print(f"station: the daemon did not answer on {path}: {exc or 'timeout'}", file=sys.stderr)
        return EXIT_NOT_RUNNING


async def _close(
    path: Path, user: str, password: str, day: str, show: bool, timeout_s: float, language: str
) -> int:
    from edge.control import messages as m
    from edge.control.client import ControlClient
    from protocol.i18n import translator
    from protocol.words import centi
    from storage.reports.render import yuan

    client = await ControlClient.connect(path, timeout_s)
    station_language = client.hello.language
    try:
        login = await client.request(m.Login(username=user, password=password), timeout_s)
        if not isinstance(login, m.LoginOk):
            print(f"station day: login refused: {getattr(login, 'message', login.TYPE)}", file=sys.stderr)
            return EXIT_REFUSED
        # the operator's own language unless one was asked for (the report text comes in it too)
        language = language or login.operator.language
        reply = await client.request(m.CloseDay(token=login.token, day=day, language=language), timeout_s)
    finally:
        await client.close()
    if isinstance(reply, m.Error):
        print(f"station day: {reply.message}", file=sys.stderr)
        return EXIT_REFUSED
    if not isinstance(reply, m.DayClosed):
        print(f"station day: unexpected answer {reply.TYPE}", file=sys.stderr)
        return EXIT_REFUSED
    tr = translator(language or station_language or "zh_CN")
    line = tr(
        "business day {day} closed by {who}: {records} records, volume {volume}, amount {amount};"
        " records up to id {last}"
    ).format(
        day=reply.day,
        who=reply.closed_by,
        records=reply.records,
        volume=centi(reply.volume),
        amount=yuan(reply.amount),
        last=reply.last_record_id,
    )
    if reply.adjustments:
        line += tr("; {n} late records of earlier days noted").format(n=reply.adjustments)
    print(line)
    if show:
        print(reply.text, end="")
    return 0
