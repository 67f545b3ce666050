"""The daemon's watch over its own database: structure checks and record checksums, at start and on a schedule.

Layer: edge (a daemon task around `storage.integrity`). At start, before any line is served,
`check_at_start` runs `PRAGMA quick_check` (a broken b-tree stops the daemon: `DatabaseCorruptError`,
`station run` exits 3) and gives rows stored before checksums existed theirs. Then `integrity_task`:

    at once, then every `storage.integrity_check_hours`:
        (scheduled runs only) PRAGMA integrity_check   problems → alarm storage/database_damaged
        verify every journal row                       damaged  → alarm <line>/<disp>#<POS_TTC>/record_damaged
            columns damaged, raw intact → columns rebuilt from raw, alarm cleared
            raw damaged → 0x3E queued to the dispenser; its answer repairs the row when it matches
                          the stored checksum (Journal.store_record, REPAIRED), which clears the alarm

Scans run in a worker thread on a read-only connection (WAL): the lines keep being served meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

from protocol.messages import RecordRead
from storage.db import Database, open_readonly
from storage.errors import DatabaseCorruptError, StorageError
from storage.integrity import (
    DAMAGED_ALARM_CODE,
    DamagedRecord,
    backfill_sums,
    quick_check,
    repair_columns,
    scan,
)

if TYPE_CHECKING:
    from edge.station import Station

log = logging.getLogger(__name__)

DATABASE_ALARM_SOURCE = "storage"
DATABASE_ALARM_CODE = "database_damaged"
MAX_NAMED_PROBLEMS = 10


def _quick_check_file(path: Path) -> list[str]:
    conn = open_readonly(path, check_schema=False)
    try:
        return quick_check(conn)
    finally:
        conn.close()


def _scan_file(path: Path) -> list[DamagedRecord]:
    conn = open_readonly(path, check_schema=False)
    try:
        return list(scan(conn))
    except sqlite3.Error as exc:
        raise StorageError(f"{path}: cannot scan the journal: {exc}") from exc
    finally:
        conn.close()


async def check_at_start(db: Database) -> None:
    """`PRAGMA quick_check` (raises `DatabaseCorruptError`), then checksums for rows that lack one."""
    try:
        problems = await asyncio.to_thread(_quick_check_file, db.path)
    except DatabaseCorruptError as exc:
        raise DatabaseCorruptError(f"{db.path}: quick_check failed: {exc}") from exc
    if problems:
        raise DatabaseCorruptError(
            f"{db.path}: quick_check found {len(problems)} problems, e.g. {'; '.join(problems[:3])}"
        )
    added = await backfill_sums(db)
    if added:
        log.info("integrity: %d journal rows stored before record checksums got theirs", added)


async def verify_records(station: Station) -> list[DamagedRecord]:
    """Verify every journal row; name each damaged one (log, alarm) and start its recovery."""
    damaged = await asyncio.to_thread(_scan_file, station.db.path)
    for record in damaged:
        log.error("integrity: %s", record.message())
        alarms = station.services.alarms
        await alarms.raise_alarm(
            record.alarm_source, DAMAGED_ALARM_CODE, "critical", record.message(), record.details()
        )
        if not record.raw_damaged:
            if await repair_columns(station.db, record):
                log.warning("integrity: record %s: columns rebuilt from its intact bytes", record.name)
                await alarms.clear(record.alarm_source, DAMAGED_ALARM_CODE)
            continue
        for session in station.sessions.get(record.line, ()):
            if session.pos_p == record.dispenser:
                session.request_read(RecordRead(record.pos_ttc))
                log.info("integrity: record %s asked again from the dispenser (0x3E)", record.name)
    log.info("integrity: journal verified, %d damaged records", len(damaged))
    return damaged


async def check_database(station: Station) -> list[str]:
    """`PRAGMA integrity_check` on a read connection; alarm while it finds problems."""
    problems = await station.db.integrity_check()
    alarms = station.services.alarms
    if problems:
        shown = "; ".join(problems[:MAX_NAMED_PROBLEMS])
        log.critical("integrity: the database has %d problems: %s", len(problems), shown)
        await alarms.raise_alarm(
            DATABASE_ALARM_SOURCE,
            DATABASE_ALARM_CODE,
            "critical",
            f"integrity_check found {len(problems)} problems ({shown}): stop the daemon, keep the files, "
            "restore the last backup (docs/database.md)",
            {"problems": problems[:MAX_NAMED_PROBLEMS]},
        )
    else:
        await alarms.clear(DATABASE_ALARM_SOURCE, DATABASE_ALARM_CODE)
    return problems


async def integrity_task(station: Station) -> None:
    """Verify the journal now, then check the database and the journal on schedule."""
    interval_s = station.config.storage.integrity_check_hours * 3600
    first = True
    while True:
        try:
            if not first:
                await check_database(station)
            await verify_records(station)
        except StorageError as exc:
            log.error("integrity: check failed: %s", exc)
            await station.services.alarms.raise_alarm(
                DATABASE_ALARM_SOURCE, DATABASE_ALARM_CODE, "critical", f"integrity check failed: {exc}"
            )
        first = False
        await asyncio.sleep(interval_s)
