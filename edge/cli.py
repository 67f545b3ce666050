"""The `station` command line: one sub-command per module in `edge.commands`.

Layer: edge (CLI shell). Each module in `edge/commands/` exposes `NAME`, `HELP`,
`add_arguments(parser)` and `run(args) -> int`; this module only dispatches. Imports are lazy so that
`station decode` does not pay for the daemon's imports.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMAND_MODULES = (
    "run",
    "demo",
    "decode",
    "export",
    "bench",
    "lists",
    "prices",
    "status",
    "operators",
    "tui",
    "centre_sim",
    "web",
    "docs",
    "install",
    "report",
    "query",
    "backup",
    "restore",
    "archive",
    "doctor",
    "day",
    "lpg",
    "tanks",
    "desk",
)


class PrintVersion(argparse.Action):
    """`station --version`: read from the installed metadata only when asked (it costs an import)."""

    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        from edge.bundled import version

        print(f"{parser.prog} {version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="station", description="Station edge controller.")
    parser.add_argument("--version", action=PrintVersion, nargs=0, help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"edge.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"edge.commands.{name}":
                continue
            raise
        cmd = sub.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from edge.children import arm_from_environment

    arm_from_environment()
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
