"""`station docs [NAME]`: the documentation shipped with this release (operations, configuration …).

Prints the list of documents, or one of them (`station docs operations`), so a station box installed
from the wheel alone has the reference that matches its version.
"""

from __future__ import annotations

import argparse
import sys

NAME = "docs"
HELP = "List or print the documentation shipped with this release (e.g. `station docs operations`)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", nargs="?", help="document name (operations, configuration, tui, ...)")
    parser.add_argument("--path", action="store_true", help="print the file's path instead of its text")


def run(args: argparse.Namespace) -> int:
    from edge.bundled import MissingResource, bundled

    try:
        folder = bundled("docs")
    except MissingResource as exc:
        print(f"station docs: {exc}", file=sys.stderr)
        return 2
    names = sorted(p.stem for p in folder.glob("*.md"))
    if not args.name:
        print("\n".join(names))
        return 0
    path = folder / f"{args.name.removesuffix('.md')}.md"
    if not path.is_file():
        print(f"station docs: no document {args.name!r}; one of: {', '.join(names)}", file=sys.stderr)
        return 2
    print(path if args.path else path.read_text(encoding="utf-8"), end="" if not args.path else "\n")
    return 0
