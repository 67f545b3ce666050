"""Release helpers for the install script: where the database is, back it up, migrate it, which
schema a release supports.

Layer: edge (operations shell over `edge.config` and `storage.db`). `scripts/install.sh` runs them
with the Python of a given release (`RELEASE/bin/python -m edge.release ...`), so an old release
backs up and a new release migrates:

    python -m edge.release database --config FILE         path of the station database
    python -m edge.release schema                          highest schema version this release knows
    python -m edge.release db-version --config FILE        schema version of the database (0 if none)
    python -m edge.release backup --config FILE --to PATH  consistent online copy (daemon may run)
    python -m edge.release migrate --config FILE           open once: every pending migration runs

Exit status 0 on success, 1 with one line on stderr on failure (never a traceback).
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
from collections.abc import Sequence
from pathlib import Path

from edge.config import ConfigError, load_config
from storage.db import Database, backup_file, latest_version
from storage.errors import StorageError
from storage.readonly import schema_version


def database_path(config_file: str) -> Path:
    return load_config(config_file).storage.database


def db_version(path: Path) -> int:
    return schema_version(path)


async def migrate(path: Path) -> int:
    db = await Database.open(path)
    try:
        return await db.user_version()
    finally:
        await db.close()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edge.release")
    sub = parser.add_subparsers(dest="action", required=True)
    for name in ("database", "db-version", "backup", "migrate"):
        cmd = sub.add_parser(name)
        cmd.add_argument("--config", required=True)
        if name == "backup":
            cmd.add_argument("--to", required=True)
    sub.add_parser("schema")
    args = parser.parse_args(argv)
    try:
        if args.action == "schema":
            print(latest_version())
            return 0
        path = database_path(args.config)
        if args.action == "database":
            print(path)
        elif args.action == "db-version":
            print(db_version(path))
        elif args.action == "backup":
            if not path.exists():
                print(f"no database at {path}: nothing to back up", file=sys.stderr)
                return 0
            print(backup_file(path, Path(args.to)))
        else:
            print(asyncio.run(migrate(path)))
    except (ConfigError, StorageError, sqlite3.Error, OSError) as exc:
        print(f"{args.action}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
