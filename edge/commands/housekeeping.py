"""What `station backup`, `restore`, `archive` and `doctor` share: the paths a configuration names.

Layer: edge (CLI shell). Everything comes from `--config`: the database, the archive database and the
backup folder (`[housekeeping]`), the lists folder, and the files to keep with a backup (the
configuration itself and every key or certificate file its `[uplink]` table names).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edge.config import Config, ConfigError, load_config
from edge.housekeeping_config import HousekeepingSettings, housekeeping_settings

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
FILE_KEYS = ("ca_file", "cert_file", "key_file", "password_file")


@dataclass(frozen=True, slots=True)
class Paths:
    config: Config
    settings: HousekeepingSettings

    @property
    def database(self) -> Path:
        return self.config.storage.database

    @property
    def archive(self) -> Path:
        return self.settings.archive_database

    @property
    def backups(self) -> Path:
        return self.settings.backup_dir

    @property
    def lists(self) -> Path:
        return self.config.storage.lists_dir

    def config_files(self) -> list[Path]:
        """The configuration file and the key / certificate files it names."""
        files = [self.config.path]
        files += sorted(set(_named_files(self.config.extra.get("uplink"), self.config.path.parent)))
        return files


def _named_files(table: Any, base: Path) -> Iterator[Path]:
    if not isinstance(table, Mapping):
        return
    for key, value in table.items():
        if isinstance(value, Mapping):
            yield from _named_files(value, base)
        elif key in FILE_KEYS and isinstance(value, str) and value:
            p = Path(value) if Path(value).is_absolute() else (base / value).resolve()
            if p.is_file():
                yield p


def paths_of(config_path: Path) -> Paths:
    """Raises `ConfigError`."""
    config = load_config(config_path)
    return Paths(config, housekeeping_settings(config))


def fail(command: str, message: str, status: int = EXIT_USAGE) -> int:
    print(f"station {command}: error: {message}", file=sys.stderr)
    return status


__all__ = ["ConfigError", "Paths", "fail", "paths_of"]
