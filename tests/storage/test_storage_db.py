"""`storage.db`: pragmas, migrations, refusal of foreign or newer files, transactions, checks, backup."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from storage.db import (
    APPLICATION_ID,
    Database,
    Migration,
    integrity_problems,
    latest_version,
    load_migrations,
    open_readonly,
)
from storage.errors import (
    DatabaseCorruptError,
    DatabaseIOError,
    DatabaseNotFoundError,
    MigrationError,
    NotAStationDatabaseError,
    SchemaTooNewError,
    SchemaTooOldError,
    SqliteError,
    StorageError,
    TransactionUsageError,
)

TABLES = {"transactions", "record_gaps", "totals", "dispenser_info", "alarms", "outbox", "meta"}


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_schema WHERE type = 'table'")}


def pragma(path: Path, name: str) -> object:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        conn.close()


async def test_fresh_file_is_created_and_migrated(db_path: Path) -> None:
    assert not db_path.parent.exists()
    db = await Database.open(db_path)
    try:
        assert await db.user_version() == latest_version() >= 1
    finally:
        await db.close()
    assert tables(db_path) >= TABLES
    assert pragma(db_path, "user_version") == latest_version()
    assert pragma(db_path, "application_id") == APPLICATION_ID


async def test_reopen_is_idempotent_and_keeps_data(db_path: Path) -> None:
    db = await Database.open(db_path)
    await db.set_meta("site", "ST-1")
    await db.close()
    db = await Database.open(db_path)
    try:
        assert await db.user_version() == latest_version()
        assert await db.get_meta("site") == "ST-1"
        assert await db.get_meta("missing") is None
    finally:
        await db.close()


async def test_pragmas_wal_full_foreign_keys(db: Database, db_path: Path) -> None:
    assert (await db.fetchone("PRAGMA journal_mode"))[0] == "wal"  # type: ignore[index]
    assert (await db.fetchone("PRAGMA synchronous"))[0] == 2  # type: ignore[index]  # FULL
    assert (await db.fetchone("PRAGMA foreign_keys"))[0] == 1  # type: ignore[index]
    assert (await db.fetchone("PRAGMA busy_timeout"))[0] > 0  # type: ignore[index]
    assert pragma(db_path, "journal_mode") == "wal"  # persistent, seen by every other connection


async def test_future_schema_is_refused_and_left_untouched(db_path: Path) -> None:
    await (await Database.open(db_path)).close()
    future = latest_version() + 1
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {future}")
    with pytest.raises(SchemaTooNewError) as info:
        await Database.open(db_path)
    assert (info.value.found, info.value.supported) == (future, latest_version())
    assert isinstance(info.value, StorageError)
    assert pragma(db_path, "user_version") == future
    with pytest.raises(SchemaTooNewError):
        open_readonly(db_path)


async def test_failed_migration_rolls_back_to_last_good_version(db_path: Path) -> None:
    good = Migration(1, "0001_a.sql", "CREATE TABLE a (x INTEGER);")
    bad = Migration(3, "0003_b.sql", "CREATE TABLE b (x INTEGER); INSERT INTO nowhere VALUES (1);")
    with pytest.raises(MigrationError) as info:
        await Database.open(db_path, migrations=[good, bad])
    assert info.value.version == 3
    assert pragma(db_path, "user_version") == 1
    assert tables(db_path) == {"a"}  # b was rolled back with the failed step
    fixed = Migration(3, "0003_b.sql", "CREATE TABLE b (x INTEGER);")
    db = await Database.open(db_path, migrations=[good, fixed])  # numbers may skip (team ranges)
    await db.close()
    assert pragma(db_path, "user_version") == 3
    assert tables(db_path) == {"a", "b"}


async def test_migration_leaving_dangling_foreign_keys_is_refused(db_path: Path) -> None:
    step = Migration(
        1,
        "0001_fk.sql",
        "CREATE TABLE parent (id INTEGER PRIMARY KEY);"
        "CREATE TABLE child (parent_id INTEGER REFERENCES parent (id));"
        "INSERT INTO child VALUES (42);",
    )
    with pytest.raises(MigrationError, match="foreign keys"):
        await Database.open(db_path, migrations=[step])
    assert pragma(db_path, "user_version") == 0
    assert tables(db_path) == set()


def test_packaged_migrations_are_numbered_sql_files() -> None:
    migrations = load_migrations()
    assert migrations[0].version == 1
    assert [m.version for m in migrations] == sorted({m.version for m in migrations})
    assert all(m.name == f"{m.version:04d}_{m.name[5:]}" and m.name.endswith(".sql") for m in migrations)


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["0001_a.sql", "0001_b.sql"], "two migrations with number 0001"),
        (["1_a.sql"], "is not NNNN_name.sql"),
        (["0000_zero.sql"], "reserved"),
    ],
)
def test_bad_migration_folders_are_refused(tmp_path: Path, names: list[str], message: str) -> None:
    for name in names:
        (tmp_path / name).write_text("SELECT 1;")
    with pytest.raises(MigrationError, match=message):
        load_migrations(tmp_path)


async def test_foreign_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE something (x)")
    with pytest.raises(NotAStationDatabaseError):
        await Database.open(path)
    assert tables(path) == {"something"}


async def test_garbage_file_is_reported_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(b"this is not an sqlite database at all" * 200)
    with pytest.raises(DatabaseCorruptError):
        await Database.open(path)


async def test_transaction_commits_and_rolls_back(db: Database) -> None:
    async with db.transaction() as tx:
        await tx.execute("INSERT INTO meta (key, value) VALUES ('a', '1')")
    with pytest.raises(RuntimeError):
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO meta (key, value) VALUES ('b', '2')")
            raise RuntimeError("boom")
    assert await db.get_meta("a") == "1"
    assert await db.get_meta("b") is None


async def test_sql_errors_are_typed_and_roll_back(db: Database) -> None:
    with pytest.raises(SqliteError) as info:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO meta (key, value) VALUES ('c', '3')")
            await tx.execute("INSERT INTO meta (key, value) VALUES ('c', '4')")  # primary key
    assert info.value.sql is not None and "INSERT INTO meta" in info.value.sql
    assert await db.get_meta("c") is None


async def test_nested_use_in_the_same_task_is_an_error_not_a_deadlock(db: Database) -> None:
    async with db.transaction():
        with pytest.raises(TransactionUsageError):
            await db.fetchall("SELECT 1")
        with pytest.raises(TransactionUsageError):
            async with db.transaction():
                pass


async def test_other_tasks_wait_and_never_see_uncommitted_rows(db: Database) -> None:
    inside = asyncio.Event()
    release = asyncio.Event()

    async def writer() -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO meta (key, value) VALUES ('w', '1')")
            inside.set()
            await release.wait()
            raise RuntimeError("abandon")

    task = asyncio.create_task(writer())
    await inside.wait()
    reader = asyncio.create_task(db.get_meta("w"))
    await asyncio.sleep(0)  # one turn of the loop: the reader queues its read before the rollback
    release.set()
    with pytest.raises(RuntimeError):
        await task
    assert await reader is None


async def test_cancellation_inside_a_transaction_rolls_back(db: Database) -> None:
    inside = asyncio.Event()

    async def writer() -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO meta (key, value) VALUES ('x', '1')")
            inside.set()
            await asyncio.Event().wait()

    task = asyncio.create_task(writer())
    await inside.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await db.get_meta("x") is None
    await db.set_meta("y", "2")  # the connection is usable again
    assert await db.get_meta("y") == "2"


async def test_use_after_close_is_typed(db_path: Path) -> None:
    db = await Database.open(db_path)
    await db.close()
    await db.close()
    with pytest.raises(TransactionUsageError):
        await db.fetchall("SELECT 1")


async def test_readonly_reads_while_the_daemon_holds_the_file(db: Database, db_path: Path) -> None:
    await db.set_meta("k", "v1")
    conn = open_readonly(db_path)
    try:
        assert conn.execute("SELECT value FROM meta WHERE key = 'k'").fetchone()[0] == "v1"
        await db.set_meta("k", "v2")
        assert conn.execute("SELECT value FROM meta WHERE key = 'k'").fetchone()[0] == "v2"
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            conn.execute("DELETE FROM meta")
    finally:
        conn.close()


def test_readonly_refuses_missing_and_unmigrated_files(tmp_path: Path) -> None:
    with pytest.raises(DatabaseNotFoundError):
        open_readonly(tmp_path / "nope.db")
    assert not (tmp_path / "nope.db").exists()
    empty = tmp_path / "empty.db"
    with sqlite3.connect(empty) as conn:
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    with pytest.raises(SchemaTooOldError):
        open_readonly(empty)


async def test_integrity_check_and_backup(db: Database, tmp_path: Path) -> None:
    await db.set_meta("k", "v")
    assert await db.integrity_check() == []
    target = await db.backup(tmp_path / "backups" / "copy.db")
    assert target.exists()
    assert not list(target.parent.glob(".*partial"))
    assert pragma(target, "journal_mode") == "delete"  # self-contained, no -wal needed beside it
    copy = await Database.open(target)
    try:
        assert await copy.get_meta("k") == "v"
    finally:
        await copy.close()


def scribble(path: Path, page: int = 4096) -> None:
    """Overwrite part of every b-tree page after the first two (the header page stays readable)."""
    data = bytearray(path.read_bytes())
    for offset in range(2 * page, len(data) - page, page):
        data[offset + 8 : offset + 200] = b"\xff" * 192
    path.write_bytes(bytes(data))


async def test_integrity_check_reports_damage(db_path: Path) -> None:
    db = await Database.open(db_path)
    async with db.transaction() as tx:
        for i in range(2000):
            await tx.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (f"k{i:05d}", "x" * 100))
    await db.close()
    scribble(db_path)
    try:
        problems = integrity_problems(db_path)
    except DatabaseCorruptError:
        return  # SQLite refusing to walk the damaged tree is the other correct answer
    assert problems != []


async def test_unwritable_folder_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StorageError):
        await Database.open(blocker / "sub" / "station.db")


def test_error_leaves_share_the_root() -> None:
    for leaf in (DatabaseIOError, DatabaseCorruptError, SqliteError, MigrationError, DatabaseNotFoundError):
        assert issubclass(leaf, StorageError)
