"""Clock sanity: notice when the wall clock is stepped, and hold what the step would put out of order.

Layer: edge (a pure core with injected clocks, plus the daemon task `clock_task`). A box without an RTC
boots with a stale time and NTP later steps it by hours or days; an engineer may set it by hand. Every
order-dependent operation (shifts, daily counters, grey-unlock delays, price effective times, a daily
close) would then record a wrong order. The monotonic clock is never stepped, so:

    expected = wall at the last check + monotonic time elapsed since
    |wall - expected| > STEP_THRESHOLD_S            → a step while running
    at start: wall < newest stored instant - STEP_THRESHOLD_S  → a step while stopped (clock behind)

A step puts the clock **in doubt** (`trusted` False) and raises the critical alarm `clock`/`clock_step`.
While in doubt, shifts are refused, grey unlocks that depend on the date or a delay are refused, daily
counters do not change day, and price changes wait. The doubt ends when

- the wall clock comes back to the old timeline (the step is undone, e.g. NTP corrected a bad step);
- the clock was stepped back and the wall time has passed the newest instant known before the step
  (the order is sound again);
- an operator acknowledges the `clock_step` alarm after checking the time (the new time is taken as
  right). Storage refuses out-of-order rows on its own whatever the guard says (a shift cannot close
  before it opened, nor open before the previous one closed).

Slow NTP slewing (well under the threshold per check) is never a step.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edge.errors import EdgeError
from storage.clock import iso_instant, parse_instant, utc_now
from storage.db import Database
from storage.instants import newest_instant_texts

if TYPE_CHECKING:
    from edge.station import Station

log = logging.getLogger(__name__)

STEP_THRESHOLD_S = 60.0
"""A wall-clock change this far beyond the monotonic clock's is a step, not drift or slewing."""
CHECK_INTERVAL_S = 1.0
ALARM_SOURCE = "clock"
ALARM_CODE = "clock_step"


def describe_seconds(seconds: float) -> str:
    """A step for people: `-1 day, 0:00:03` → `−1 d 00:00:03`-like text with a sign."""
    sign = "-" if seconds < 0 else "+"
    rest = dt.timedelta(seconds=round(abs(seconds)))
    days, secs = rest.days, rest.seconds
    hms = f"{secs // 3600:02d}:{secs % 3600 // 60:02d}:{secs % 60:02d}"
    return f"{sign}{days} d {hms}" if days else f"{sign}{hms}"


@dataclass(frozen=True, slots=True)
class ClockStep:
    """A wall-clock step: what the wall clock should have read, and what it read."""

    expected: dt.datetime
    found: dt.datetime
    mono: float
    """The monotonic time it was seen at."""
    at_start: bool = False

    @property
    def seconds(self) -> float:
        return (self.found - self.expected).total_seconds()

    def message(self) -> str:
        where = "while the station was stopped" if self.at_start else "while running"
        return (
            f"The wall clock stepped by {describe_seconds(self.seconds)} {where} (expected "
            f"{iso_instant(self.expected)[:19]}, found {iso_instant(self.found)[:19]} UTC): shifts, "
            "time-dependent grey unlocks, daily counter days and price changes are held. "
            "Check the time, then acknowledge this alarm"
        )

    def details(self) -> dict[str, object]:
        return {
            "step_s": round(self.seconds, 3),
            "expected": iso_instant(self.expected),
            "found": iso_instant(self.found),
            "at_start": self.at_start,
        }


class ClockDoubt(EdgeError):
    """An order-dependent operation refused while the wall clock is in doubt."""

    def __init__(self, what: str, step: ClockStep) -> None:
        super().__init__(
            f"{what} refused: the wall clock stepped by {describe_seconds(step.seconds)} and is not "
            "trusted yet (acknowledge the clock_step alarm once the time is right, or wait until it is "
            "corrected)"
        )
        self.step = step


