"""Scheduled backup and archive in the daemon (`[housekeeping] backup_at`, `archive_at`).

Layer: edge (a daemon task; the work is `storage.backups` / `storage.archive` in a worker thread, so the
lines keep polling). Each job runs once a day at its station-local time; a failure raises an alarm
(`housekeeping` / `backup_failed`, `archive_failed`), the next success clears it.

    sleep until the next due time ─▶ run the due job(s) in a thread ─▶ log / alarm ─▶ again
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edge.housekeeping_config import HousekeepingSettings, housekeeping_settings
from storage.errors import StorageError
from storage.reports.periods import DayBoundary

if TYPE_CHECKING:
    from edge.station import Station

log = logging.getLogger(__name__)

ALARM_SOURCE = "housekeeping"


def next_due(at: DayBoundary, now_local: dt.datetime) -> dt.datetime:
    """The next local time of day `at` strictly after `now_local` (pure)."""
    today = dt.datetime.combine(now_local.date(), dt.time()) + at.offset
    return today if today > now_local else today + dt.timedelta(days=1)


@dataclass
class Job:
    name: str
    at: DayBoundary
    run: Callable[[], str]
    """Blocking work; returns a one-line summary."""


def jobs_of(station: Station, settings: HousekeepingSettings) -> list[Job]:
    from storage.archive import archive_before
    from storage.backups import create_backup

    config = station.config
    jobs = []
    if settings.backup_at is not None:

        def backup() -> str:
            from edge.commands.housekeeping import Paths

            files = Paths(config, settings).config_files()
            result = create_backup(
                config.storage.database,
                settings.backup_dir,
                archive=settings.archive_database,
                lists_dir=config.storage.lists_dir,
                config_files=files,
                keep=settings.backup_keep,
            )
            return f"{result.path.name}: {result.records} records"

        jobs.append(Job("backup", settings.backup_at, backup))
    if settings.archive_at is not None:

        def archive() -> str:
            today = settings.day_boundary.day_of(dt.datetime.now())
            before = today - dt.timedelta(days=settings.archive_after_days)
            result = archive_before(config.storage.database, settings.archive_database, before)
            skipped = f", {len(result.skipped)} days waiting" if result.skipped else ""
            return f"{len(result.moved_days)} days, {result.moved_records} records archived{skipped}"

        jobs.append(Job("archive", settings.archive_at, archive))
    return jobs


async def run_job(station: Station, job: Job) -> bool:
    try:
        summary = await asyncio.to_thread(job.run)
    except (StorageError, OSError) as exc:
        log.error("scheduled %s failed: %s", job.name, exc)
        await station.services.alarms.raise_alarm(
            ALARM_SOURCE, f"{job.name}_failed", "major", f"Scheduled {job.name} failed: {exc}"
        )
        return False
    log.info("scheduled %s: %s", job.name, summary)
    await station.services.alarms.clear(ALARM_SOURCE, f"{job.name}_failed")
    return True


async def housekeeping_task(station: Station, *, clock: Callable[[], dt.datetime] = dt.datetime.now) -> None:
    """Daemon task: run each configured job daily at its time (nothing configured: returns at once)."""
    jobs = jobs_of(station, housekeeping_settings(station.config))
    if not jobs:
        return
    due = {job.name: next_due(job.at, clock()) for job in jobs}
    while True:
        job = min(jobs, key=lambda j: due[j.name])
        wait_s = (due[job.name] - clock()).total_seconds()
        if wait_s > 0:
            await asyncio.sleep(wait_s)
        await run_job(station, job)
        due[job.name] = next_due(job.at, max(clock(), due[job.name]))
