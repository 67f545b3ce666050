"""The working-day calendar and the "N working days after" delays built on it.

Layer: edge (pure rules core). The centre distributes the calendar (spec §2.5): Chinese public holidays
move working days around (调休), so a Saturday or Sunday can be a working day and a weekday a holiday. A
day is a working day when it is an explicit shifted working day, else not when it is an explicit holiday,
else when its weekday is not in `weekend` (Saturday and Sunday by default).

Delays (grey-card unlock in another station, lost card taking effect) are measured in one of two modes:

- `GreyDelayMode.WORKING_DAYS` [project choice]: a delay of N working days started at moment T ends at
  00:00 of the N-th working day strictly after T's calendar date. The locking day itself never counts,
  whatever the hour and whether or not it is a working day. Example: locked on Friday at 15:00 with a
  normal weekend, N = 2: Monday is the 1st working day after, Tuesday the 2nd, so the card is unlockable
  from Tuesday 00:00. N = 0 means "at once" (the delay ends at T).
- `GreyDelayMode.HOURS`: the delay ends at T + the configured hours (48 by default), calendar ignored.

All times are naive station-local datetimes (the dispensers' TIME7 is naive local time).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from edge.rules.errors import BadRulesConfig

__all__ = ["DEFAULT_WEEKEND", "GreyDelayMode", "WorkingCalendar"]

SATURDAY: Final = 5
SUNDAY: Final = 6
DEFAULT_WEEKEND: Final = frozenset({SATURDAY, SUNDAY})
_ONE_DAY: Final = dt.timedelta(days=1)


class GreyDelayMode(StrEnum):
    """How a delay such as the province-wide grey unlock is counted."""

    WORKING_DAYS = "working_days"
    HOURS = "hours"


@dataclass(frozen=True, slots=True)
class WorkingCalendar:
    """Which dates are working days.

    `weekend` holds `date.weekday()` numbers (Monday 0 .. Sunday 6); it may not hold all seven, so every
    search for a working day ends.
    """

    holidays: frozenset[dt.date] = frozenset()
    """Dates that are not working days although their weekday is (e.g. National Day, 1-7 October)."""
    shifted_working_days: frozenset[dt.date] = frozenset()
    """Weekend dates that are working days (调休), e.g. a Sunday before a holiday week."""
    weekend: frozenset[int] = DEFAULT_WEEKEND
    """Weekdays that are normally not working days."""

    def __post_init__(self) -> None:
        if not self.weekend < frozenset(range(7)):
            raise BadRulesConfig("weekend", sorted(self.weekend))
        clash = self.holidays & self.shifted_working_days
        if clash:
            raise BadRulesConfig("holidays/shifted_working_days", sorted(clash))

    def is_working_day(self, day: dt.date) -> bool:
        """True when `day` (a date, or the date of a datetime) is a working day."""
        day = _as_date(day)
        if day in self.shifted_working_days:
            return True
        if day in self.holidays:
            return False
        return day.weekday() not in self.weekend

    def add_working_days(self, day: dt.date, n: int) -> dt.date:
        """The n-th working day strictly after `day` (n > 0) or strictly before it (n < 0).

        `n == 0` returns `day` itself, working day or not.
        """
        day = _as_date(day)
        step = _ONE_DAY if n > 0 else -_ONE_DAY
        remaining = abs(n)
        while remaining:
            day += step
            if self.is_working_day(day):
                remaining -= 1
        return day

    def working_days_end(self, start: dt.datetime, n: int) -> dt.datetime:
        """00:00 of the n-th working day strictly after `start`'s date; `start` itself when n == 0."""
        if n < 0:
            raise BadRulesConfig("working days", n)
        if n == 0:
            return start
        return dt.datetime.combine(self.add_working_days(start.date(), n), dt.time())

    def delay_end(
        self, start: dt.datetime, mode: GreyDelayMode, *, hours: int, working_days: int
    ) -> dt.datetime:
        """The first moment at which a delay started at `start` is over (see the module docstring)."""
        if mode is GreyDelayMode.HOURS:
            if hours < 0:
                raise BadRulesConfig("hours", hours)
            return start + dt.timedelta(hours=hours)
        return self.working_days_end(start, working_days)


def _as_date(day: dt.date) -> dt.date:
    # A datetime is a date subclass but never equals a date: normalise before set look-ups.
    return day.date() if isinstance(day, dt.datetime) else day
