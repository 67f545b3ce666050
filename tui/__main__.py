"""`python -m tui --socket PATH [--demo]`: the terminal UI (what `station tui` runs)."""

from __future__ import annotations

import argparse
import sys

from tui.app import run_app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="station tui", description="The attendant terminal UI.")
    parser.add_argument("--socket", required=True, help="the daemon's control socket")
    parser.add_argument(
        "--demo", action="store_true", help="log in as the demo operator (demo stations only)"
    )
    args = parser.parse_args(argv)
    return run_app(args.socket, demo=args.demo)


if __name__ == "__main__":
    sys.exit(main())
