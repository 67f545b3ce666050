"""Per source: what the daemon says while the database cannot store what it must (disk full, I/O error).

Layer: edge (used by `DispenserSession` for records, `DecisionRecorder` for card decisions). A dispenser
re-sends an unacknowledged record at every poll, so a failing journal fails many times a second. This
keeps that quiet and exact:

- the alarm (`journal_failed` for a dispenser) is raised once per source when storing first fails; if
  the alarm itself cannot be stored (the same full disk), it is shown on the bus at once and stored
  when space returns;
- the failure is logged once, then at most once per REPEAT_WINDOW_S with the count of failures since
  (one line each, no traceback);
- the first write that succeeds again clears the alarm and logs the recovery with the total count.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import time
from collections.abc import Callable

from edge.core.alarms import AlarmSink
from edge.events import AlarmRaised, EventBus
from storage.errors import StorageError

log = logging.getLogger(__name__)

ALARM_CODE = "journal_failed"
REPEAT_WINDOW_S = 30.0


class StorageHealth:
    def __init__(
        self,
        source: str,
        alarms: AlarmSink,
        bus: EventBus,
        clock: Callable[[], dt.datetime],
        *,
        code: str = ALARM_CODE,
        severity: str = "critical",
        what: str = "records",
        label: str | None = None,
        mono: Callable[[], float] = time.monotonic,
        window_s: float = REPEAT_WINDOW_S,
    ) -> None:
        self.source = source
        self.code = code
        self.severity = severity
        self.what = what
        self.label = label or source
        """How the log names the source (e.g. "dispenser bus1/2")."""
        self._alarms = alarms
        self._bus = bus
        self._clock = clock
        self._mono = mono
        self._window_s = window_s
        self.failing = False
        self.failures = 0
        """Failures since the journal last stored a record of this dispenser."""
        self.alarm_stored = False
        self._message = ""
        self._since = 0.0
        self._window_start = 0.0
        self._in_window = 0

    async def failed(self, exc: BaseException) -> None:
        """Storing failed (a record: it is not acknowledged, the dispenser keeps it)."""
        now = self._mono()
        self.failures += 1
        if not self.failing:
            self.failing = True
            self._message = f"Cannot store {self.what}: {exc}"
            self._since = self._window_start = now
            self._in_window = 0
            log.error("%s: cannot store %s: %s", self.label, self.what, exc)
            self.alarm_stored = await self._raise(show=True)
            return
        self._in_window += 1
        if now - self._window_start >= self._window_s:
            log.error(
                "%s: still cannot store %s: %s (%d failures in the last %.0f s)",
                self.label,
                self.what,
                exc,
                self._in_window,
                now - self._window_start,
            )
            self._window_start = now
            self._in_window = 0
            if not self.alarm_stored:
                self.alarm_stored = await self._raise(show=False)

    async def stored(self) -> None:
        """A write succeeded: the database works again."""
        if not self.failing:
            return
        if not self.alarm_stored:
            self.alarm_stored = await self._raise(show=False)
        try:
            await self._alarms.clear(self.source, self.code)
        except (StorageError, sqlite3.Error, OSError) as exc:
            log.error("%s: %s stored again, but the alarm cannot be cleared: %s", self.label, self.what, exc)
            return  # tried again at the next write
        log.warning(
            "%s: %s stored again after %d failures in %.0f s; %s cleared",
            self.label,
            self.what,
            self.failures,
            self._mono() - self._since,
            self.code,
        )
        self.failing = False
        self.failures = 0
        self.alarm_stored = False

    async def _raise(self, *, show: bool) -> bool:
        """Store the alarm (it is then published); if it cannot be stored and `show`, publish it anyway."""
        try:
            await self._alarms.raise_alarm(
                self.source, self.code, self.severity, self._message, {"failures": self.failures}
            )
        except (StorageError, sqlite3.Error, OSError):
            if show:
                self._bus.publish(
                    AlarmRaised(self.source, self.code, self.severity, self._message, self._clock())
                )
            return False
        return True
