"""Backup sets of a station (database, archive, lists, configuration, keys) and their restore.

Layer: storage (synchronous, file I/O; the CLI and the daemon's scheduled backup run it in a worker
thread). A backup set is one folder, written as `.NAME.partial` and renamed when complete:

    backups/station-20261203T033000Z/
        manifest.json        created_at, schema version, records, highest record id, files + SHA-256
        station.db           SQLite online backup of the live database (one consistent snapshot,
                             taken while the daemon writes), then checked: integrity_check, schema
        archive.db           the same for the archive database, when there is one
        lists/               the card lists folder (immutable files + manifest.json)
        config/              the configuration file and every key / certificate file it names

Rotation keeps the newest `keep` sets, and removes older ones only after a good backup.
`restore_database` refuses a backup whose schema is newer than this code, checks its integrity, and keeps
the replaced database aside (`station.db.replaced-<stamp>`) before putting the backup in place.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from storage.db import (
    APPLICATION_ID,
    _fsync_dir,
    _fsync_file,
    backup_file,
    integrity_problems,
    latest_version,
    open_readonly,
)
from storage.errors import DatabaseCorruptError, SchemaTooNewError, StorageError, translate

log = logging.getLogger(__name__)

SET_PREFIX = "station-"
MANIFEST = "manifest.json"
DB_NAME = "station.db"
ARCHIVE_NAME = "archive.db"


class BackupError(StorageError):
    """A backup or restore that cannot be done; the message says why."""


@dataclass(frozen=True, slots=True)
class BackupSet:
    path: Path
    manifest: dict[str, Any]

    @property
    def records(self) -> int:
        return int(self.manifest.get("records", 0))

    @property
    def max_record_id(self) -> int:
        return int(self.manifest.get("max_record_id", 0))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def check_database(path: Path) -> dict[str, Any]:
    """Open a database file read-only and check it: integrity, application id, schema version not newer
    than this code. Returns its facts (schema, records, highest record id); raises on any problem."""
    problems = integrity_problems(path)
    if problems:
        raise DatabaseCorruptError(f"{path}: integrity check failed: {problems[:5]}")
    conn = open_readonly(path, check_schema=False)
    try:
        app = int(conn.execute("PRAGMA application_id").fetchone()[0])
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if app != APPLICATION_ID:
            raise BackupError(f"{path} is not a station database (application_id {app:#x})")
        if version > latest_version():
            raise SchemaTooNewError(path, version, latest_version())
        count, top = conn.execute("SELECT count(*), coalesce(max(id), 0) FROM transactions").fetchone()
    except sqlite3.Error as exc:
        raise translate(exc, "check") from exc
    finally:
        conn.close()
    return {"schema": version, "records": int(count), "max_record_id": int(top)}


def create_backup(
    database: Path,
    backup_dir: Path,
    *,
    archive: Path | None = None,
    lists_dir: Path | None = None,
    config_files: Sequence[Path] = (),
    now: dt.datetime | None = None,
    keep: int | None = None,
) -> BackupSet:
    """Write one verified backup set into `backup_dir`; with `keep`, rotate afterwards."""
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    name = f"{SET_PREFIX}{now:%Y%m%dT%H%M%S}Z"
    final = backup_dir / name
    n = 1
    while final.exists():
        n += 1
        final = backup_dir / f"{name}-{n}"
    temp = backup_dir / f".{final.name}.partial"
    backup_dir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(temp, ignore_errors=True)
    temp.mkdir()
    try:
        backup_file(database, temp / DB_NAME)
        facts = check_database(temp / DB_NAME)
        if archive is not None and archive.is_file():
            backup_file(archive, temp / ARCHIVE_NAME)
            problems = integrity_problems(temp / ARCHIVE_NAME)
            if problems:
                raise DatabaseCorruptError(f"archive backup failed its check: {problems[:5]}")
        if lists_dir is not None and lists_dir.is_dir():
            shutil.copytree(lists_dir, temp / "lists", ignore=shutil.ignore_patterns("*.partial", ".*"))
        if config_files:
            (temp / "config").mkdir()
            for f in config_files:
                if f.is_file():
                    shutil.copy2(f, temp / "config" / f.name)
        files = {str(p.relative_to(temp)): _sha256(p) for p in sorted(temp.rglob("*")) if p.is_file()}
        manifest = {
            "created_at": now.isoformat(timespec="seconds"),
            "source": str(database),
            **facts,
            "files": files,
        }
        (temp / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        for p in temp.rglob("*"):
            if p.is_file():
                _fsync_file(p)
        os.replace(temp, final)
        _fsync_dir(backup_dir)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise
    log.info("backup %s: %d records (up to id %d)", final, facts["records"], facts["max_record_id"])
    result = BackupSet(final, manifest)
    if keep is not None:
        rotate(backup_dir, keep)
    return result


def list_backups(backup_dir: Path) -> list[BackupSet]:
    """Complete backup sets, oldest first."""
    if not backup_dir.is_dir():
        return []
    out = []
    for p in sorted(backup_dir.iterdir()):
        if p.is_dir() and p.name.startswith(SET_PREFIX) and (p / MANIFEST).is_file():
            try:
                out.append(BackupSet(p, json.loads((p / MANIFEST).read_text(encoding="utf-8"))))
            except ValueError:
                log.warning("backup %s: unreadable manifest, ignored", p)
    return out


def rotate(backup_dir: Path, keep: int) -> list[Path]:
    """Remove all but the newest `keep` sets (never fewer than one); returns what was removed."""
    sets = list_backups(backup_dir)
    removed = [s.path for s in sets[: max(0, len(sets) - max(1, keep))]]
    for p in removed:
        shutil.rmtree(p, ignore_errors=True)
        log.info("backup %s removed (rotation keeps %d)", p, keep)
    return removed


def verify_backup(path: Path) -> dict[str, Any]:
    """Check a backup set: every file's SHA-256 against the manifest, the database's integrity and schema."""
    manifest_path = path / MANIFEST
    if not manifest_path.is_file():
        raise BackupError(f"{path}: no {MANIFEST}: not a backup set")
    manifest: dict[str, Any] = json.loads(manifest_path.read_text(encoding="utf-8"))
    for rel, digest in manifest.get("files", {}).items():
        f = path / rel
        if not f.is_file():
            raise BackupError(f"{path}: {rel} is missing")
        if _sha256(f) != digest:
            raise BackupError(f"{path}: {rel} does not match its checksum")
    check_database(path / DB_NAME)
    return manifest


def restore_database(
    backup: Path, target: Path, *, now: dt.datetime | None = None, archive: bool = False
) -> Path | None:
    """Put the backup's database (`backup` is a set folder or a .db file) at `target`.

    Refuses a newer schema or a damaged file before touching anything; the replaced database (with its
    -wal and -shm) is renamed aside and its new path returned (None when there was none). `archive`: the
    file is an archive database (integrity checked; it has no schema version of its own).
    """
    source = backup / DB_NAME if backup.is_dir() else backup
    if backup.is_dir():
        verify_backup(backup)
    elif archive:
        problems = integrity_problems(source)
        if problems:
            raise DatabaseCorruptError(f"{source}: integrity check failed: {problems[:5]}")
    else:
        check_database(source)
    now = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    target.parent.mkdir(parents=True, exist_ok=True)
    temp = target.with_name(f".{target.name}.restoring")
    shutil.copyfile(source, temp)
    _fsync_file(temp)
    aside: Path | None = None
    if target.exists():
        aside = target.with_name(f"{target.name}.replaced-{now:%Y%m%dT%H%M%S}Z")
        os.replace(target, aside)
        for suffix in ("-wal", "-shm"):
            side = target.with_name(target.name + suffix)
            if side.exists():
                os.replace(side, aside.with_name(aside.name + suffix))
    os.replace(temp, target)
    _fsync_dir(target.parent)
    log.info("restored %s from %s (replaced database kept as %s)", target, source, aside)
    return aside
