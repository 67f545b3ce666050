"""Business days, months, years and arbitrary periods in station local time.

Layer: storage (pure). A station's business day does not start at midnight: with a day boundary of
06:00, business day 2026-12-03 is [2026-12-03T06:00:00, 2026-12-04T06:00:00) in station local time, so
a sale at 05:30 on the 4th belongs to the 3rd. Months and years are whole business days: month 2026-12
is [2026-12-01 boundary, 2027-01-01 boundary). Records are placed by their event time (the record's
TIME, else their reception in local time: `transactions.event_time`), which is text of the same form,
so the window compares as text.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import StrEnum

from storage.clock import iso_instant
from storage.errors import StorageError

_BOUNDARY = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")


class PeriodError(StorageError, ValueError):
    """A period or day boundary that cannot be understood; the message says which text and why."""


@dataclass(frozen=True, slots=True)
class DayBoundary:
    """When a business day starts (station local time of day)."""

    hour: int = 0
    minute: int = 0
    second: int = 0

    @classmethod
    def parse(cls, text: str) -> DayBoundary:
        """`HH:MM` or `HH:MM:SS` (00:00 .. 23:59:59)."""
        match = _BOUNDARY.match(text.strip())
        if match is None:
            raise PeriodError(f"day boundary {text!r} is not HH:MM or HH:MM:SS")
        return cls(int(match.group(1)), int(match.group(2)), int(match.group(3) or 0))

    @property
    def offset(self) -> dt.timedelta:
        return dt.timedelta(hours=self.hour, minutes=self.minute, seconds=self.second)

    def text(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d}" + (f":{self.second:02d}" if self.second else "")

    def start_of(self, day: dt.date) -> dt.datetime:
        """The local instant business day `day` starts."""
        return dt.datetime.combine(day, dt.time()) + self.offset

    def day_of(self, local: dt.datetime) -> dt.date:
        """The business day a (naive local) time belongs to."""
        return (local - self.offset).date()


class PeriodKind(StrEnum):
    DAY = "day"
    MONTH = "month"
    YEAR = "year"
    RANGE = "period"
    SHIFT = "shift"


@dataclass(frozen=True, slots=True)
class Period:
    """A window of record event times [start, end), naive station local, and what it is called."""

    kind: PeriodKind
    name: str
    """`2026-12-03`, `2026-12`, `2026`, `2026-12-01T06:00..2026-12-08T06:00`, `shift 12`."""
    start: dt.datetime
    end: dt.datetime
    shift_id: int | None = None
    received: tuple[str, str] | None = None
    """For a shift report: records are those received while the shift was open, [opened, closed) as
    UTC instants (`transactions.received_at`), exactly as the handover report selects them."""

    @property
    def start_text(self) -> str:
        return self.start.isoformat(timespec="seconds")

    @property
    def end_text(self) -> str:
        return self.end.isoformat(timespec="seconds")

    def days(self, boundary: DayBoundary) -> list[dt.date]:
        """The business days the period touches."""
        first, last = boundary.day_of(self.start), boundary.day_of(self.end - dt.timedelta(seconds=1))
        return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def day_period(day: dt.date, boundary: DayBoundary) -> Period:
    start = boundary.start_of(day)
    return Period(PeriodKind.DAY, day.isoformat(), start, boundary.start_of(day + dt.timedelta(days=1)))


def month_period(year: int, month: int, boundary: DayBoundary) -> Period:
    first = dt.date(year, month, 1)
    following = dt.date(year + (month == 12), month % 12 + 1, 1)
    return Period(
        PeriodKind.MONTH, f"{year:04d}-{month:02d}", boundary.start_of(first), boundary.start_of(following)
    )


def year_period(year: int, boundary: DayBoundary) -> Period:
    return Period(
        PeriodKind.YEAR,
        f"{year:04d}",
        boundary.start_of(dt.date(year, 1, 1)),
        boundary.start_of(dt.date(year + 1, 1, 1)),
    )


def range_period(start: dt.datetime, end: dt.datetime) -> Period:
    if end <= start:
        raise PeriodError(f"the period ends ({end}) before it starts ({start})")
    start, end = _local(start), _local(end)
    name = f"{start.isoformat(timespec='seconds')}..{end.isoformat(timespec='seconds')}"
    return Period(PeriodKind.RANGE, name, start, end)


def shift_period(shift_id: int, opened: dt.datetime, closed: dt.datetime) -> Period:
    """A shift's window (aware instants of opening and closing), named in local time."""
    received = (iso_instant(opened), iso_instant(closed))
    return Period(PeriodKind.SHIFT, f"shift {shift_id}", _local(opened), _local(closed), shift_id, received)


def _local(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is not None:
        value = value.astimezone().replace(tzinfo=None)
    return value.replace(microsecond=0)


def parse_day(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise PeriodError(f"{text!r} is not a date YYYY-MM-DD") from None


def parse_month(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d{4})-(\d{2})", text.strip())
    if match is None or not 1 <= int(match.group(2)) <= 12:
        raise PeriodError(f"{text!r} is not a month YYYY-MM")
    return int(match.group(1)), int(match.group(2))


def parse_year(text: str) -> int:
    if not re.fullmatch(r"\d{4}", text.strip()):
        raise PeriodError(f"{text!r} is not a year YYYY")
    return int(text)


def parse_time(text: str) -> dt.datetime:
    """A date (`YYYY-MM-DD`, its midnight) or a date and time, station local unless an offset is given."""
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise PeriodError(f"{text!r} is not an ISO 8601 date or time") from None
