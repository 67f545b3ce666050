"""The `[reports]` and `[housekeeping]` tables of the station configuration → `HousekeepingSettings`.

Layer: edge (pure core). `edge.config` passes both tables through verbatim; this module defines their keys
and reports every problem at once with file and key, raising `edge.config.ConfigError`. Every key is
optional. Relative folders and files are beside the database. Reference: docs/configuration.md.

    [reports]
    day_boundary = "06:00"          a business day starts at this station-local time (HH:MM[:SS])

    [housekeeping]
    backup_dir = "backups"          where `station backup` and the daemon put backup sets
    backup_keep = 7                 backup sets kept (older ones are removed after a good backup)
    backup_at = "03:30"             daily backup by the daemon at this local time ("" = none)
    archive_database = "archive.db" the archive database (closed days moved out of the live journal)
    archive_at = ""                 daily archive by the daemon at this local time ("" = none)
    archive_after_days = 90         the daemon archives closed days older than this
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from edge.config import Config, ConfigError
from storage.reports.periods import DayBoundary, PeriodError

DEFAULT_BACKUP_DIR: Final = "backups"
DEFAULT_ARCHIVE: Final = "archive.db"
DEFAULT_BACKUP_KEEP: Final = 7
DEFAULT_ARCHIVE_AFTER_DAYS: Final = 90

_REPORT_KEYS: Final = frozenset({"day_boundary"})
_HOUSE_KEYS: Final = frozenset(
    {"backup_dir", "backup_keep", "backup_at", "archive_database", "archive_at", "archive_after_days"}
)


@dataclass(frozen=True, slots=True)
class HousekeepingSettings:
    day_boundary: DayBoundary = field(default_factory=DayBoundary)
    """When a business day starts (station local time)."""
    backup_dir: Path = Path(DEFAULT_BACKUP_DIR)
    """Folder of backup sets."""
    backup_keep: int = DEFAULT_BACKUP_KEEP
    """Backup sets kept by rotation (at least 1)."""
    backup_at: DayBoundary | None = None
    """Daily scheduled backup time, None = no scheduled backup."""
    archive_database: Path = Path(DEFAULT_ARCHIVE)
    """The archive database file."""
    archive_at: DayBoundary | None = None
    """Daily scheduled archive time, None = no scheduled archive."""
    archive_after_days: int = DEFAULT_ARCHIVE_AFTER_DAYS
    """The scheduled archive moves closed days older than this many days."""


def parse_housekeeping(
    reports: Any, house: Any, source: str = "station.toml", base: Path | None = None
) -> HousekeepingSettings:
    problems: list[str] = []
    base = base or Path(".")

    def table(doc: Any, name: str, keys: frozenset[str]) -> Mapping[str, Any]:
        if doc is None:
            return {}
        if not isinstance(doc, Mapping):
            problems.append(f"{source}: {name}: must be a table ([{name}])")
            return {}
        for key in sorted(set(doc) - keys):
            problems.append(f"{source}: {name}.{key}: unknown key")
        return doc

    def time_of_day(doc: Mapping[str, Any], name: str, key: str, allow_empty: bool) -> DayBoundary | None:
        if key not in doc:
            return None
        value = doc[key]
        if allow_empty and value == "":
            return None
        if not isinstance(value, str):
            problems.append(f'{source}: {name}.{key}: must be a time of day "HH:MM", got {value!r}')
            return None
        try:
            return DayBoundary.parse(value)
        except PeriodError as exc:
            problems.append(f"{source}: {name}.{key}: {exc}")
            return None

    def path(doc: Mapping[str, Any], name: str, key: str, default: str) -> Path:
        value = doc.get(key, default)
        if not isinstance(value, str) or not value:
            problems.append(f"{source}: {name}.{key}: must be a file or folder name, got {value!r}")
            value = default
        p = Path(value)
        return p if p.is_absolute() else (base / p)

    def count(doc: Mapping[str, Any], name: str, key: str, default: int, lo: int, hi: int) -> int:
        value = doc.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            problems.append(f"{source}: {name}.{key}: must be a whole number {lo}..{hi}, got {value!r}")
            return default
        return value

    rp = table(reports, "reports", _REPORT_KEYS)
    hk = table(house, "housekeeping", _HOUSE_KEYS)
    boundary = time_of_day(rp, "reports", "day_boundary", False) or DayBoundary()
    settings = HousekeepingSettings(
        day_boundary=boundary,
        backup_dir=path(hk, "housekeeping", "backup_dir", DEFAULT_BACKUP_DIR),
        backup_keep=count(hk, "housekeeping", "backup_keep", DEFAULT_BACKUP_KEEP, 1, 1000),
        backup_at=time_of_day(hk, "housekeeping", "backup_at", True),
        archive_database=path(hk, "housekeeping", "archive_database", DEFAULT_ARCHIVE),
        archive_at=time_of_day(hk, "housekeeping", "archive_at", True),
        archive_after_days=count(
            hk, "housekeeping", "archive_after_days", DEFAULT_ARCHIVE_AFTER_DAYS, 1, 36600
        ),
    )
    if problems:
        raise ConfigError(problems)
    return settings


def housekeeping_settings(config: Config) -> HousekeepingSettings:
    """The settings of a loaded configuration (`ConfigError` when invalid); paths beside the database."""
    return parse_housekeeping(
        config.extra.get("reports"),
        config.extra.get("housekeeping"),
        config.path.name,
        config.storage.database.parent,
    )
