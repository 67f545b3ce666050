"""`station archive --before DATE`: move closed business days before DATE to the archive database.

Layer: edge (CLI shell over `storage.archive`). Never moves a day that is not closed, whose close or
records are not yet sent to the centre, nor grey records still waiting for their unlock. Reports read
the archive as if nothing had moved. Safe while the daemon runs (one short transaction per day).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edge.commands import housekeeping as hk

NAME = "archive"
HELP = "Move closed days' records before a date to the archive database (reports still read them)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="station TOML configuration")
    parser.add_argument(
        "--before", required=True, help="archive closed business days before this date YYYY-MM-DD"
    )
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from storage.archive import archive_before
    from storage.errors import StorageError
    from storage.reports.periods import PeriodError, parse_day

    try:
        paths = hk.paths_of(args.config)
        before = parse_day(args.before)
    except (hk.ConfigError, PeriodError) as exc:
        return hk.fail(NAME, str(exc))
    if not paths.database.is_file():
        return hk.fail(NAME, f"no database at {paths.database}")
    try:
        result = archive_before(paths.database, paths.archive, before)
    except StorageError as exc:
        return hk.fail(NAME, str(exc), hk.EXIT_FAILED)
    if args.json:
        print(json.dumps({"moved_days": result.moved_days, "moved_records": result.moved_records,
                          "kept_greys": result.kept_greys, "skipped": result.skipped}, indent=2))  # fmt: skip
        return hk.EXIT_OK
    print(f"{len(result.moved_days)} days, {result.moved_records} records moved to {paths.archive}"
          + (f"; {result.kept_greys} outstanding grey records kept" if result.kept_greys else ""))  # fmt: skip
    for day, why in result.skipped.items():
        print(f"  {day} not moved: {why}")
    return hk.EXIT_OK
