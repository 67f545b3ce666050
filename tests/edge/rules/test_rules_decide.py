"""The card rules of spec §4 (edge.rules.decide), from tables: every rule, every reason, the boundaries."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.rules import (
    CardFacts,
    CardKind,
    CardLimits,
    CardRequest,
    CardStatus,
    CngProfile,
    ConsumptionMode,
    DailyCounters,
    Decision,
    DecisionContext,
    GreyDelayMode,
    GreyLock,
    InMemoryLists,
    Place,
    RulesConfig,
    WarningKind,
    WorkingCalendar,
    decide,
)
from edge.rules.errors import BadCardNumber, BadClock
from protocol.reasons import RefusalReason, decode_m_flag

R = RefusalReason
M = ConsumptionMode
W = WarningKind
D = dt.date
T = dt.datetime

NOW = T(2024, 6, 12, 10, 0)  # a Wednesday
TODAY = NOW.date()
HERE = Place("00000001", 1, 0x11)


def asn(kind: str = "01", province: int = 0x11, serial: int = 1) -> str:
    """A 20-digit ASN: kind in digits 5-6, province in digits 8-9."""
    return f"1000{kind}0{province:02X}{serial:011d}"


USER = asn(serial=1)
BLACK = asn(serial=2)
JIANGSU_USER = asn(province=0x32, serial=3)
GUANGDONG_USER = asn(province=0x44, serial=4)
STAFF = asn("04", serial=10)
STAFF_UNLISTED = asn("04", serial=11)
INTERNAL_05 = asn("05", serial=12)
INTERNAL_06 = asn("06", serial=13)
STAFF_ALSO_BLACK = asn("04", serial=14)
ODD_KIND = asn("02", serial=20)
USED_UP = asn(serial=30)
PLATE = "京A12345"

LISTS = InMemoryLists(
    blacklist={BLACK, STAFF_ALSO_BLACK, asn(serial=999)},
    whitelist={STAFF, INTERNAL_06, STAFF_ALSO_BLACK},
)
COUNTERS = (
    DailyCounters(TODAY)
    .with_sale(USED_UP, T(2024, 6, 12, 7), 20_000, 3_000)
    .with_sale(USED_UP, T(2024, 6, 12, 8), 10_000, 2_000)
)  # USED_UP today: 2 fills, 300.00 yuan, 50.00 units
DEFAULT = RulesConfig()


def ctx(now: dt.datetime = NOW, config: RulesConfig = DEFAULT, **kw: Any) -> DecisionContext:
    base = DecisionContext(now, HERE, LISTS, WorkingCalendar(), COUNTERS, config)
    return dataclasses.replace(base, **kw)


def cfg(**kw: Any) -> DecisionContext:
    """The default context with some settings changed."""
    return ctx(config=RulesConfig(**kw))


def card(number: str = USER, **kw: Any) -> CardFacts:
    return CardFacts(number, **kw)


def cng(**kw: Any) -> CngProfile:
    values: dict[str, Any] = {
        "card_class": 1,
        "mode": M.PREPAID_AMOUNT,
        "price_level": 0,
        "cylinder_valid_until": TODAY + dt.timedelta(days=100),
        "plate": PLATE,
    }
    return CngProfile(**(values | kw))


def req(c: CardFacts | None = None, **kw: Any) -> CardRequest:
    return CardRequest(c if c is not None else card(), **kw)


def grey(where: Place, locked_at: dt.datetime) -> CardFacts:
    return card(grey=True, grey_lock=GreyLock(USER, locked_at, where, amount_owed=1_250))


def days(n: int) -> dt.date:
    return TODAY + dt.timedelta(days=n)


def limited(number: str = USER, **kw: Any) -> CardFacts:
    return card(number, limits=CardLimits(**kw))


OK = R.NONE

# (request, context, expected reason, expected warning kinds)
CASES = [
    # 1. card dates
    pytest.param(req(), ctx(), OK, (), id="plain-user-card"),
    pytest.param(req(card(valid_until=days(-1))), ctx(), R.CARD_EXPIRED, (), id="expired-yesterday"),
    pytest.param(req(card(valid_until=TODAY)), ctx(), OK, (), id="expires-today-still-valid"),
    pytest.param(req(card(valid_from=days(1))), ctx(), R.CARD_NOT_YET_VALID, (), id="valid-from-tomorrow"),
    pytest.param(req(card(valid_from=TODAY)), ctx(), OK, (), id="valid-from-today"),
    # 2. kind, status, lists
    pytest.param(req(card(ODD_KIND)), ctx(), R.CARD_TYPE_UNKNOWN, (), id="kind-code-02"),
    pytest.param(req(card("12345678")), ctx(), R.CARD_TYPE_UNKNOWN, (), id="short-asn-no-kind"),
    pytest.param(req(card("12345678", kind=CardKind.USER)), ctx(), OK, (), id="short-asn-kind-given"),
    pytest.param(req(card(BLACK)), ctx(), R.BLACKLISTED, (), id="on-blacklist"),
    pytest.param(req(card(status=CardStatus.BLACKLISTED)), ctx(), R.BLACKLISTED, (), id="status-blacklisted"),
    pytest.param(req(card(status=CardStatus.CANCELLED)), ctx(), R.CARD_CANCELLED, (), id="cancelled"),
    pytest.param(req(card(status=CardStatus.REPLACED)), ctx(), R.CARD_REPLACED, (), id="replaced"),
    pytest.param(req(card(status=CardStatus.DAMAGED)), ctx(), R.CARD_DAMAGED, (), id="damaged"),
    pytest.param(req(card(status=CardStatus.LOST)), ctx(), R.CARD_LOST, (), id="lost-unknown-date"),
    pytest.param(req(card(status=CardStatus.LOST, status_since=T(2024, 6, 11, 9))), ctx(), OK,
                 (W.LOST_CARD_PENDING,), id="lost-yesterday-in-grace"),
    pytest.param(req(card(status=CardStatus.LOST, status_since=T(2024, 6, 10, 9))), ctx(), R.CARD_LOST, (),
                 id="lost-monday-in-force-wednesday"),
    pytest.param(req(card(status=CardStatus.LOST, status_since=T(2024, 6, 10, 9))), ctx(T(2024, 6, 12)),
                 R.CARD_LOST, (), id="lost-in-force-from-midnight"),
    pytest.param(req(card(status=CardStatus.LOST, status_since=T(2024, 6, 10, 9))),
                 ctx(T(2024, 6, 11, 23, 59, 59)), OK, (W.LOST_CARD_PENDING,), id="lost-last-second-of-grace"),
    pytest.param(req(card(status=CardStatus.LOST, status_since=T(2024, 6, 7, 9))), ctx(T(2024, 6, 10, 23)),
                 OK,
                 (W.LOST_CARD_PENDING,), id="lost-friday-grace-across-weekend"),
    pytest.param(req(card(status=CardStatus.LOST, status_since=T(2024, 6, 11, 9))),
                 cfg(lost_card_grace_working_days=0), R.CARD_LOST, (), id="lost-no-grace"),
    pytest.param(req(card(BLACK, status=CardStatus.LOST, status_since=T(2024, 6, 11, 9))), ctx(),
                 R.BLACKLISTED, (), id="lost-in-grace-but-blacklisted"),
    pytest.param(req(card(STAFF)), ctx(), OK, (), id="staff-whitelisted"),
    pytest.param(req(card(STAFF_UNLISTED)), ctx(), R.NOT_WHITELISTED, (), id="staff-not-whitelisted"),
    pytest.param(req(card(INTERNAL_05)), ctx(), R.NOT_WHITELISTED, (), id="internal-05-not-whitelisted"),
    pytest.param(req(card(INTERNAL_06)), ctx(), OK, (), id="internal-06-whitelisted"),
    pytest.param(req(card(STAFF_ALSO_BLACK)), ctx(), OK, (), id="internal-cards-ignore-blacklist"),
    pytest.param(req(card(STAFF, home_station_id="00000002")), ctx(), R.STAFF_CARD_OTHER_STATION, (),
                 id="staff-card-of-other-station"),
    pytest.param(req(card(STAFF_UNLISTED, home_station_id="00000002")), ctx(), R.STAFF_CARD_OTHER_STATION, (),
                 id="staff-other-station-says-why"),
    pytest.param(req(card(STAFF, home_station_id="00000001")), ctx(), OK, (), id="staff-card-own-station"),
    pytest.param(req(card(GUANGDONG_USER)), cfg(accepted_provinces=frozenset({0x32})),
                 R.PROVINCE_NOT_ACCEPTED, (), id="province-not-accepted"),
    pytest.param(req(card(JIANGSU_USER)), cfg(accepted_provinces=frozenset({0x32})), OK,
                 (), id="province-accepted"),
    pytest.param(req(card(USER)), cfg(accepted_provinces=frozenset({0x32})), OK, (),
                 id="own-province-always-accepted"),
    # 3. PIN
    pytest.param(req(card(pin_locked=True)), ctx(), R.PIN_LOCKED, (), id="pin-locked"),
    # 4. grey
    pytest.param(req(card(grey=True)), ctx(), R.GREY_RECORD_NOT_FOUND, (), id="grey-no-record"),
    pytest.param(req(grey(HERE, T(2024, 6, 1, 12))), ctx(), OK, (W.GREY_DEBIT_FIRST,),
                 id="grey-same-dispenser"),
    pytest.param(req(grey(Place("00000001", 2, 0x11), T(2024, 6, 12, 8))), ctx(), OK, (W.GREY_DEBIT_FIRST,),
                 id="grey-other-pump-same-day"),
    pytest.param(req(grey(Place("00000001", 2, 0x11), T(2024, 6, 11, 22))), ctx(),
                 R.GREY_OTHER_PUMP_AFTER_LOCK_DAY, (), id="grey-other-pump-next-day"),
    pytest.param(req(grey(Place("00000002", 1, 0x11), T(2024, 6, 11, 22))), ctx(), R.GREY_WAIT_DELAY, (),
                 id="grey-other-station-wait"),
    pytest.param(req(grey(Place("00000002", 1, 0x11), T(2024, 6, 10, 22))), ctx(), OK, (W.GREY_DEBIT_FIRST,),
                 id="grey-other-station-2nd-working-day"),
    pytest.param(req(grey(Place("00000002", 1, 0x11), T(2024, 6, 10, 22))),
                 cfg(grey_delay_mode=GreyDelayMode.HOURS), R.GREY_WAIT_DELAY, (),
                 id="grey-48h-not-yet"),
    pytest.param(req(card(GUANGDONG_USER, grey=True,
                          grey_lock=GreyLock(GUANGDONG_USER, T(2024, 1, 1), Place("00000044", 1, 0x44), 100)))
                 , ctx(), R.GREY_OTHER_PROVINCE, (), id="grey-other-province"),
    # 5. CNG vehicle
    pytest.param(req(card(cng=cng(card_class=3))), cfg(accepted_card_classes=frozenset({1})),
                 R.CARD_CLASS_NOT_ACCEPTED, (), id="card-class-not-accepted"),
    pytest.param(req(card(cng=cng(card_class=1))), cfg(accepted_card_classes=frozenset({1})),
                 OK, (), id="card-class-accepted"),
    pytest.param(req(card(cng=cng(cylinder_valid_until=None))), ctx(), R.CYLINDER_NOT_REGISTERED, (),
                 id="cylinder-no-date"),
    pytest.param(req(card()), cfg(require_cng_profile=True), R.CYLINDER_NOT_REGISTERED, (),
                 id="cng-station-card-without-profile"),
    pytest.param(req(card(STAFF)), cfg(require_cng_profile=True), OK, (),
                 id="cng-station-staff-card-needs-no-profile"),
    pytest.param(req(card(cng=cng(cylinder_valid_until=days(-1)))), ctx(), R.CYLINDER_EXPIRED, (),
                 id="cylinder-yesterday"),
    pytest.param(req(card(cng=cng(cylinder_valid_until=TODAY))), ctx(), OK, (W.CYLINDER_DUE,),
                 id="cylinder-today-allowed-warned"),
    pytest.param(req(card(cng=cng(cylinder_valid_until=days(10)))), ctx(), OK, (W.CYLINDER_DUE,),
                 id="cylinder-exactly-advance-days"),
    pytest.param(req(card(cng=cng(cylinder_valid_until=days(11)))), ctx(), OK, (),
                 id="cylinder-advance-plus-1"),
    pytest.param(req(card(cng=cng(cylinder_valid_until=TODAY))),
                 cfg(cylinder_alarm_advance_days=0), OK, (W.CYLINDER_DUE,),
                 id="cylinder-no-advance-still-warns-on-the-day"),
    pytest.param(req(card(cng=cng(cylinder_valid_until=days(1)))),
                 cfg(cylinder_alarm_advance_days=0), OK, (), id="cylinder-no-advance-tomorrow"),
    # 6. limits
    pytest.param(req(limited(fixed_station_id="00000002")), ctx(), R.FIXED_STATION_ELSEWHERE, (),
                 id="fixed-station-elsewhere"),
    pytest.param(req(limited(fixed_station_id="00000001")), ctx(), OK, (), id="fixed-station-here"),
    pytest.param(req(limited(restricted_products=frozenset({"0301"})), product_code="0102"), ctx(),
                 R.RESTRICTED_PRODUCT, (), id="restricted-product"),
    pytest.param(req(limited(restricted_products=frozenset({"0301"})), product_code="0301"), ctx(), OK, (),
                 id="allowed-product"),
    pytest.param(req(limited(restricted_products=frozenset({"0301"}))), ctx(), OK, (),
                 id="product-unknown-on-0x36"),
    pytest.param(req(limited(restricted_plate=PLATE), vehicle_plate="京B99999"), ctx(), R.RESTRICTED_PLATE,
                 (), id="plate-mismatch"),
    pytest.param(req(limited(restricted_plate=PLATE), vehicle_plate="京a 12345"), ctx(), OK, (),
                 id="plate-match-ignores-case-and-spaces"),
    pytest.param(req(limited(restricted_plate=PLATE)), ctx(), OK, (W.CHECK_PLATE,), id="plate-unknown-warn"),
    pytest.param(req(limited(restricted_plate=PLATE)), cfg(require_plate_match=True),
                 R.RESTRICTED_PLATE, (), id="plate-unknown-strict"),
    pytest.param(req(limited(USED_UP, fills_per_day=2)), ctx(), R.FILLS_PER_DAY_REACHED, (),
                 id="fills-used-up"),
    pytest.param(req(limited(USED_UP, fills_per_day=3)), ctx(), OK, (), id="fills-one-left"),
    pytest.param(req(limited(USED_UP, amount_per_day=30_000)), ctx(), R.AMOUNT_PER_DAY_REACHED, (),
                 id="amount-per-day-used-up"),
    pytest.param(req(limited(USED_UP, amount_per_day=30_001)), ctx(), OK, (), id="amount-per-day-1-fen-left"),
    pytest.param(req(limited(USED_UP, amount_per_day=40_000), preset_amount=10_001), ctx(),
                 R.AMOUNT_PER_DAY_REACHED, (), id="preset-over-daily-remainder"),
    pytest.param(req(limited(USED_UP, volume_per_day=5_000)), ctx(), R.VOLUME_PER_DAY_REACHED, (),
                 id="volume-per-day-used-up"),
    pytest.param(req(limited(USED_UP, volume_per_day=6_000), preset_volume=1_001), ctx(),
                 R.VOLUME_PER_DAY_REACHED, (), id="preset-volume-over-daily-remainder"),
    pytest.param(req(limited(per_fill_amount=0)), ctx(), R.PER_SALE_CAP, (), id="per-fill-cap-zero"),
    pytest.param(req(limited(per_fill_amount=20_000), preset_amount=20_001), ctx(), R.PER_SALE_CAP, (),
                 id="preset-over-per-fill-cap"),
    pytest.param(req(limited(per_fill_amount=20_000), preset_amount=20_000), ctx(), OK, (),
                 id="preset-equals-per-fill-cap"),
    pytest.param(req(limited(per_fill_volume=1_000), preset_volume=1_001), ctx(), R.PER_SALE_CAP, (),
                 id="preset-volume-over-per-fill-cap"),
    pytest.param(req(card(balance=0)), ctx(), R.BALANCE_TOO_LOW, (), id="purse-empty"),
    pytest.param(req(card(balance=5_000), preset_amount=5_001), ctx(), R.BALANCE_TOO_LOW, (),
                 id="preset-over-balance"),
    pytest.param(req(card(balance=1)), ctx(), OK, (), id="purse-1-fen"),
    pytest.param(req(card(balance=0, cng=cng(mode=M.PREPAID_VOLUME))), ctx(), R.BALANCE_TOO_LOW,
                 (), id="prepaid-volume-empty"),
    pytest.param(req(card(balance=10_000, cng=cng(mode=M.CREDIT_AMOUNT, credit_line=10_000))), ctx(),
                 R.CREDIT_LINE_EXHAUSTED, (), id="credit-amount-exhausted"),
    pytest.param(req(card(balance=9_000, cng=cng(mode=M.CREDIT_VOLUME, credit_line=9_000))), ctx(),
                 R.CREDIT_LINE_EXHAUSTED, (), id="credit-volume-exhausted"),
    pytest.param(req(card(balance=4_000, cng=cng(mode=M.CREDIT_AMOUNT, credit_line=10_000)),
                     preset_amount=6_001), ctx(), R.CREDIT_LINE_EXHAUSTED, (), id="preset-over-credit-left"),
    pytest.param(req(card(balance=99_999, cng=cng(mode=M.CREDIT_AMOUNT))), ctx(), OK, (),
                 id="credit-without-line-has-no-local-cap"),
    # 7. price
    pytest.param(req(card(cng=cng(price_level=2)), nozzle_prices=(500, 480)), ctx(), R.NO_PRICE_FOR_CARD, (),
                 id="no-price-for-level-2"),
    # rule order: the first failing rule gives the reason
    pytest.param(req(card(BLACK, valid_until=days(-1))), ctx(), R.CARD_EXPIRED, (), id="order-expiry-first"),
    pytest.param(req(card(BLACK, pin_locked=True)), ctx(), R.BLACKLISTED, (), id="order-list-before-pin"),
    pytest.param(req(card(pin_locked=True, grey=True)), ctx(), R.PIN_LOCKED, (), id="order-pin-before-grey"),
    pytest.param(req(card(grey=True, cng=cng(cylinder_valid_until=days(-1)))), ctx(), R.GREY_RECORD_NOT_FOUND,
                 (), id="order-grey-before-cylinder"),
    pytest.param(req(card(balance=0, cng=cng(cylinder_valid_until=days(-1)))), ctx(), R.CYLINDER_EXPIRED, (),
                 id="order-cylinder-before-limits"),
    pytest.param(req(card(USED_UP, balance=0, limits=CardLimits(fills_per_day=2, per_fill_amount=0))), ctx(),
                 R.FILLS_PER_DAY_REACHED, (), id="order-fills-before-budgets"),
    pytest.param(req(card(USED_UP, balance=0, limits=CardLimits(amount_per_day=30_000, per_fill_amount=0))),
                 ctx(), R.PER_SALE_CAP, (), id="order-cap-before-daily-before-balance"),
    pytest.param(req(card(cng=cng(cylinder_valid_until=days(3)), limits=CardLimits(restricted_plate=PLATE),
                          status=CardStatus.LOST, status_since=T(2024, 6, 12, 8))), ctx(), OK,
                 (W.LOST_CARD_PENDING, W.CYLINDER_DUE, W.CHECK_PLATE), id="all-warnings-kept-in-order"),
]  # fmt: skip


@pytest.mark.parametrize(("request_", "context", "reason", "warnings"), CASES)
def test_decide(
    request_: CardRequest, context: DecisionContext, reason: RefusalReason, warnings: tuple[WarningKind, ...]
) -> None:
    decision = decide(request_, context)
    assert (decision.allowed, decision.reason) == (reason is OK, reason)
    assert tuple(w.kind for w in decision.warnings) == warnings
    assert decision.words.startswith(reason.words)
    for warning in decision.warnings:
        assert warning.words in decision.words


def test_every_reason_code_is_exercised_by_the_table() -> None:
    seen = {param.values[2] for param in CASES}
    # Not rules of a card: the authority refuses a card whose report is missing, a dispenser one it
    # cannot ask about (tests/edge/test_authority.py, tests/sim/).
    outside = {RefusalReason.CARD_DATA_MISSING, RefusalReason.CONTROLLER_UNREACHABLE}
    assert seen == set(RefusalReason) - outside


def test_every_warning_kind_is_exercised_by_the_table() -> None:
    seen = {kind for param in CASES for kind in cast(tuple[WarningKind, ...], param.values[3])}
    assert seen == set(WarningKind)


# -- what an allowed decision says ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "mode", "level", "unit_price"),
    [
        pytest.param(req(nozzle_prices=(500, 480, 450)), M.PREPAID_AMOUNT, 0, 500, id="fuel-card-level-0"),
        pytest.param(req(card(cng=cng(price_level=2)), nozzle_prices=(500, 480, 450)), M.PREPAID_AMOUNT,
                     2, 450, id="level-2"),
        pytest.param(req(card(cng=cng(price_level=2)), nozzle_prices=(500,)), M.PREPAID_AMOUNT, 2, 500,
                     id="single-price-serves-all-levels"),
        pytest.param(req(card(cng=cng(price_level=1, mode=M.PREPAID_VOLUME)), nozzle_prices=(500, 480)),
                     M.PREPAID_VOLUME, 1, None, id="prepaid-volume-priced-at-top-up"),
        pytest.param(req(card(cng=cng(price_level=1, mode=M.CREDIT_VOLUME)), nozzle_prices=(500, 480)),
                     M.CREDIT_VOLUME, 1, 480, id="credit-volume-nozzle-price"),
        pytest.param(req(card(cng=cng(price_level=1))), M.PREPAID_AMOUNT, 1, None,
                     id="no-nozzle-prices-on-0x36"),
    ],
)  # fmt: skip
def test_price_and_debited_balance(
    request_: CardRequest, mode: ConsumptionMode, level: int, unit_price: int | None
) -> None:
    decision = decide(request_, ctx())
    assert decision.allowed
    assert (decision.consumption_mode, decision.price_level, decision.unit_price) == (mode, level, unit_price)


@pytest.mark.parametrize(
    ("request_", "max_amount", "max_volume"),
    [
        pytest.param(req(), None, None, id="no-limits"),
        pytest.param(req(card(balance=8_000)), 8_000, None, id="purse-balance"),
        pytest.param(req(card(balance=8_000, limits=CardLimits(per_fill_amount=5_000))), 5_000, None,
                     id="cap-tighter"),
        pytest.param(req(card(USED_UP, balance=80_000, limits=CardLimits(amount_per_day=35_000))),
                     5_000, None,
                     id="daily-remainder-tighter"),
        pytest.param(req(card(balance=700, cng=cng(mode=M.PREPAID_VOLUME),
                              limits=CardLimits(per_fill_volume=2_000))), None, 700, id="volume-balance"),
        pytest.param(req(card(balance=4_000, cng=cng(mode=M.CREDIT_AMOUNT, credit_line=10_000))),
                     6_000, None, id="credit-left"),
        pytest.param(req(card(USED_UP, limits=CardLimits(volume_per_day=6_000, per_fill_amount=9_000))),
                     9_000,
                     1_000, id="both-dimensions"),
    ],
)  # fmt: skip
def test_sale_budgets(request_: CardRequest, max_amount: int | None, max_volume: int | None) -> None:
    decision = decide(request_, ctx())
    assert decision.allowed
    assert (decision.max_amount, decision.max_volume) == (max_amount, max_volume)


# -- daily limits across midnight ----------------------------------------------------------------------------

MIDNIGHT_CARD = limited(USED_UP, fills_per_day=2)


@pytest.mark.parametrize(
    ("now", "reason"),
    [
        pytest.param(T(2024, 6, 12, 23, 59, 59, 999_999), R.FILLS_PER_DAY_REACHED, id="last-microsecond"),
        pytest.param(T(2024, 6, 13, 0, 0), OK, id="midnight-fresh-day"),
    ],
)
def test_daily_limits_reset_at_local_midnight(now: dt.datetime, reason: RefusalReason) -> None:
    assert decide(req(MIDNIGHT_CARD), ctx(now)).reason is reason


def test_counters_read_back_after_a_restart_keep_the_limit() -> None:
    restored = DailyCounters.from_dict(COUNTERS.to_dict())
    assert decide(req(MIDNIGHT_CARD), ctx(counters=restored)).reason is R.FILLS_PER_DAY_REACHED


def test_a_sale_that_crosses_midnight_counts_on_its_start_day() -> None:
    counters = DailyCounters(TODAY).with_sale(USER, T(2024, 6, 12, 23, 58), 1_000, 100)
    limit = limited(USER, fills_per_day=1)
    assert (
        decide(req(limit), ctx(T(2024, 6, 12, 23, 59), counters=counters)).reason is R.FILLS_PER_DAY_REACHED
    )
    assert decide(req(limit), ctx(T(2024, 6, 13, 0, 1), counters=counters)).allowed


# -- details the attendant sees ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "context", "fragment"),
    [
        pytest.param(req(card(valid_until=D(2024, 6, 1))), ctx(), "Valid until 2024-06-01.",
                     id="expiry-date"),
        pytest.param(req(card(cng=cng(cylinder_valid_until=D(2024, 6, 1)))), ctx(), "due on 2024-06-01",
                     id="cylinder-date"),
        pytest.param(req(card(cng=cng(cylinder_valid_until=days(3)))), ctx(),
                     "京A12345) cylinder inspection is due in 3 days, on 2024-06-15", id="cylinder-warning"),
        pytest.param(req(card(cng=cng(cylinder_valid_until=TODAY))), ctx(), "is due today",
                     id="cylinder-today"),
        pytest.param(req(grey(Place("00000002", 1, 0x11), T(2024, 6, 11, 22))), ctx(),
                     "Can be unlocked here from 2024-06-13 00:00.", id="grey-opens-at"),
        pytest.param(req(grey(HERE, T(2024, 6, 11, 22))), ctx(), "12.50 yuan is taken first", id="grey-owed"),
        pytest.param(req(card(balance=5_000), preset_amount=6_000), ctx(), "At most 50.00 yuan",
                     id="preset-limit"),
        pytest.param(req(limited(USED_UP, fills_per_day=2)), ctx(), "2 of 2 used.", id="fills"),
    ],
)  # fmt: skip
def test_words_carry_the_details(request_: CardRequest, context: DecisionContext, fragment: str) -> None:
    assert fragment in decide(request_, context).words


# -- the 0x36 answer -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "m_flag"),
    [
        pytest.param(USER, 0x01, id="user-allowed"),
        pytest.param(BLACK, int(R.BLACKLISTED) << 1, id="user-blacklisted"),
        pytest.param(STAFF, 0x00, id="staff-allowed"),
        pytest.param(STAFF_UNLISTED, (int(R.NOT_WHITELISTED) << 1) | 1, id="staff-refused"),
        pytest.param(ODD_KIND, int(R.CARD_TYPE_UNKNOWN) << 1, id="unknown-kind-answers-as-user-card"),
    ],
)
def test_m_flag(number: str, m_flag: int) -> None:
    assert decide(req(card(number)), ctx()).m_flag == m_flag


def test_grey_decision_carries_the_unlock_verdict() -> None:
    decision = decide(req(grey(Place("00000002", 1, 0x11), T(2024, 6, 11, 22))), ctx())
    assert decision.grey_unlock is not None
    assert decision.grey_unlock.unlockable_from == T(2024, 6, 13)


def test_aware_clock_is_refused() -> None:
    with pytest.raises(BadClock):
        ctx(NOW.replace(tzinfo=dt.UTC))


# -- properties ----------------------------------------------------------------------------------------------

asns = st.sampled_from(
    [USER, BLACK, JIANGSU_USER, STAFF, STAFF_UNLISTED, INTERNAL_05, ODD_KIND, USED_UP, "12345678"]
)
maybe_days = st.none() | st.integers(-15, 15).map(days)
amounts = st.none() | st.integers(0, 50_000)
profiles = st.none() | st.builds(
    CngProfile,
    card_class=st.integers(0, 4),
    mode=st.sampled_from(ConsumptionMode),
    price_level=st.integers(0, 3),
    cylinder_valid_until=maybe_days,
    plate=st.sampled_from(["", PLATE]),
    credit_line=amounts,
)
limits = st.builds(
    CardLimits,
    per_fill_amount=amounts,
    per_fill_volume=amounts,
    fills_per_day=st.none() | st.integers(0, 4),
    amount_per_day=amounts,
    volume_per_day=amounts,
    restricted_products=st.frozensets(st.sampled_from(["0102", "0301"])),
    restricted_plate=st.none() | st.just(PLATE),
    fixed_station_id=st.none() | st.sampled_from(["00000001", "00000002"]),
)
places = st.builds(
    Place, st.sampled_from(["00000001", "00000002"]), st.integers(1, 2), st.sampled_from([0x11, 0x32])
)
moments = st.datetimes(min_value=T(2024, 6, 1), max_value=T(2024, 6, 12, 10))


def with_asn(c: CardFacts, number: str) -> CardFacts:
    """The same card facts under another number (its grey record moves with it)."""
    lock = (
        None if c.grey_lock is None else dataclasses.replace(c.grey_lock, asn=number, issuing_province=None)
    )
    return dataclasses.replace(c, asn=number, grey_lock=lock, kind=None, issuing_province=None)


cards = st.builds(
    CardFacts,
    asn=st.just(USER),
    status=st.sampled_from(CardStatus),
    status_since=st.none() | moments,
    valid_from=maybe_days,
    valid_until=maybe_days,
    pin_locked=st.booleans(),
    grey=st.booleans(),
    grey_lock=st.none()
    | st.builds(GreyLock, asn=st.just(USER), locked_at=moments, where=places, amount_owed=st.just(1)),
    balance=amounts,
    home_station_id=st.none() | st.sampled_from(["00000001", "00000002"]),
    cng=profiles,
    limits=limits,
).flatmap(lambda c: asns.map(lambda number: with_asn(c, number)))
requests = st.builds(
    CardRequest,
    card=cards,
    product_code=st.none() | st.sampled_from(["0102", "0301"]),
    nozzle_prices=st.sampled_from([(), (500,), (500, 480), (500, 480, 450)]),
    preset_amount=amounts,
    preset_volume=amounts,
    vehicle_plate=st.none() | st.sampled_from([PLATE, "京B99999"]),
)
configs = st.builds(
    RulesConfig,
    grey_delay_mode=st.sampled_from(GreyDelayMode),
    lost_card_grace_working_days=st.integers(0, 3),
    accepted_card_classes=st.none() | st.just(frozenset({1, 2})),
    accepted_provinces=st.none() | st.just(frozenset({0x32})),
    require_cng_profile=st.booleans(),
    require_plate_match=st.booleans(),
)
contexts = st.builds(
    DecisionContext,
    now=st.datetimes(min_value=T(2024, 6, 10), max_value=T(2024, 6, 14)),
    here=st.just(HERE),
    lists=st.just(LISTS),
    calendar=st.just(WorkingCalendar()),
    counters=st.just(COUNTERS),
    config=configs,
)


def _consistent(decision: Decision) -> None:
    assert decision.allowed is (decision.reason is R.NONE)
    internal = decision.card_kind is not None and decision.card_kind.internal
    assert decode_m_flag(decision.m_flag, internal=internal) == (not decision.allowed, decision.reason)
    assert decision.words.startswith(decision.reason.words)
    if not decision.allowed:
        assert decision.warnings == () and decision.unit_price is None


@given(requests, contexts)
def test_decisions_are_deterministic_and_consistent(request_: CardRequest, context: DecisionContext) -> None:
    first = decide(request_, context)
    assert decide(request_, context) == first
    _consistent(first)


@given(requests, contexts)
def test_a_blacklisted_user_card_is_never_allowed(request_: CardRequest, context: DecisionContext) -> None:
    blacklisted = dataclasses.replace(request_, card=with_asn(request_.card, BLACK))
    assert not decide(blacklisted, context).allowed


@given(requests, contexts)
def test_expired_cards_and_cylinders_are_never_allowed(
    request_: CardRequest, context: DecisionContext
) -> None:
    yesterday = context.now.date() - dt.timedelta(days=1)
    expired = dataclasses.replace(request_.card, valid_until=yesterday)
    assert decide(dataclasses.replace(request_, card=expired), context).reason is R.CARD_EXPIRED
    if request_.card.cng is not None:
        old = dataclasses.replace(request_.card.cng, cylinder_valid_until=yesterday)
        assert not decide(
            dataclasses.replace(request_, card=dataclasses.replace(request_.card, cng=old)), context
        ).allowed


@given(requests, contexts)
def test_a_preset_up_to_the_budget_is_allowed(request_: CardRequest, context: DecisionContext) -> None:
    open_request = dataclasses.replace(request_, preset_amount=None, preset_volume=None)
    decision = decide(open_request, context)
    if decision.allowed:
        at_limit = dataclasses.replace(
            open_request, preset_amount=decision.max_amount, preset_volume=decision.max_volume
        )
        assert decide(at_limit, context).allowed
        if decision.max_amount is not None:
            over = dataclasses.replace(open_request, preset_amount=decision.max_amount + 1)
            assert not decide(over, context).allowed


def test_grey_record_of_another_card_is_refused() -> None:
    with pytest.raises(BadCardNumber):
        CardFacts(USER, grey=True, grey_lock=GreyLock(BLACK, NOW, HERE, 1))


def test_a_refusal_detail_is_a_template_with_its_facts_for_any_language() -> None:
    """The English words are stored; the detail's template and facts let a screen say it in Chinese."""
    from protocol.i18n import translator

    decision = decide(req(card(cng=cng(cylinder_valid_until=D(2024, 6, 1)))), ctx())
    assert decision.reason is R.CYLINDER_EXPIRED
    assert (decision.detail, dict(decision.detail_facts)) == (
        "Inspection was due on {date}.",
        {"date": "2024-06-01"},
    )
    assert decision.words == f"{R.CYLINDER_EXPIRED.words} Inspection was due on 2024-06-01."
    zh = translator("zh_CN")
    assert zh(decision.detail).format(**decision.detail_facts) == "检验到期日为 2024-06-01。"
    assert decide(req(card()), ctx()).detail == ""
