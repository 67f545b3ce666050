"""`python -m tui --socket PATH [--demo]`: the terminal UI (what `station tui` runs)."""

from __future__ import annotations

import argparse
import sys

from protocol.i18n import LANGUAGES
from tui.app import run_app
from tui.terminal import terminal_problem


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="station tui", description="The attendant terminal UI.")
    parser.add_argument("--socket", required=True, help="the daemon's control socket")
    parser.add_argument(
        "--demo", action="store_true", help="log in as the demo operator (demo stations only)"
    )
    parser.add_argument(
        "--language",
        choices=LANGUAGES,
        help="the language before login (default: the station's); operators see their own after login",
    )
    args = parser.parse_args(argv)
    problem = terminal_problem()
    if problem:
        print(problem, file=sys.stderr)
        return 2
    return run_app(args.socket, demo=args.demo, language=args.language)


if __name__ == "__main__":
    sys.exit(main())
