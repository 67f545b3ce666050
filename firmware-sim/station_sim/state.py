"""The per-dispenser state file: what a simulator restart or a power cycle must not lose.

Layer: firmware-sim (file I/O only). One JSON file per dispenser, `<line>-<POS_P>.json` in the state
directory (see `Dispenser.snapshot`: next POS_TTC, pending (unacknowledged) and stored records as hex,
nozzle totals and on-duty employees, versions of downloaded files), plus one binary file per
downloaded CONTENT, `<line>-<POS_P>.content<N>.bin`. Every write is atomic: a temporary file in the same
directory, fsync, rename, so a crash leaves either the old or the new state, never a torn one.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

from station_sim.device import Dispenser
from station_sim.errors import StateError

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise StateError(str(path), f"cannot write: {exc.strerror or exc}") from exc


class StateStore:
    """Reads and writes the state files of the dispensers in one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._written_files: dict[tuple[str, int, int], int] = {}
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(str(directory), f"cannot create: {exc.strerror or exc}") from exc

    def stem(self, line: str, pos_p: int) -> str:
        return f"{_UNSAFE.sub('_', line)}-{pos_p}"

    def path(self, line: str, pos_p: int) -> Path:
        return self.directory / f"{self.stem(line, pos_p)}.json"

    def file_path(self, line: str, pos_p: int, content: int) -> Path:
        return self.directory / f"{self.stem(line, pos_p)}.content{content}.bin"

    def save(self, dev: Dispenser) -> None:
        """Write the dispenser's state (and any downloaded file not written yet)."""
        for content, version in dev.files.held.items():
            key = (dev.line, dev.pos_p, content)
            if self._written_files.get(key) != version:
                atomic_write(self.file_path(dev.line, dev.pos_p, content), dev.files.raw.get(content, b""))
                self._written_files[key] = version
        data = json.dumps(dev.snapshot(), separators=(",", ":")).encode()
        atomic_write(self.path(dev.line, dev.pos_p), data)

    def load(self, dev: Dispenser) -> bool:
        """Restore `dev` from its state file; False when there is none (a fresh dispenser)."""
        path = self.path(dev.line, dev.pos_p)
        try:
            snap: dict[str, Any] = json.loads(path.read_bytes())
        except FileNotFoundError:
            return False
        except (OSError, ValueError) as exc:
            raise StateError(str(path), f"cannot read: {exc}") from exc
        files: dict[int, bytes] = {}
        for key, version in snap.get("files", {}).items():
            content = int(key)
            fpath = self.file_path(dev.line, dev.pos_p, content)
            try:
                files[content] = fpath.read_bytes()
                self._written_files[(dev.line, dev.pos_p, content)] = int(version)
            except OSError as exc:
                log.warning("%s: cannot read, download will be repeated: %s", fpath, exc)
        if snap.get("files"):
            snap = {**snap, "files": {k: v for k, v in snap["files"].items() if int(k) in files}}
        try:
            dev.restore(snap, files)
        except (KeyError, TypeError, ValueError) as exc:
            raise StateError(str(path), f"damaged state: {exc}") from exc
        return True
