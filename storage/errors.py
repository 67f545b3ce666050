"""Typed errors of the storage package: one root, `StorageError`, and one leaf per cause.

Layer: storage. Every sqlite3 error that leaves this package is translated by `translate()` into a
leaf carrying the offending object (path, SQL, version …), so callers can tell "disk full" (raise an
alarm, keep running, do not acknowledge) from "corrupt" (stop writing, call an engineer).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path


class StorageError(Exception):
    """Root of every error raised by `storage`."""


class DatabaseNotFoundError(StorageError):
    """A read-only open was asked for a database file that does not exist."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"no database at {path}")
        self.path = path


class NotAStationDatabaseError(StorageError):
    """The file is an SQLite database, but not one written by this software."""

    def __init__(self, path: Path, application_id: int) -> None:
        super().__init__(f"{path} is not a station database (application_id={application_id:#x})")
        self.path = path
        self.application_id = application_id


class MigrationError(StorageError):
    """A schema migration could not be loaded or applied (the database is left at the last good version)."""

    def __init__(self, message: str, *, version: int | None = None, name: str | None = None) -> None:
        super().__init__(message)
        self.version = version
        self.name = name


class SchemaTooNewError(MigrationError):
    """The database was written by newer code (its user_version is above every migration we know)."""

    def __init__(self, path: Path, found: int, supported: int) -> None:
        super().__init__(
            f"{path} has schema version {found}, this code knows up to {supported}: refusing to open",
            version=found,
        )
        self.path = path
        self.found = found
        self.supported = supported


class SchemaTooOldError(MigrationError):
    """A read-only open found a database that has not been migrated (no schema, or too old to read)."""

    def __init__(self, path: Path, found: int, needed: int) -> None:
        super().__init__(f"{path} has schema version {found}, at least {needed} is needed", version=found)
        self.path = path
        self.found = found
        self.needed = needed


class InvalidRecordError(StorageError):
    """A transaction record handed to the journal is malformed (wrong length, POS_TTC mismatch)."""

    def __init__(self, message: str, raw: bytes) -> None:
        super().__init__(message)
        self.raw = raw


class TransactionUsageError(StorageError):
    """`Database.transaction()` was misused (nested in the same task, or used after close)."""


class SqliteError(StorageError):
    """An sqlite3 error with no more specific leaf; `code` is the SQLite (extended) result code."""

    def __init__(self, message: str, *, code: int | None = None, sql: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.sql = sql


class DiskFullError(SqliteError):
    """SQLITE_FULL, "database or disk is full": nothing was written; the caller must not acknowledge."""


class DatabaseCorruptError(SqliteError):
    """SQLITE_CORRUPT / SQLITE_NOTADB, or a failed `integrity_check`: stop writing, restore from backup."""


class DatabaseBusyError(SqliteError):
    """SQLITE_BUSY / SQLITE_LOCKED after the busy timeout: another process holds the write lock."""


class DatabaseIOError(SqliteError):
    """SQLITE_IOERR / SQLITE_CANTOPEN / SQLITE_READONLY: the storage medium or its permissions failed."""


_PRIMARY_CODE_MASK = 0xFF


def translate(exc: sqlite3.Error, sql: str | None = None) -> StorageError:
    """Map an sqlite3 exception to the matching `StorageError` leaf (the caller raises it `from exc`)."""
    code: int | None = getattr(exc, "sqlite_errorcode", None)
    primary = code & _PRIMARY_CODE_MASK if code is not None else None
    message = str(exc)
    leaf: type[SqliteError]
    if primary == sqlite3.SQLITE_FULL or "database or disk is full" in message:
        leaf = DiskFullError
    elif primary in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        leaf = DatabaseCorruptError
    elif primary in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        leaf = DatabaseBusyError
    elif primary in (sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY):
        leaf = DatabaseIOError
    else:
        leaf = SqliteError
    return leaf(message, code=code, sql=sql)
