"""Daily counters: updates, the day boundary and the dict round trip (edge.rules.counters)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.rules.counters import ZERO_USAGE, DailyCounters, DayUsage, add_sale
from edge.rules.errors import BadCardNumber, BadClock, BadCounters

T = dt.datetime
D = dt.date
CARD = "10000101100000000001"
OTHER = "10000101100000000002"
DAY = D(2024, 6, 12)


def test_sales_add_up_per_card() -> None:
    counters = DailyCounters(DAY)
    counters = counters.with_sale(CARD, T(2024, 6, 12, 8), 5_000, 2_000)
    counters = counters.with_sale(CARD, T(2024, 6, 12, 9), 3_000, 1_000)
    counters = counters.with_sale(OTHER, T(2024, 6, 12, 9), 100, 50)
    assert counters.usage(CARD, DAY) == DayUsage(2, 8_000, 3_000)
    assert counters.usage(OTHER, DAY) == DayUsage(1, 100, 50)


@pytest.mark.parametrize(
    ("sale_time", "ask_day", "expected"),
    [
        pytest.param(T(2024, 6, 12, 23, 59, 59), DAY, DayUsage(2, 2_000, 200), id="last-second-counts-today"),
        pytest.param(T(2024, 6, 13, 0, 0), D(2024, 6, 13), DayUsage(1, 1_000, 100),
                     id="midnight-starts-new-day"),
        pytest.param(T(2024, 6, 13, 0, 0), DAY, ZERO_USAGE, id="after-rollover-old-day-is-gone"),
        pytest.param(T(2024, 6, 11, 23, 50), DAY, DayUsage(1, 1_000, 100),
                     id="late-record-from-yesterday-ignored"),
        pytest.param(T(2024, 6, 12, 12), D(2024, 6, 13), ZERO_USAGE, id="asking-tomorrow-is-zero"),
    ],
)  # fmt: skip
def test_day_boundary(sale_time: dt.datetime, ask_day: dt.date, expected: DayUsage) -> None:
    counters = DailyCounters(DAY).with_sale(CARD, T(2024, 6, 12, 10), 1_000, 100)
    assert counters.with_sale(CARD, sale_time, 1_000, 100).usage(CARD, ask_day) == expected


def test_empty_sale_is_no_fill() -> None:
    counters = DailyCounters(DAY).with_sale(CARD, T(2024, 6, 12, 10), 0, 0)
    assert counters.usage(CARD, DAY) == ZERO_USAGE
    assert add_sale(DayUsage(1, 2, 3), 0, 0) == DayUsage(1, 2, 3)


def test_for_day_keeps_today_and_clears_on_a_later_day() -> None:
    counters = DailyCounters(DAY).with_sale(CARD, T(2024, 6, 12, 10), 1_000, 100)
    assert counters.for_day(DAY) is counters
    assert counters.for_day(D(2024, 6, 13)) == DailyCounters(D(2024, 6, 13))


def test_counters_are_immutable() -> None:
    counters = DailyCounters(DAY, {CARD: DayUsage(1, 1, 1)})
    with pytest.raises(TypeError):
        counters.cards[CARD] = ZERO_USAGE  # type: ignore[index]


@pytest.mark.parametrize(
    ("call", "error"),
    [
        pytest.param(lambda c: c.with_sale("12AB", T(2024, 6, 12), 1, 1), BadCardNumber, id="bad-asn"),
        pytest.param(lambda c: c.with_sale(CARD, T(2024, 6, 12, tzinfo=dt.UTC), 1, 1), BadClock, id="aware"),
        pytest.param(lambda c: c.with_sale(CARD, T(2024, 6, 12), -1, 1), BadCounters, id="negative"),
        pytest.param(lambda c: DailyCounters(T(2024, 6, 12)), BadCounters, id="datetime-as-day"),
    ],
)
def test_bad_updates_are_refused(call: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        call(DailyCounters(DAY))


def test_survives_a_restart_through_json() -> None:
    counters = (
        DailyCounters(DAY)
        .with_sale(CARD, T(2024, 6, 12, 8), 5_000, 2_000)
        .with_sale(OTHER, T(2024, 6, 12, 9), 100, 50)
    )
    stored = json.dumps(counters.to_dict())
    assert json.loads(stored) == {
        "day": "2024-06-12",
        "cards": {
            CARD: {"fills": 1, "amount": 5_000, "volume": 2_000},
            OTHER: {"fills": 1, "amount": 100, "volume": 50},
        },
    }
    assert DailyCounters.from_dict(json.loads(stored)) == counters


GOOD: dict[str, Any] = {"day": "2024-06-12", "cards": {CARD: {"fills": 1, "amount": 2, "volume": 3}}}


@pytest.mark.parametrize(
    "data",
    [
        pytest.param({}, id="empty"),
        pytest.param({**GOOD, "extra": 1}, id="extra-key"),
        pytest.param({**GOOD, "day": "12/06/2024"}, id="bad-day"),
        pytest.param({**GOOD, "day": None}, id="no-day"),
        pytest.param({**GOOD, "cards": []}, id="cards-not-mapping"),
        pytest.param({**GOOD, "cards": {"abc": GOOD["cards"][CARD]}}, id="bad-card-key"),
        pytest.param({**GOOD, "cards": {CARD: {"fills": 1, "amount": 2}}}, id="missing-volume"),
        pytest.param({**GOOD, "cards": {CARD: {"fills": -1, "amount": 2, "volume": 3}}}, id="negative"),
        pytest.param({**GOOD, "cards": {CARD: {"fills": True, "amount": 2, "volume": 3}}}, id="bool"),
        pytest.param({**GOOD, "cards": {CARD: {"fills": 1.0, "amount": 2, "volume": 3}}}, id="float"),
        pytest.param({**GOOD, "cards": {CARD: [1, 2, 3]}}, id="usage-not-mapping"),
    ],
)
def test_damaged_snapshots_are_refused(data: dict[str, Any]) -> None:
    with pytest.raises(BadCounters):
        DailyCounters.from_dict(data)


def test_good_snapshot_reads_back() -> None:
    assert DailyCounters.from_dict(GOOD).usage(CARD, DAY) == DayUsage(1, 2, 3)


# -- properties -------------------------------------------------------------------------------------------

sales = st.lists(
    st.tuples(
        st.sampled_from([CARD, OTHER]),
        st.datetimes(min_value=T(2024, 6, 11, 20), max_value=T(2024, 6, 13, 4)),
        st.integers(0, 100_000),
        st.integers(0, 10_000),
    ),
    max_size=30,
)


@given(sales)
def test_round_trip_and_totals(history: list[tuple[str, dt.datetime, int, int]]) -> None:
    counters = DailyCounters(DAY)
    for asn, when, amount, volume in history:
        counters = counters.with_sale(asn, when, amount, volume)
    assert DailyCounters.from_dict(json.loads(json.dumps(counters.to_dict()))) == counters
    # The held day only moves forward and its totals are the sum of that day's sales since it began.
    latest = max([DAY, *(when.date() for _, when, _, _ in history)])
    assert counters.day == latest
    for asn in (CARD, OTHER):
        todays = [(a, v) for card, when, a, v in history if card == asn and when.date() == latest]
        expected = DayUsage(
            sum(1 for a, v in todays if a or v), sum(a for a, _ in todays), sum(v for _, v in todays)
        )
        assert counters.usage(asn, latest) == expected
