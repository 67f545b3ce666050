"""`station doctor`'s checks: configuration, serial devices, database, disk, outbox, clock, certificates.

Layer: edge (each check a small function returning `Check`s; `run_checks` is the only place that does
I/O in sequence). A check never raises: a problem it cannot even look at is itself a failed check.
Levels: `ok`, `warn` (look at it soon), `fail` (the station is or will be hurt).
"""

from __future__ import annotations

import datetime as dt
import shutil
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

DISK_FAIL_BYTES = 50 * 1024 * 1024
DISK_WARN_BYTES = 500 * 1024 * 1024
OUTBOX_WARN_S = 3600.0
OUTBOX_FAIL_S = 24 * 3600.0
CERT_WARN_DAYS = 30
CLOCK_BACKWARDS_S = 300.0
CLOCK_MIN_YEAR = 2024
DISPENSER_CLOCK_WARN_S = 600.0
BACKUP_WARN_DAYS = 2


class Level(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    level: Level
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in asdict(self).items()}


def check_config(path: Path) -> tuple[list[Check], Any]:
    from edge.commands.run import component_problems
    from edge.config import ConfigError, load_config

    try:
        config = load_config(path)
    except ConfigError as exc:
        return [Check("config", Level.FAIL, "; ".join(exc.problems))], None
    problems = component_problems(config)
    if problems:
        return [Check("config", Level.FAIL, "; ".join(problems))], config
    return [
        Check(
            "config",
            Level.OK,
            f"{path}: {len(config.lines)} lines, {sum(len(line.dispensers) for line in config.lines)} dispensers",
        )
    ], config


def check_devices(config: Any) -> list[Check]:
    from edge.config import check_devices as missing_devices

    problems = missing_devices(config)
    if problems:
        return [Check("serial devices", Level.FAIL, p) for p in problems]
    return [
        Check("serial devices", Level.OK, ", ".join(line.url for line in config.lines) or "none configured")
    ]


def check_database(path: Path) -> list[Check]:
    from storage.db import integrity_problems, latest_version, open_readonly
    from storage.errors import StorageError

    if not path.is_file():
        return [Check("database", Level.WARN, f"{path} does not exist yet (created at the first start)")]
    try:
        problems = integrity_problems(path)
        conn = open_readonly(path, check_schema=False)
        try:
            version = int(conn.execute("PRAGMA user_version").fetchone()[0])
            records = int(conn.execute("SELECT count(*) FROM transactions").fetchone()[0])
        finally:
            conn.close()
    except (StorageError, sqlite3.Error) as exc:
        return [Check("database", Level.FAIL, f"{path}: {exc}")]
    out = []
    if problems:
        out.append(Check("database integrity", Level.FAIL, "; ".join(problems[:5])))
    else:
        out.append(Check("database integrity", Level.OK, f"{path}: ok, {records} records"))
    latest = latest_version()
    if version > latest:
        out.append(
            Check(
                "schema version",
                Level.FAIL,
                f"{version} is newer than this code ({latest}): restore a backup or upgrade",
            )
        )
    elif version < latest:
        out.append(
            Check("schema version", Level.WARN, f"{version}; the daemon migrates it to {latest} at start")
        )
    else:
        out.append(Check("schema version", Level.OK, str(version)))
    return out


def check_disk(folder: Path) -> list[Check]:
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    free_mb = usage.free // (1024 * 1024)
    detail = f"{folder}: {free_mb} MiB free of {usage.total // (1024 * 1024)} MiB"
    if usage.free < DISK_FAIL_BYTES:
        return [Check("disk space", Level.FAIL, detail)]
    if usage.free < DISK_WARN_BYTES or usage.free < usage.total * 0.05:
        return [Check("disk space", Level.WARN, detail)]
    return [Check("disk space", Level.OK, detail)]


