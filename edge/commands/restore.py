"""`station restore SET`: put a backup's database back (the daemon must be stopped).

Layer: edge (CLI shell over `storage.backups`). Refuses a backup whose schema is newer than this code
and a backup that fails its checks, before touching anything; the replaced database is kept aside
(`station.db.replaced-<stamp>`, with its -wal/-shm). With `--with-lists` the lists folder is restored
too (the old one kept aside). Refuses while the daemon answers on its control socket.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
from pathlib import Path

from edge.commands import housekeeping as hk

NAME = "restore"
HELP = "Restore a backup set's database (and archive, lists); the replaced files are kept aside."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("backup", type=Path, help="a backup set folder (or a .db file)")
    parser.add_argument(
        "--config", type=Path, required=True, help="station TOML configuration (where to restore)"
    )
    parser.add_argument("--with-lists", action="store_true", help="restore the card lists folder too")


def _daemon_running(socket: Path) -> bool:
    import socket as s

    if not socket.exists():
        return False
    probe = s.socket(s.AF_UNIX, s.SOCK_STREAM)
    try:
        probe.settimeout(1.0)
        probe.connect(str(socket))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def run(args: argparse.Namespace) -> int:
    from storage.backups import ARCHIVE_NAME, restore_database
    from storage.errors import StorageError

    try:
        paths = hk.paths_of(args.config)
    except hk.ConfigError as exc:
        return hk.fail(NAME, str(exc))
    control = paths.config.control
    socket = control.socket if control is not None else paths.database.parent / "control.sock"
    if _daemon_running(socket):
        return hk.fail(NAME, f"the daemon is running (it answers on {socket}): stop it first")
    if not args.backup.exists():
        return hk.fail(NAME, f"no backup at {args.backup}")
    try:
        aside = restore_database(args.backup, paths.database)
        print(
            f"{paths.database} restored from {args.backup}"
            + (f"; the replaced database is {aside}" if aside else "")
        )
        if args.backup.is_dir() and (args.backup / ARCHIVE_NAME).is_file():
            aside_archive = restore_database(args.backup / ARCHIVE_NAME, paths.archive, archive=True)
            print(
                f"{paths.archive} restored"
                + (f"; the replaced archive is {aside_archive}" if aside_archive else "")
            )
        if args.with_lists and args.backup.is_dir() and (args.backup / "lists").is_dir():
            stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
            if paths.lists.exists():
                os.replace(paths.lists, paths.lists.with_name(f"{paths.lists.name}.replaced-{stamp}"))
            shutil.copytree(args.backup / "lists", paths.lists)
            print(f"{paths.lists} restored")
    except StorageError as exc:
        return hk.fail(NAME, str(exc), hk.EXIT_FAILED)
    except OSError as exc:
        return hk.fail(NAME, str(exc), hk.EXIT_FAILED)
    return hk.EXIT_OK
