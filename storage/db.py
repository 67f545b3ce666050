"""The one owner of the daemon's SQLite connection: pragmas, migrations, transactions, checks, backups.

Layer: storage. The daemon opens one `Database` and hands it to `Journal`, `Alarms`, `Outbox` …; nobody
else opens the file for writing. CLI tools use `open_readonly()` (a plain sqlite3 connection, WAL
lets them read while the daemon writes).

Connection settings (every open):

    journal_mode = WAL        readers never block the writer, a commit is one WAL append
    synchronous  = FULL       the WAL is fsync'ed at every COMMIT: committed means on the medium
    foreign_keys = ON
    busy_timeout = BUSY_TIMEOUT_MS

Migrations are `storage/migrations/NNNN_name.sql`, applied in number order, each inside one
`BEGIN IMMEDIATE … COMMIT` together with `PRAGMA user_version = NNNN`; numbers need not be
contiguous (several teams own ranges) but never repeat. A database whose user_version is above the
highest migration we ship is refused (`SchemaTooNewError`): old code must not write a newer schema.

Transactions: `async with db.transaction() as tx:` runs BEGIN IMMEDIATE … COMMIT (ROLLBACK on any
exception, cancellation included) under one asyncio lock, so several facts are written atomically and
no other coroutine's statement can slip into the transaction. When the block exits normally the COMMIT
has returned, i.e. the data is durable. Plain reads (`fetchall`, `fetchone`) take the same lock, so
they never see another coroutine's uncommitted writes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiosqlite

from storage.errors import (
    DatabaseCorruptError,
    DatabaseNotFoundError,
    MigrationError,
    NotAStationDatabaseError,
    SchemaTooNewError,
    SchemaTooOldError,
    StorageError,
    TransactionUsageError,
    translate,
)

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5_000
JOURNAL_SIZE_LIMIT_BYTES = 64 * 1024 * 1024
APPLICATION_ID = 0x5354_4E45  # "STNE": marks a station edge database
MIN_READABLE_VERSION = 1
"""`open_readonly` needs at least this schema (the journal tables)."""

_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

Params = Sequence[Any] | dict[str, Any]


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered schema step; `sql` must not contain BEGIN/COMMIT (the runner wraps it)."""

    version: int
    name: str
    sql: str


def load_migrations(folder: Traversable | None = None) -> tuple[Migration, ...]:
    """The migrations in `folder` (default: the packaged `storage/migrations`), in version order."""
    folder = folder if folder is not None else resources.files("storage").joinpath("migrations")
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _MIGRATION_NAME.match(entry.name)
        if match is None:
            raise MigrationError(f"migration file name {entry.name!r} is not NNNN_name.sql", name=entry.name)
        version = int(match.group(1))
        if version == 0:
            raise MigrationError("migration 0000 is reserved for the empty database", name=entry.name)
        if version in found:
            raise MigrationError(
                f"two migrations with number {version:04d}: {found[version].name}, {entry.name}",
                version=version,
                name=entry.name,
            )
        found[version] = Migration(version, entry.name, entry.read_text(encoding="utf-8"))
    return tuple(found[v] for v in sorted(found))


@cache
def _packaged_migrations() -> tuple[Migration, ...]:
    return load_migrations()


def latest_version(migrations: Sequence[Migration] | None = None) -> int:
    """The schema version this code writes (the highest migration number)."""
    migrations = _packaged_migrations() if migrations is None else migrations
    return migrations[-1].version if migrations else 0


