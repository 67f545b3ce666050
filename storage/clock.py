"""How storage writes and reads times.

Layer: storage. Two kinds of time live in the database, both as ISO 8601 text:

- instants the box observed (received_at, read_at, created_at, raised_at …): UTC with an explicit
  offset and microseconds, `2024-05-01T08:30:00.000000+00:00`, so that text order is time order;
- times the dispenser wrote into a record (TIME): naive station local time to the second,
  `2024-05-01T16:30:00`, exactly as the dispenser meant them.

A naive datetime handed to storage as an instant is taken as the box's local time (Python's
`astimezone()` rule). Every class that stamps rows takes a `clock` so tests can inject time.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

Clock = Callable[[], dt.datetime]


def utc_now() -> dt.datetime:
    """The default clock: now, timezone-aware, UTC."""
    return dt.datetime.now(dt.UTC)


def iso_instant(value: dt.datetime) -> str:
    """An instant as UTC ISO 8601 text with microseconds (fixed width, so text order is time order)."""
    return value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def parse_instant(text: str) -> dt.datetime:
    """The inverse of `iso_instant` (an aware UTC datetime)."""
    return dt.datetime.fromisoformat(text)


def iso_local(value: dt.datetime) -> str:
    """A time as naive station-local ISO 8601 text to the second (aware values are converted first)."""
    if value.tzinfo is not None:
        value = value.astimezone().replace(tzinfo=None)
    return value.isoformat(timespec="seconds")
