"""`station install ACTION ...`: the shipped install script (scripts/install.sh) run from the wheel.

Actions: install, upgrade, rollback, uninstall, status; `station install --help` lists the options.
"""

from __future__ import annotations

import argparse
import os
import sys

NAME = "install"
HELP = "Install, upgrade, roll back or remove the systemd service (runs the shipped install.sh)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("script_args", nargs=argparse.REMAINDER, help="install.sh arguments (see --help)")


def run(args: argparse.Namespace) -> int:
    from edge.bundled import MissingResource, bundled

    try:
        script = bundled("scripts/install.sh")
    except MissingResource as exc:
        print(f"station install: {exc}", file=sys.stderr)
        return 2
    argv = ["bash", str(script), *args.script_args]
    sys.stdout.flush()
    os.execvp("bash", argv)
    return 0  # pragma: no cover - execvp does not return
