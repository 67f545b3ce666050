"""Clock sanity (edge.clock_guard) with injected wall and monotonic clocks, and what the card rules hold
while the clock is in doubt: grey unlocks that depend on a date or a delay, daily counter days."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from edge.clock_guard import ClockDoubt, ClockGuard, describe_seconds
from edge.counters import CounterBook
from edge.rules.calendar import WorkingCalendar
from edge.rules.config import RulesConfig
from edge.rules.grey import GreyLock, UnlockRule, may_unlock
from edge.rules.place import Place
from protocol.reasons import RefusalReason
from protocol.record import RECORD_STRUCT, sample_record
from storage.counters import CounterStore
from storage.db import Database
from storage.journal import Journal

T0 = dt.datetime(2026, 11, 21, 6, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
CARD = "10000101000000012345"


class Clocks:
    def __init__(self) -> None:
        self.now, self.mono = T0, 50.0

    def wall(self) -> dt.datetime:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def run(self, seconds: float, drift_s: float = 0.0) -> None:
        self.now += dt.timedelta(seconds=seconds + drift_s)
        self.mono += seconds


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
def guard(clocks: Clocks) -> ClockGuard:
    return ClockGuard(wall=clocks.wall, mono=clocks.monotonic)


def test_slewing_and_small_corrections_are_not_steps(clocks: Clocks, guard: ClockGuard) -> None:
    for _ in range(100):
        clocks.run(1.0, drift_s=0.0005)  # NTP slewing
        assert guard.check() == (None, False)
    clocks.now += dt.timedelta(seconds=30)  # a small step, below the threshold
    assert guard.check() == (None, False)
    assert guard.trusted


@pytest.mark.parametrize("delta", [-DAY, DAY])
def test_a_step_puts_the_clock_in_doubt_until_it_is_undone(
    clocks: Clocks, guard: ClockGuard, delta: dt.timedelta
) -> None:
    clocks.run(10)
    clocks.now += delta
    step, ended = guard.check()
    assert step is not None and not ended and not guard.trusted
    assert step.seconds == pytest.approx(delta.total_seconds())
    with pytest.raises(ClockDoubt, match=r"stepped by [-+]1 d 00:00:00"):
        guard.require_trusted("closing a shift")
    clocks.run(5)
    assert guard.check() == (None, False)  # still in doubt, no new step
    clocks.now -= delta
    assert guard.check() == (None, True)
    assert guard.trusted


def test_a_forward_step_stays_in_doubt_until_confirmed(clocks: Clocks, guard: ClockGuard) -> None:
    clocks.now += DAY
    guard.check()
    for _ in range(5):
        clocks.run(60)
        assert guard.check() == (None, False) and not guard.trusted
    assert guard.confirm() and guard.trusted
    clocks.run(60)
    assert guard.check() == (None, False) and guard.trusted


def test_a_back_step_ends_once_the_clock_passes_the_newest_known_instant(clocks: Clocks) -> None:
    guard = ClockGuard(wall=clocks.wall, mono=clocks.monotonic)
    clocks.run(3600)
    guard.check()
    clocks.now -= dt.timedelta(minutes=10)
    assert guard.check()[0] is not None
    clocks.run(300)
    assert guard.check() == (None, False)
    clocks.run(301)
    assert guard.check() == (None, True)


def test_a_clock_behind_the_stored_order_at_start_is_a_step(clocks: Clocks) -> None:
    guard = ClockGuard(wall=clocks.wall, mono=clocks.monotonic)
    step = guard.start(T0 + DAY)  # records stamped a day later than the clock reads now
    assert step is not None and step.at_start and step.seconds == pytest.approx(-86400)
    assert not guard.trusted and "while the station was stopped" in step.message()
    assert ClockGuard(wall=clocks.wall, mono=clocks.monotonic).start(T0 - DAY) is None  # box was off a day


def test_describe_seconds() -> None:
    assert describe_seconds(-86400) == "-1 d 00:00:00"
    assert describe_seconds(3723.4) == "+01:02:03"


# --- what the rules hold while the clock is in doubt -------------------------------------------------

LOCKED_AT = dt.datetime(2024, 6, 14, 15, 0)
LOCK_PLACE = Place("00000001", 1, 0x11)


@pytest.mark.parametrize(
    ("here", "now"),
    [
        (Place("00000001", 2, 0x11), LOCKED_AT + dt.timedelta(hours=1)),  # same day, another pump
        (Place("00000002", 1, 0x11), LOCKED_AT + dt.timedelta(days=10)),  # after the delay
    ],
)
def test_grey_unlocks_that_depend_on_time_wait_for_a_trusted_clock(here: Place, now: dt.datetime) -> None:
    grey = GreyLock(asn="10000101100000000001", locked_at=LOCKED_AT, where=LOCK_PLACE, amount_owed=100)
    cal, cfg = WorkingCalendar(), RulesConfig()
    assert may_unlock(grey, here, now, cal, cfg).allowed
    held = may_unlock(grey, here, now, cal, cfg, clock_trusted=False)
    assert not held.allowed and held.reason is RefusalReason.GREY_WAIT_DELAY
    same = may_unlock(grey, LOCK_PLACE, now, cal, cfg, clock_trusted=False)
    assert same.allowed and same.rule is UnlockRule.SAME_DISPENSER


async def test_daily_counters_keep_their_day_while_the_clock_is_in_doubt(tmp_path: Path) -> None:
    today = dt.datetime(2026, 11, 21, 9, 0)
    trusted = [True]
    async with await Database.open(tmp_path / "station.db") as db:
        journal = Journal(db)
        book = CounterBook(CounterStore(db), lambda: today, clock_trusted=lambda: trusted[0])
        await book.load()

        async def sale(pos_ttc: int, time: dt.datetime) -> None:
            record = sample_record(pos_ttc=pos_ttc, time=time, asn=CARD, amn=1_000, vol=100)
            raw = RECORD_STRUCT.build(record.to_dict())
            result = await journal.store_record("bus1", 1, record, raw, received_at=T0)
            await book.on_record("bus1", 1, record, result)

        await sale(1, today)
        trusted[0] = False
        await sale(2, today - DAY)  # dispensers took the stepped time from the 0x30 reply
        await sale(3, today + DAY)
        assert book.counters.day == today.date()  # no new day started by a stepped clock
        for asked in (today.date() - DAY, today.date(), today.date() + DAY):
            assert book.usage(CARD, asked).fills == 3  # a stepped "today" resets no limit
        rows = await db.fetchall("SELECT day, fills FROM card_counters")
        assert [(r[0], r[1]) for r in rows] == [(today.date().isoformat(), 3)]
