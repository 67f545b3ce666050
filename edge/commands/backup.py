"""`station backup`: a verified backup set (database online, archive, lists, configuration, keys).

Layer: edge (CLI shell over `storage.backups`). Safe while the daemon runs (SQLite online backup: one
consistent snapshot). The copy is opened and checked (`PRAGMA integrity_check`, schema) before the set
is published; older sets beyond `[housekeeping] backup_keep` are then removed.

    station backup --config /etc/station/station.toml            make one
    station backup --config ... --list                            the sets, newest last
    station backup --config ... --verify backups/station-…Z       check a set's files and database
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from edge.commands import housekeeping as hk

NAME = "backup"
HELP = "Back up the database (online), archive, lists, configuration and keys, verified; rotate old sets."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, required=True, help="station TOML configuration")
    parser.add_argument("--dir", type=Path, help="backup folder (default: [housekeeping] backup_dir)")
    parser.add_argument("--keep", type=int, help="sets to keep (default: [housekeeping] backup_keep)")
    what = parser.add_mutually_exclusive_group()
    what.add_argument("--list", action="store_true", help="list the backup sets")
    what.add_argument("--verify", type=Path, metavar="SET", help="verify a backup set")
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from storage.backups import create_backup, list_backups, verify_backup
    from storage.errors import StorageError

    try:
        paths = hk.paths_of(args.config)
    except hk.ConfigError as exc:
        return hk.fail(NAME, str(exc))
    folder = args.dir or paths.backups
    try:
        if args.list:
            sets = list_backups(folder)
            if args.json:
                print(json.dumps([{"path": str(s.path), **s.manifest} for s in sets], indent=2))
            for s in [] if args.json else sets:
                print(
                    f"{s.path}  {s.manifest.get('created_at', '?')}  {s.records} records  schema {s.manifest.get('schema')}"
                )
            return hk.EXIT_OK
        if args.verify is not None:
            manifest = verify_backup(args.verify)
            print(f"{args.verify}: OK ({manifest.get('records')} records, schema {manifest.get('schema')})")
            return hk.EXIT_OK
        if not paths.database.is_file():
            return hk.fail(NAME, f"no database at {paths.database}")
        result = create_backup(
            paths.database,
            folder,
            archive=paths.archive,
            lists_dir=paths.lists,
            config_files=paths.config_files(),
            keep=args.keep if args.keep is not None else paths.settings.backup_keep,
        )
    except StorageError as exc:
        return hk.fail(NAME, str(exc), hk.EXIT_FAILED)
    except OSError as exc:
        return hk.fail(NAME, f"{exc}", hk.EXIT_FAILED)
    if args.json:
        print(json.dumps({"path": str(result.path), **result.manifest}, indent=2))
    else:
        print(f"{result.path}: {result.records} records (up to id {result.max_record_id}), verified")
    return hk.EXIT_OK
