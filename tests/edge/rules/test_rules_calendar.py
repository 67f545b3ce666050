"""Working days and delays (edge.rules.calendar)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.rules.calendar import GreyDelayMode, WorkingCalendar
from edge.rules.errors import BadRulesConfig

D = dt.date
T = dt.datetime

PLAIN = WorkingCalendar()
# Dragon Boat Festival 2023: Thursday 22 and Friday 23 June off (Saturday 24 is a weekend day anyway),
# Sunday 25 June is a shifted working day.
DRAGON_BOAT_2023 = WorkingCalendar(
    holidays=frozenset({D(2023, 6, 22), D(2023, 6, 23), D(2023, 6, 24)}),
    shifted_working_days=frozenset({D(2023, 6, 25)}),
)
# National Day 2024: 1-7 October off; Sunday 29 September and Saturday 12 October are working days.
NATIONAL_DAY_2024 = WorkingCalendar(
    holidays=frozenset(D(2024, 10, day) for day in range(1, 8)),
    shifted_working_days=frozenset({D(2024, 9, 29), D(2024, 10, 12)}),
)


@pytest.mark.parametrize(
    ("calendar", "day", "working"),
    [
        pytest.param(PLAIN, D(2024, 6, 12), True, id="wednesday"),
        pytest.param(PLAIN, D(2024, 6, 15), False, id="saturday"),
        pytest.param(PLAIN, D(2024, 6, 16), False, id="sunday"),
        pytest.param(DRAGON_BOAT_2023, D(2023, 6, 22), False, id="holiday-thursday"),
        pytest.param(DRAGON_BOAT_2023, D(2023, 6, 23), False, id="holiday-friday"),
        pytest.param(DRAGON_BOAT_2023, D(2023, 6, 25), True, id="shifted-sunday"),
        pytest.param(NATIONAL_DAY_2024, D(2024, 10, 12), True, id="shifted-saturday"),
        pytest.param(NATIONAL_DAY_2024, T(2024, 10, 12, 23, 59), True, id="datetime-is-its-date"),
        pytest.param(NATIONAL_DAY_2024, T(2024, 10, 1, 8, 0), False, id="datetime-on-holiday"),
    ],
)
def test_is_working_day(calendar: WorkingCalendar, day: dt.date, working: bool) -> None:
    assert calendar.is_working_day(day) is working


@pytest.mark.parametrize(
    ("calendar", "day", "n", "expected"),
    [
        pytest.param(PLAIN, D(2024, 6, 12), 0, D(2024, 6, 12), id="zero-is-same-day"),
        pytest.param(PLAIN, D(2024, 6, 15), 0, D(2024, 6, 15), id="zero-on-weekend-is-same-day"),
        pytest.param(PLAIN, D(2024, 6, 12), 2, D(2024, 6, 14), id="wed+2=fri"),
        pytest.param(PLAIN, D(2024, 6, 13), 2, D(2024, 6, 17), id="thu+2-across-weekend"),
        pytest.param(PLAIN, D(2024, 6, 14), 2, D(2024, 6, 18), id="fri+2=tue"),
        pytest.param(PLAIN, D(2024, 6, 15), 1, D(2024, 6, 17), id="sat+1=mon"),
        pytest.param(PLAIN, D(2024, 6, 17), -1, D(2024, 6, 14), id="mon-1=fri"),
        pytest.param(DRAGON_BOAT_2023, D(2023, 6, 21), 2, D(2023, 6, 26), id="dragon-wed+2=mon"),
        pytest.param(DRAGON_BOAT_2023, D(2023, 6, 20), 2, D(2023, 6, 25), id="dragon-tue+2=shifted-sun"),
        pytest.param(DRAGON_BOAT_2023, D(2023, 6, 21), 1, D(2023, 6, 25), id="dragon-wed+1=shifted-sun"),
        pytest.param(NATIONAL_DAY_2024, D(2024, 9, 27), 2, D(2024, 9, 30), id="natday-fri+2=mon"),
        pytest.param(NATIONAL_DAY_2024, D(2024, 9, 30), 2, D(2024, 10, 9), id="natday-across-week"),
        pytest.param(NATIONAL_DAY_2024, D(2024, 10, 10), 2, D(2024, 10, 12), id="natday-shifted-sat"),
    ],
)
def test_add_working_days(calendar: WorkingCalendar, day: dt.date, n: int, expected: dt.date) -> None:
    assert calendar.add_working_days(day, n) == expected


@pytest.mark.parametrize(
    ("calendar", "locked_at", "mode", "opens"),
    [
        pytest.param(PLAIN, T(2024, 6, 10, 0, 1), GreyDelayMode.WORKING_DAYS, T(2024, 6, 12), id="mon-early"),
        pytest.param(
            PLAIN, T(2024, 6, 10, 23, 59), GreyDelayMode.WORKING_DAYS, T(2024, 6, 12), id="mon-late"
        ),
        pytest.param(
            PLAIN, T(2024, 6, 14, 15, 0), GreyDelayMode.WORKING_DAYS, T(2024, 6, 18), id="fri-to-tue"
        ),
        pytest.param(
            PLAIN, T(2024, 6, 15, 9, 0), GreyDelayMode.WORKING_DAYS, T(2024, 6, 18), id="sat-to-tue"
        ),
        pytest.param(
            DRAGON_BOAT_2023, T(2023, 6, 21, 14, 0), GreyDelayMode.WORKING_DAYS, T(2023, 6, 26), id="dragon"
        ),
        pytest.param(
            DRAGON_BOAT_2023,
            T(2023, 6, 20, 14, 0),
            GreyDelayMode.WORKING_DAYS,
            T(2023, 6, 25),
            id="dragon-opens-on-shifted-sunday",
        ),
        pytest.param(PLAIN, T(2024, 6, 14, 15, 0), GreyDelayMode.HOURS, T(2024, 6, 16, 15, 0), id="48h-fri"),
        pytest.param(
            DRAGON_BOAT_2023,
            T(2023, 6, 21, 14, 0),
            GreyDelayMode.HOURS,
            T(2023, 6, 23, 14, 0),
            id="48h-ignores-holidays",
        ),
    ],
)
def test_delay_end(
    calendar: WorkingCalendar, locked_at: dt.datetime, mode: GreyDelayMode, opens: dt.datetime
) -> None:
    assert calendar.delay_end(locked_at, mode, hours=48, working_days=2) == opens


def test_zero_working_days_ends_at_once() -> None:
    start = T(2024, 6, 15, 9, 30)
    assert PLAIN.delay_end(start, GreyDelayMode.WORKING_DAYS, hours=48, working_days=0) == start


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        pytest.param({"weekend": frozenset(range(7))}, "weekend", id="no-working-weekday"),
        pytest.param({"weekend": frozenset({7})}, "weekend", id="not-a-weekday"),
        pytest.param(
            {"holidays": frozenset({D(2024, 1, 1)}), "shifted_working_days": frozenset({D(2024, 1, 1)})},
            "holidays/shifted_working_days",
            id="both-holiday-and-working",
        ),
    ],
)
def test_bad_calendars_are_refused(kwargs: dict[str, frozenset[object]], field: str) -> None:
    with pytest.raises(BadRulesConfig) as info:
        WorkingCalendar(**kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


@pytest.mark.parametrize(
    ("call", "field"),
    [
        pytest.param(lambda: PLAIN.working_days_end(T(2024, 1, 1), -1), "working days", id="negative-days"),
        pytest.param(
            lambda: PLAIN.delay_end(T(2024, 1, 1), GreyDelayMode.HOURS, hours=-1, working_days=2),
            "hours",
            id="negative-hours",
        ),
    ],
)
def test_negative_delays_are_refused(call: Callable[[], object], field: str) -> None:
    with pytest.raises(BadRulesConfig) as info:
        call()
    assert info.value.field == field


# -- properties -------------------------------------------------------------------------------------------

days = st.dates(min_value=D(2000, 1, 1), max_value=D(2099, 12, 31))
calendars = st.builds(
    lambda holidays, shifted: WorkingCalendar(holidays=holidays - shifted, shifted_working_days=shifted),
    st.frozensets(st.dates(min_value=D(2023, 12, 1), max_value=D(2024, 2, 29)), max_size=40),
    st.frozensets(st.dates(min_value=D(2023, 12, 1), max_value=D(2024, 2, 29)), max_size=10),
)
near_days = st.dates(min_value=D(2023, 11, 20), max_value=D(2024, 3, 10))


@given(calendars, near_days, st.integers(0, 20), st.integers(0, 20))
def test_adding_working_days_is_monotonic_in_n(
    calendar: WorkingCalendar, day: dt.date, a: int, b: int
) -> None:
    lo, hi = sorted((a, b))
    assert calendar.add_working_days(day, lo) <= calendar.add_working_days(day, hi)
    if lo < hi:
        assert calendar.add_working_days(day, lo) < calendar.add_working_days(day, hi)


@given(calendars, near_days, near_days, st.integers(0, 20))
def test_adding_working_days_is_monotonic_in_day(
    calendar: WorkingCalendar, a: dt.date, b: dt.date, n: int
) -> None:
    lo, hi = sorted((a, b))
    assert calendar.add_working_days(lo, n) <= calendar.add_working_days(hi, n)


@given(calendars, near_days, st.integers(1, 20))
def test_result_is_the_nth_working_day_after(calendar: WorkingCalendar, day: dt.date, n: int) -> None:
    end = calendar.add_working_days(day, n)
    assert calendar.is_working_day(end)
    between = [day + dt.timedelta(days=i) for i in range(1, (end - day).days + 1)]
    assert sum(calendar.is_working_day(d) for d in between) == n


@given(calendars, near_days, st.integers(1, 20))
def test_going_back_undoes_going_forward_from_a_working_day(
    calendar: WorkingCalendar, day: dt.date, n: int
) -> None:
    start = calendar.add_working_days(day, 1)
    assert calendar.add_working_days(calendar.add_working_days(start, n), -n) == start


@given(days, st.integers(0, 23), st.integers(1, 5))
def test_working_day_delay_ends_at_midnight_after_the_start(day: dt.date, hour: int, n: int) -> None:
    start = T(day.year, day.month, day.day, hour)
    end = PLAIN.delay_end(start, GreyDelayMode.WORKING_DAYS, hours=48, working_days=n)
    assert end.time() == dt.time() and end.date() > start.date()
    assert PLAIN.is_working_day(end)
