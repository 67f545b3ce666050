"""Helpers shared by the storage tests and the crash-test child process (no pytest imports)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from support import records

from protocol.record import TransactionRecord, sample_record

TEMPLATE = sample_record()

RECEIVED = dt.datetime(2024, 5, 1, 0, 31, 0, tzinfo=dt.UTC)

MakeRecord = Callable[..., tuple[TransactionRecord, bytes]]


def make_record(pos_ttc: int, **changes: object) -> tuple[TransactionRecord, bytes]:
    """A record with this POS_TTC (and any field changed) and its 95 wire bytes."""
    return records.make_record(pos_ttc, template=TEMPLATE, **changes)


class FakeClock:
    """An injected clock: returns `now`, which tests move explicitly."""

    def __init__(self, now: dt.datetime = RECEIVED) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now