def check_outbox_and_clock(path: Path, now: dt.datetime) -> list[Check]:
    from storage.db import open_readonly
    from storage.errors import StorageError

    if not path.is_file():
        return []
    try:
        conn = open_readonly(path, check_schema=False)
        try:
            depth, oldest = conn.execute("SELECT count(*), min(created_at) FROM outbox").fetchone()
            newest = conn.execute("SELECT max(received_at) FROM transactions").fetchone()[0]
            newest_row = conn.execute(
                "SELECT time, received_at FROM transactions WHERE time IS NOT NULL ORDER BY id DESC LIMIT 1"
            ).fetchone()
        finally:
            conn.close()
    except (StorageError, sqlite3.Error) as exc:
        return [Check("outbox", Level.FAIL, str(exc))]
    out = []
    if not depth:
        out.append(Check("outbox", Level.OK, "empty: everything sent"))
    else:
        age = (now - dt.datetime.fromisoformat(oldest)).total_seconds()
        level = Level.FAIL if age > OUTBOX_FAIL_S else Level.WARN if age > OUTBOX_WARN_S else Level.OK
        out.append(Check("outbox", level, f"{depth} messages waiting, oldest {age / 60:.0f} min"))
    clock = []
    if now.year < CLOCK_MIN_YEAR:
        clock.append(Check("clock", Level.FAIL, f"the clock says {now:%Y-%m-%d}: not set"))
    if newest and dt.datetime.fromisoformat(newest) - now > dt.timedelta(seconds=CLOCK_BACKWARDS_S):
        clock.append(
            Check(
                "clock",
                Level.FAIL,
                f"a record was received at {newest}, after now ({now.isoformat(timespec='seconds')}): the clock went back",
            )
        )
    if newest_row is not None:
        record_time = dt.datetime.fromisoformat(newest_row[0])
        received = dt.datetime.fromisoformat(newest_row[1]).astimezone().replace(tzinfo=None)
        skew = (record_time - received).total_seconds()
        if abs(skew) > DISPENSER_CLOCK_WARN_S:
            clock.append(
                Check(
                    "clock",
                    Level.WARN,
                    f"the newest record's dispenser time is {skew:+.0f} s from its reception",
                )
            )
    out += clock or [Check("clock", Level.OK, f"{now.astimezone():%Y-%m-%d %H:%M:%S %Z}")]
    return out


def check_certificates(config: Any, now: dt.datetime) -> list[Check]:
    from cryptography import x509

    from edge.commands.housekeeping import _named_files

    out = []
    for f in _named_files(config.extra.get("uplink"), config.path.parent):
        if f.suffix not in (".pem", ".crt", ".cert") and "cert" not in f.name and "ca" not in f.name:
            continue
        try:
            certs = x509.load_pem_x509_certificates(f.read_bytes())
        except (ValueError, OSError):
            continue
        for cert in certs:
            left = (cert.not_valid_after_utc - now).days
            who = cert.subject.rfc4514_string()
            if left < 0:
                out.append(Check("certificate", Level.FAIL, f"{f.name} ({who}) expired {-left} days ago"))
            elif left < CERT_WARN_DAYS:
                out.append(Check("certificate", Level.WARN, f"{f.name} ({who}) expires in {left} days"))
            else:
                out.append(Check("certificate", Level.OK, f"{f.name} ({who}) valid for {left} days"))
    return out or [Check("certificate", Level.OK, "no certificate configured")]


def check_backups(folder: Path, now: dt.datetime) -> list[Check]:
    from storage.backups import list_backups

    sets = list_backups(folder)
    if not sets:
        return [Check("backup", Level.WARN, f"no backup in {folder}")]
    newest = sets[-1]
    created = dt.datetime.fromisoformat(str(newest.manifest.get("created_at")))
    age_days = (now - created).total_seconds() / 86400
    level = Level.WARN if age_days > BACKUP_WARN_DAYS else Level.OK
    return [Check("backup", level, f"newest {newest.path.name}, {age_days:.1f} days old, {len(sets)} sets")]


def run_checks(config_path: Path, now: dt.datetime | None = None) -> list[Check]:
    now = now or dt.datetime.now(dt.UTC)
    checks, config = check_config(config_path)
    if config is None:
        return checks
    from edge.config import ConfigError
    from edge.housekeeping_config import housekeeping_settings

    steps: list[Callable[[], Iterable[Check]]] = [
        lambda: check_devices(config),
        lambda: check_database(config.storage.database),
        lambda: check_disk(config.storage.database.parent),
        lambda: check_outbox_and_clock(config.storage.database, now),
        lambda: check_certificates(config, now),
    ]
    try:
        settings = housekeeping_settings(config)
        steps.append(lambda: check_backups(settings.backup_dir, now))
    except ConfigError:
        pass
    for step in steps:
        try:
            checks.extend(step())
        except Exception as exc:
            checks.append(Check(getattr(step, "__name__", "check"), Level.FAIL, f"could not check: {exc}"))
    return checks


def worst(checks: Iterable[Check]) -> Level:
    levels = {c.level for c in checks}
    return Level.FAIL if Level.FAIL in levels else Level.WARN if Level.WARN in levels else Level.OK