class ClockGuard:
    """Watches the wall clock against the monotonic clock (see the module docstring)."""

    def __init__(
        self,
        *,
        wall: Callable[[], dt.datetime] = utc_now,
        mono: Callable[[], float] = time.monotonic,
        threshold_s: float = STEP_THRESHOLD_S,
    ) -> None:
        self._wall = wall
        self._mono = mono
        self.threshold = dt.timedelta(seconds=threshold_s)
        now_mono = mono()
        self._base = (self._read_wall(), now_mono)
        self.high_water: dt.datetime = self._base[0]
        """The newest instant known to be in order (stored before, or read while trusted)."""
        self.step: ClockStep | None = None
        """The step that put the clock in doubt; None while trusted."""
        self._timeline: tuple[dt.datetime, float] | None = None
        """(expected wall, monotonic) on the timeline before the step, to see it undone."""

    def _read_wall(self) -> dt.datetime:
        now = self._wall()
        return now if now.tzinfo is not None else now.astimezone()

    @property
    def trusted(self) -> bool:
        return self.step is None

    def require_trusted(self, what: str) -> None:
        """Raise `ClockDoubt` naming `what` when the clock is in doubt."""
        if self.step is not None:
            raise ClockDoubt(what, self.step)

    def start(self, newest_stored: dt.datetime | None) -> ClockStep | None:
        """At start: a wall clock behind the newest stored instant is a step made while stopped."""
        wall, mono = self._read_wall(), self._mono()
        self._base = (wall, mono)
        if newest_stored is None:
            return None
        self.high_water = max(self.high_water, newest_stored)
        if wall < newest_stored - self.threshold:
            self.step = ClockStep(newest_stored, wall, mono, at_start=True)
            self._timeline = (newest_stored, mono)
            return self.step
        return None

    def check(self) -> tuple[ClockStep | None, bool]:
        """Compare the clocks now. Returns (a step just seen or None, whether the doubt just ended)."""
        wall, mono = self._read_wall(), self._mono()
        base_wall, base_mono = self._base
        expected = base_wall + dt.timedelta(seconds=mono - base_mono)
        self._base = (wall, mono)
        if abs(wall - expected) > self.threshold:
            if self.step is not None and self._back_on_timeline(wall, mono):
                return None, self._trust(wall, "the step was undone")
            step = ClockStep(expected, wall, mono)
            if self.step is None:
                self.step, self._timeline = step, (expected, mono)
            else:
                self.step = ClockStep(self.step.expected, wall, mono, self.step.at_start)
            return step, False
        if self.step is None:
            self.high_water = max(self.high_water, wall)
            return None, False
        if self._back_on_timeline(wall, mono):
            return None, self._trust(wall, "the step was undone")
        if self.step.seconds < 0 and wall >= self.high_water:
            return None, self._trust(
                wall, "the wall clock has passed the newest instant known before the step"
            )
        return None, False

    def _back_on_timeline(self, wall: dt.datetime, mono: float) -> bool:
        if self._timeline is None:
            return False
        old_wall, old_mono = self._timeline
        return abs(wall - (old_wall + dt.timedelta(seconds=mono - old_mono))) <= self.threshold

    def _trust(self, wall: dt.datetime, why: str) -> bool:
        log.warning("clock: trusted again (%s)", why)
        self.step, self._timeline = None, None
        self.high_water = max(self.high_water, wall) if why != "confirmed" else wall
        return True

    def confirm(self) -> bool:
        """An operator checked the time: trust the wall clock as it reads now. True if it was in doubt."""
        if self.step is None:
            return False
        wall = self._read_wall()
        self._base = (wall, self._mono())
        return self._trust(wall, "confirmed")


async def newest_stored_instant(db: Database) -> dt.datetime | None:
    """The newest instant the database holds (records, shifts, decisions): the order so far."""
    found: list[dt.datetime] = []
    for where, text in await newest_instant_texts(db):
        try:
            found.append(parse_instant(text))
        except ValueError:
            log.warning("clock: unreadable instant %r (%s)", text, where)
    return max(found) if found else None


async def clock_task(station: Station) -> None:
    """Check the clocks every `CHECK_INTERVAL_S`; raise and clear the `clock_step` alarm; take an
    operator's acknowledgement of it as the confirmation of the time."""
    guard = station.clock
    alarms = station.services.alarms
    if guard.step is not None:
        await _raise(station, guard.step)
    while True:
        await asyncio.sleep(CHECK_INTERVAL_S)
        step, ended = guard.check()
        if step is not None and guard.step is not None:
            await alarms.clear(ALARM_SOURCE, ALARM_CODE)  # a new step needs a new acknowledgement
            await _raise(station, guard.step)
        if guard.step is not None and await _acknowledged(station):
            ended = guard.confirm()
        if ended:
            await alarms.clear(ALARM_SOURCE, ALARM_CODE)


async def _raise(station: Station, step: ClockStep) -> None:
    log.critical("clock: %s", step.message())
    await station.services.alarms.raise_alarm(
        ALARM_SOURCE, ALARM_CODE, "critical", step.message(), step.details()
    )


async def _acknowledged(station: Station) -> bool:
    return await station.alarms.is_acknowledged(ALARM_SOURCE, ALARM_CODE)
