"""The ledger: one JSON object per line, appended and flushed as things happen.

Layer: firmware-sim (file I/O). The ground truth of end-to-end tests. Every line has `event` and `at`
(ISO 8601, local time with offset); events and their fields are listed in `docs/simulator.md`:

    start, stop, record, ack, card, list_query, grey_query, download, fault, power_cycle,
    action, action_error, error_info
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import IO, Any

from station_sim.errors import StateError


class Ledger:
    """Appends events to a file (or nowhere when no path is given)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._fh: IO[str] | None = None
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the run
            except OSError as exc:
                raise StateError(str(path), f"cannot open the ledger: {exc.strerror or exc}") from exc
        self.counts: dict[str, int] = {}

    def write(self, event: dict[str, Any]) -> None:
        """Log one event; `at` is added (now) unless present."""
        name = str(event.get("event", "?"))
        self.counts[name] = self.counts.get(name, 0) + 1
        if self._fh is None:
            return
        line = {"event": name, "at": dt.datetime.now().astimezone().isoformat(timespec="milliseconds")}
        line.update({k: v for k, v in event.items() if k != "event"})
        self._fh.write(json.dumps(line, ensure_ascii=False, default=str) + "\n")
        self._fh.flush()

    def event(self, name: str, **fields: Any) -> None:
        self.write({"event": name, **fields})

    def close(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None