class Tx:
    """Statements inside one `Database.transaction()`; valid only inside its `async with` block."""

    __slots__ = ("_conn", "_open")

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._open = True

    async def execute(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """Run one statement; returns its rows (use `RETURNING` to learn what a write did)."""
        if not self._open:
            raise TransactionUsageError("transaction already finished")
        return await _fetchall(self._conn, sql, params)

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        rows = await self.execute(sql, params)
        return rows[0] if rows else None

    async def one(self, sql: str, params: Params = ()) -> sqlite3.Row:
        """A statement that must yield a row (`INSERT … RETURNING`, an upsert, an aggregate)."""
        rows = await self.execute(sql, params)
        if not rows:
            raise StorageError(f"statement returned no row: {sql.strip().splitlines()[0]}")
        return rows[0]


async def _fetchall(conn: aiosqlite.Connection, sql: str, params: Params) -> list[sqlite3.Row]:
    try:
        return list(await conn.execute_fetchall(sql, params))
    except sqlite3.Error as exc:
        raise translate(exc, sql) from exc


class Database:
    """The daemon's database. Create with `await Database.open(path)`; close with `await db.close()`."""

    def __init__(self, conn: aiosqlite.Connection, path: Path) -> None:
        """Use `Database.open`; this only wraps an already configured connection."""
        self._conn = conn
        self._path = path
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[Any] | None = None
        self._closed = False

    @property
    def path(self) -> Path:
        return self._path

    @classmethod
    async def open(
        cls, path: str | os.PathLike[str], *, migrations: Sequence[Migration] | None = None
    ) -> Self:
        """Open (creating it and its folders if needed), configure and migrate the database at `path`."""
        db_path = Path(path)
        try:
            db_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create the folder of {db_path}: {exc}") from exc
        migrations = _packaged_migrations() if migrations is None else tuple(migrations)
        try:
            conn = await aiosqlite.connect(db_path, isolation_level=None)
        except sqlite3.Error as exc:
            raise translate(exc) from exc
        conn.row_factory = sqlite3.Row
        db = cls(conn, db_path)
        try:
            await db._configure()
            await db._migrate(migrations)
            await _fetchall(conn, "PRAGMA foreign_keys = ON", ())
        except BaseException:
            await conn.close()
            raise
        return db

    async def _configure(self) -> None:
        await _fetchall(self._conn, f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}", ())
        rows = await _fetchall(self._conn, "PRAGMA journal_mode = WAL", ())
        if str(rows[0][0]).lower() != "wal":
            raise StorageError(f"{self._path}: cannot switch to WAL (journal_mode={rows[0][0]})")
        await _fetchall(self._conn, "PRAGMA synchronous = FULL", ())
        await _fetchall(self._conn, f"PRAGMA journal_size_limit = {JOURNAL_SIZE_LIMIT_BYTES}", ())

    async def _migrate(self, migrations: Sequence[Migration]) -> None:
        current = await self.user_version()
        await self._check_identity(current)
        latest = latest_version(migrations)
        if current > latest:
            raise SchemaTooNewError(self._path, current, latest)
        for migration in migrations:
            if migration.version > current:
                await self._apply(migration)
                current = migration.version

    async def _apply(self, migration: Migration) -> None:
        """One migration in one transaction, with foreign keys checked before its COMMIT.

        Runs before `foreign_keys` is switched on, so a step may rebuild a referenced table (SQLite's
        12-step ALTER procedure); `foreign_key_check` then refuses a step that leaves dangling references.
        """
        log.info("%s: applying migration %s", self._path, migration.name)

        def failed(reason: object) -> MigrationError:
            return MigrationError(
                f"{self._path}: migration {migration.name} failed: {reason}",
                version=migration.version,
                name=migration.name,
            )

        try:
            # executescript leaves the transaction open: the version is set, and COMMIT issued, below.
            await self._conn.executescript(f"BEGIN IMMEDIATE;\n{migration.sql}\n;")
            dangling = await _fetchall(self._conn, "PRAGMA foreign_key_check", ())
            if dangling:
                raise failed(f"{len(dangling)} rows break foreign keys, e.g. {tuple(dangling[0])}")
            await _fetchall(self._conn, f"PRAGMA application_id = {APPLICATION_ID}", ())
            await _fetchall(self._conn, f"PRAGMA user_version = {migration.version}", ())
            await self._conn.commit()
        except MigrationError:
            await self._conn.rollback()
            raise
        except (sqlite3.Error, StorageError) as exc:
            await self._conn.rollback()
            raise failed(exc) from exc

    async def _check_identity(self, version: int) -> None:
        app_id = (await _fetchall(self._conn, "PRAGMA application_id", ()))[0][0]
        if app_id == APPLICATION_ID:
            return
        if version == 0 and app_id == 0:
            tables = await _fetchall(self._conn, "SELECT count(*) FROM sqlite_schema", ())
            if tables[0][0] == 0:
                return  # a new, empty file
        raise NotAStationDatabaseError(self._path, int(app_id))

    async def user_version(self) -> int:
        """The schema version of the open file."""
        rows = await self.fetchall("PRAGMA user_version")
        return int(rows[0][0])

    async def close(self) -> None:
        """Close the connection (waits for a running transaction to finish). Idempotent."""
        if self._closed:
            return
        async with self._lock:
            self._closed = True
            await self._conn.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def _check_usable(self) -> None:
        if self._closed:
            raise TransactionUsageError(f"{self._path}: database is closed")
        task = asyncio.current_task()
        if task is not None and task is self._owner:
            raise TransactionUsageError("nested use of the database inside a transaction: use its Tx")

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Tx]:
        """BEGIN IMMEDIATE … COMMIT; ROLLBACK on any exception. Durable once the block has exited.

        Not re-entrant: inside the block, use the `Tx` it yields (calling the database again from the
        same task raises `TransactionUsageError` rather than deadlocking).
        """
        self._check_usable()
        async with self._lock:
            if self._closed:
                raise TransactionUsageError(f"{self._path}: database is closed")
            self._owner = asyncio.current_task()
            tx = Tx(self._conn)
            try:
                await _fetchall(self._conn, "BEGIN IMMEDIATE", ())
                try:
                    yield tx
                    tx._open = False
                    await self._conn.commit()
                except BaseException:
                    # Queued behind everything sent so far (the worker is FIFO); a no-op when the
                    # COMMIT went through before the failure (e.g. cancellation while awaiting it).
                    await self._conn.rollback()
                    raise
            except sqlite3.Error as exc:
                raise translate(exc, "COMMIT") from exc
            finally:
                tx._open = False
                self._owner = None

    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]:
        """One statement outside any transaction (autocommit); reads see committed data only."""
        self._check_usable()
        async with self._lock:
            return await _fetchall(self._conn, sql, params)

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def get_meta(self, key: str) -> str | None:
        row = await self.fetchone("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row["value"])

    async def set_meta(self, key: str, value: str) -> None:
        async with self.transaction() as tx:
            await tx.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    async def integrity_check(self) -> list[str]:
        """`PRAGMA integrity_check` on a separate read-only connection: [] when sound, else the problems.

        Runs in a worker thread so the daemon keeps committing (WAL) while a large file is checked.
        """
        return await asyncio.to_thread(integrity_problems, self._path)

    async def backup(self, target: str | os.PathLike[str]) -> Path:
        """A consistent online copy of the database at `target` (written beside it, fsync'ed, renamed).

        Uses SQLite's backup API from a separate read connection in a worker thread: the copy is one
        snapshot, and the daemon keeps writing meanwhile.
        """
        return await asyncio.to_thread(backup_file, self._path, Path(target))


def _readonly_uri(path: Path) -> str:
    return f"{path.resolve().as_uri()}?mode=ro"


def open_readonly(path: str | os.PathLike[str], *, check_schema: bool = True) -> sqlite3.Connection:
    """A synchronous read-only connection for CLI tools (works while the daemon writes, thanks to WAL).

    Raises `DatabaseNotFoundError` if there is no file (it is never created), `NotAStationDatabaseError`,
    `SchemaTooOldError` / `SchemaTooNewError` when `check_schema` and the schema is not one this code reads.
    """
    db_path = Path(path)
    if not db_path.is_file():
        raise DatabaseNotFoundError(db_path)
    try:
        conn = sqlite3.connect(_readonly_uri(db_path), uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise translate(exc) from exc
    try:
        conn.row_factory = sqlite3.Row
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if check_schema:
            app_id = int(conn.execute("PRAGMA application_id").fetchone()[0])
            if app_id != APPLICATION_ID:
                raise NotAStationDatabaseError(db_path, app_id)
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            if version < MIN_READABLE_VERSION:
                raise SchemaTooOldError(db_path, version, MIN_READABLE_VERSION)
            if version > latest_version():
                raise SchemaTooNewError(db_path, version, latest_version())
    except sqlite3.Error as exc:
        conn.close()
        raise translate(exc) from exc
    except StorageError:
        conn.close()
        raise
    return conn


def integrity_problems(path: str | os.PathLike[str]) -> list[str]:
    """Blocking `PRAGMA integrity_check` + `foreign_key_check`; [] when the file is sound."""
    conn = open_readonly(path, check_schema=False)
    try:
        rows = [str(r[0]) for r in conn.execute("PRAGMA integrity_check")]
        problems = [] if rows == ["ok"] else rows
        problems.extend(
            f"foreign key: {r['table']} rowid {r['rowid']} -> {r['parent']}"
            for r in conn.execute("PRAGMA foreign_key_check")
        )
        return problems
    except sqlite3.Error as exc:
        raise translate(exc, "PRAGMA integrity_check") from exc
    finally:
        conn.close()


def backup_file(source: str | os.PathLike[str], target: str | os.PathLike[str]) -> Path:
    """Blocking online backup of `source` into `target` (atomic: temp file, fsync, rename)."""
    target_path = Path(target)
    target_path.parent.mkdir(parents=True, exist_ok=True)
    temp = target_path.with_name(f".{target_path.name}.partial")
    temp.unlink(missing_ok=True)
    src = open_readonly(source, check_schema=False)
    try:
        dst = sqlite3.connect(temp)
        try:
            src.backup(dst)  # one step: a single consistent snapshot of the source
            dst.execute("PRAGMA journal_mode = DELETE")  # a self-contained file, no -wal beside it
            problems = [str(r[0]) for r in dst.execute("PRAGMA quick_check")]
        finally:
            dst.close()
    except sqlite3.Error as exc:
        temp.unlink(missing_ok=True)
        raise translate(exc, "backup") from exc
    finally:
        src.close()
    if problems != ["ok"]:
        temp.unlink(missing_ok=True)
        raise DatabaseCorruptError(f"backup of {source} failed its check: {problems[:5]}")
    _fsync_file(temp)
    os.replace(temp, target_path)
    _fsync_dir(target_path.parent)
    return target_path


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
