"""The dispenser's CNG profile (spec B5) as the rules' card facts (edge.rules.wire)."""

from __future__ import annotations

import datetime as dt

import pytest

from edge.rules import (
    CardFacts,
    CardLimits,
    CardRequest,
    DailyCounters,
    DecisionContext,
    InMemoryLists,
    Place,
    RulesConfig,
    WorkingCalendar,
    decide,
    from_wire_profile,
)
from protocol import cng as wire
from protocol.reasons import RefusalReason

NOW = dt.datetime(2024, 6, 12, 10, 0)
USER = "10000101100000000001"


def wire_profile(**kw: object) -> wire.CngProfile:
    values: dict[str, object] = {
        "card_class": wire.CardClass.TAXI,
        "mode": wire.ConsumptionMode.PREPAID_AMOUNT,
        "price_level": 1,
        "cylinder_valid_until": dt.date(2024, 6, 20),
        "plate": "京A12345",
    }
    return wire.CngProfile(**(values | kw))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("profile", "limits"),
    [
        pytest.param(wire_profile(), CardLimits(restricted_plate="京A12345"), id="no-limits-zeros-are-none"),
        pytest.param(
            wire_profile(per_fill_cap=20_000, fills_per_day=3, amount_per_day=50_000),
            CardLimits(
                per_fill_amount=20_000, fills_per_day=3, amount_per_day=50_000, restricted_plate="京A12345"
            ),
            id="amount-mode-cap-is-money",
        ),
        pytest.param(
            wire_profile(mode=wire.ConsumptionMode.CREDIT_VOLUME, per_fill_cap=6_000, plate=""),
            CardLimits(per_fill_volume=6_000),
            id="volume-mode-cap-is-volume-no-plate-no-restriction",
        ),
    ],
)
def test_limits_from_the_wire(profile: wire.CngProfile, limits: CardLimits) -> None:
    rules_profile, rules_limits = from_wire_profile(profile)
    assert rules_limits == limits
    assert (rules_profile.card_class, rules_profile.mode, rules_profile.price_level) == (
        profile.card_class,
        profile.mode,
        profile.price_level,
    )
    assert (rules_profile.cylinder_valid_until, rules_profile.plate) == (
        profile.cylinder_valid_until,
        profile.plate,
    )


def test_system_limits_are_kept_under_the_wire_limits() -> None:
    kept = CardLimits(fixed_station_id="00000001", per_fill_volume=1_000, fills_per_day=9)
    _, limits = from_wire_profile(wire_profile(per_fill_cap=20_000, fills_per_day=2), kept)
    assert limits == CardLimits(
        fixed_station_id="00000001",
        per_fill_volume=1_000,
        per_fill_amount=20_000,
        fills_per_day=2,
        restricted_plate="京A12345",  # a CNG card is issued for one vehicle
    )


@pytest.mark.parametrize(
    ("date", "reason"),
    [
        pytest.param(None, RefusalReason.CYLINDER_NOT_REGISTERED, id="00000000-not-registered"),
        pytest.param(dt.date(2024, 6, 11), RefusalReason.CYLINDER_EXPIRED, id="expired"),
        pytest.param(dt.date(2024, 6, 12), RefusalReason.NONE, id="today"),
    ],
)
def test_from_bytes_on_the_wire_to_a_decision(date: dt.date | None, reason: RefusalReason) -> None:
    ic_data = wire_profile(cylinder_valid_until=date, fills_per_day=1).build()
    profile, limits = from_wire_profile(wire.parse_cng_profile(ic_data))
    context = DecisionContext(
        NOW,
        Place("00000001", 1, 0x11),
        InMemoryLists(),
        WorkingCalendar(),
        DailyCounters(NOW.date()),
        RulesConfig(),
    )
    decision = decide(CardRequest(CardFacts(USER, cng=profile, limits=limits)), context)
    assert decision.reason is reason
