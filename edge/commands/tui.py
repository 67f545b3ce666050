"""`station tui [--config FILE | --socket PATH] [--demo]`: the attendant terminal UI.

Runs `python -m tui` in this process (exec), so `edge` never imports `tui`: the UI is a client of the
control API like any other. `--demo` logs in as the demo operator; only a demo daemon accepts it.
"""

from __future__ import annotations

import argparse
import os
import sys

from protocol.i18n import LANGUAGES

NAME = "tui"
HELP = "The attendant terminal UI (a client of the daemon's control socket)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--config", help="station TOML configuration (its [control] socket is used)")
    where.add_argument("--socket", help="the daemon's control socket")
    parser.add_argument("--demo", action="store_true", help="open logged in as the demo operator (demo only)")
    parser.add_argument(
        "--language", choices=LANGUAGES, help="the language before login (default: the station's)"
    )


def command(args: argparse.Namespace) -> list[str]:
    from edge.commands.status import socket_path

    argv = [sys.executable, "-m", "tui", "--socket", str(socket_path(args))]
    if args.demo:
        argv.append("--demo")
    if getattr(args, "language", None):
        argv += ["--language", args.language]
    return argv


def run(args: argparse.Namespace) -> int:
    from edge.config import ConfigError

    try:
        argv = command(args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)
    return 0  # pragma: no cover - execv does not return
