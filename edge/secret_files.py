"""Refuse to start with a password or private key that other users can read.

Layer: edge (pure core over `os.stat`). The secrets a station holds on disk are the files named by
`[uplink] password_file` and `[uplink] key_file` (paths relative to the configuration file). Each
must be readable by its owner (and at most its group): mode 0600 or 0640. A file that every user of
the box can read (or write) makes the configuration invalid, so `station run` refuses to start and
`station run --check` reports it.
"""

from __future__ import annotations

import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edge.config import Config

SECRET_KEYS = ("password_file", "key_file")
OTHERS_MASK = stat.S_IROTH | stat.S_IWOTH


def secret_paths(config: Config) -> dict[str, Path]:
    """`uplink.password_file` and `uplink.key_file` as absolute paths (those that are set)."""
    table: Any = config.extra.get("uplink")
    if not isinstance(table, Mapping):
        return {}
    base = config.path.parent
    found: dict[str, Path] = {}
    for key in SECRET_KEYS:
        text = table.get(key)
        if isinstance(text, str) and text:
            path = Path(text)
            found[f"uplink.{key}"] = path if path.is_absolute() else base / path
    return found


def exposed_secret_problems(config: Config) -> list[str]:
    """One problem per secret file that other users can read or write."""
    problems = []
    for key, path in secret_paths(config).items():
        try:
            mode = path.stat().st_mode
        except OSError:
            continue  # a missing file is the component's own problem to report
        if mode & OTHERS_MASK:
            problems.append(
                f"{config.path.name}: {key}: {path} is readable by every user (mode {stat.S_IMODE(mode):04o});"
                f" run: chmod 600 {path}"
            )
    return problems
