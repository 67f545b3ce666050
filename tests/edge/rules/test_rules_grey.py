"""Grey-card unlock rules of spec §2.4 (edge.rules.grey)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.rules.calendar import GreyDelayMode, WorkingCalendar
from edge.rules.config import RulesConfig
from edge.rules.errors import BadClock
from edge.rules.grey import GreyLock, UnlockRule, may_unlock
from edge.rules.place import Place
from protocol.reasons import RefusalReason

T = dt.datetime
BEIJING, JIANGSU, GUANGDONG = 0x11, 0x32, 0x44
CAL = WorkingCalendar()
WORKING_DAYS = RulesConfig()
HOURS_48 = RulesConfig(grey_delay_mode=GreyDelayMode.HOURS)

LOCKED_AT = T(2024, 6, 14, 15, 0)  # Friday: unlockable province-wide from Tuesday 00:00 (or Sunday 15:00)
LOCK_PLACE = Place("00000001", 1, BEIJING, terminal_id="112233445566")
BEIJING_CARD = "10000101100000000001"
JIANGSU_CARD = "10000103200000000001"

SAME_DISPENSER = Place("00000001", 1, BEIJING)
SAME_TERMINAL_NEW_ADDRESS = Place("00000001", 7, BEIJING, terminal_id="112233445566")
SAME_ADDRESS_OTHER_TERMINAL = Place("00000001", 1, BEIJING, terminal_id="AABBCCDDEEFF")
OTHER_PUMP = Place("00000001", 2, BEIJING)
OTHER_STATION = Place("00000002", 1, BEIJING)
JIANGSU_STATION = Place("00000009", 1, JIANGSU)
GUANGDONG_STATION = Place("00000044", 1, GUANGDONG)


def lock(asn: str = BEIJING_CARD, where: Place = LOCK_PLACE) -> GreyLock:
    return GreyLock(asn=asn, locked_at=LOCKED_AT, where=where, amount_owed=12_345)


ALLOW = RefusalReason.NONE


@pytest.mark.parametrize(
    ("grey", "here", "now", "config", "reason", "rule", "opens"),
    [
        pytest.param(lock(), SAME_DISPENSER, LOCKED_AT, WORKING_DAYS, ALLOW, UnlockRule.SAME_DISPENSER, None,
                     id="same-dispenser-at-once"),
        pytest.param(lock(), SAME_DISPENSER, T(2024, 6, 15, 8), WORKING_DAYS, ALLOW,
                     UnlockRule.SAME_DISPENSER, None, id="same-dispenser-next-day"),
        pytest.param(lock(), SAME_TERMINAL_NEW_ADDRESS, T(2024, 6, 15, 8), WORKING_DAYS, ALLOW,
                     UnlockRule.SAME_DISPENSER, None, id="same-psam-terminal-re-addressed"),
        pytest.param(lock(), SAME_ADDRESS_OTHER_TERMINAL, T(2024, 6, 14, 23, 59), WORKING_DAYS, ALLOW,
                     UnlockRule.SAME_STATION_SAME_DAY, None, id="other-terminal-same-address-same-day"),
        pytest.param(lock(), OTHER_PUMP, T(2024, 6, 14, 23, 59, 59), WORKING_DAYS, ALLOW,
                     UnlockRule.SAME_STATION_SAME_DAY, None, id="other-pump-locking-day-last-second"),
        pytest.param(lock(), OTHER_PUMP, T(2024, 6, 13, 23, 59), WORKING_DAYS, ALLOW,
                     UnlockRule.SAME_STATION_SAME_DAY, None, id="other-pump-controller-clock-behind"),
        pytest.param(lock(), OTHER_PUMP, T(2024, 6, 15, 0, 0), WORKING_DAYS,
                     RefusalReason.GREY_OTHER_PUMP_AFTER_LOCK_DAY, None, T(2024, 6, 18),
                     id="other-pump-next-day"),
        pytest.param(lock(), OTHER_PUMP, T(2024, 6, 18), WORKING_DAYS, ALLOW,
                     UnlockRule.PROVINCE_AFTER_DELAY, None, id="other-pump-after-delay"),
        pytest.param(lock(), OTHER_STATION, T(2024, 6, 14, 16), WORKING_DAYS, RefusalReason.GREY_WAIT_DELAY,
                     None, T(2024, 6, 18), id="other-station-locking-day"),
        pytest.param(lock(), OTHER_STATION, T(2024, 6, 17, 23, 59, 59), WORKING_DAYS,
                     RefusalReason.GREY_WAIT_DELAY, None, T(2024, 6, 18), id="other-station-1s-before"),
        pytest.param(lock(), OTHER_STATION, T(2024, 6, 18), WORKING_DAYS, ALLOW,
                     UnlockRule.PROVINCE_AFTER_DELAY, None, id="other-station-2nd-working-day"),
        pytest.param(lock(), OTHER_STATION, T(2024, 6, 16, 14, 59), HOURS_48, RefusalReason.GREY_WAIT_DELAY,
                     None, T(2024, 6, 16, 15), id="48h-minus-1min"),
        pytest.param(lock(), OTHER_STATION, T(2024, 6, 16, 15), HOURS_48, ALLOW,
                     UnlockRule.PROVINCE_AFTER_DELAY, None, id="48h-exactly"),
        pytest.param(lock(JIANGSU_CARD), JIANGSU_STATION, T(2024, 6, 18), WORKING_DAYS, ALLOW,
                     UnlockRule.PROVINCE_AFTER_DELAY, None, id="issuing-province-after-delay"),
        pytest.param(lock(JIANGSU_CARD), JIANGSU_STATION, T(2024, 6, 17), WORKING_DAYS,
                     RefusalReason.GREY_WAIT_DELAY, None, T(2024, 6, 18), id="issuing-province-before-delay"),
        pytest.param(lock(JIANGSU_CARD), OTHER_STATION, T(2024, 6, 18), WORKING_DAYS, ALLOW,
                     UnlockRule.PROVINCE_AFTER_DELAY, None, id="locking-province-after-delay"),
        pytest.param(lock(), JIANGSU_STATION, T(2025, 1, 1), WORKING_DAYS, RefusalReason.GREY_OTHER_PROVINCE,
                     None, None, id="other-province-never"),
        pytest.param(lock(JIANGSU_CARD), GUANGDONG_STATION, T(2025, 1, 1), WORKING_DAYS,
                     RefusalReason.GREY_OTHER_PROVINCE, None, None, id="neither-province"),
    ],
)  # fmt: skip
def test_may_unlock(
    grey: GreyLock,
    here: Place,
    now: dt.datetime,
    config: RulesConfig,
    reason: RefusalReason,
    rule: UnlockRule | None,
    opens: dt.datetime | None,
) -> None:
    verdict = may_unlock(grey, here, now, CAL, config)
    assert (verdict.allowed, verdict.reason, verdict.rule, verdict.unlockable_from) == (
        reason is ALLOW,
        reason,
        rule,
        opens,
    )


def test_short_card_number_uses_only_the_locking_province() -> None:
    grey = GreyLock("12345678", LOCKED_AT, LOCK_PLACE, 100)
    assert grey.issuing_province is None
    assert may_unlock(grey, OTHER_STATION, T(2024, 6, 18), CAL, WORKING_DAYS).allowed
    assert may_unlock(grey, JIANGSU_STATION, T(2024, 6, 18), CAL, WORKING_DAYS).reason is (
        RefusalReason.GREY_OTHER_PROVINCE
    )


def test_explicit_issuing_province_wins_over_the_asn() -> None:
    grey = GreyLock(BEIJING_CARD, LOCKED_AT, LOCK_PLACE, 100, issuing_province=JIANGSU)
    assert may_unlock(grey, JIANGSU_STATION, T(2024, 6, 18), CAL, WORKING_DAYS).allowed


@pytest.mark.parametrize("where", ["now", "locked_at"])
def test_aware_times_are_refused(where: str) -> None:
    aware = LOCKED_AT.replace(tzinfo=dt.UTC)
    with pytest.raises(BadClock):
        if where == "now":
            may_unlock(lock(), OTHER_STATION, aware, CAL, WORKING_DAYS)
        else:
            GreyLock(BEIJING_CARD, aware, LOCK_PLACE, 100)


# -- properties -------------------------------------------------------------------------------------------

moments = st.datetimes(min_value=T(2024, 1, 1), max_value=T(2024, 12, 31))
STATION_PROVINCES = {"00000001": BEIJING, "00000002": BEIJING, "00000032": JIANGSU, "00000044": GUANGDONG}
places = st.builds(
    lambda station, dispenser: Place(station, dispenser, STATION_PROVINCES[station]),
    st.sampled_from(sorted(STATION_PROVINCES)),
    st.integers(1, 3),
)
configs = st.sampled_from([WORKING_DAYS, HOURS_48, RulesConfig(grey_delay_working_days=0)])


@given(moments, places, places, moments, configs)
def test_unlock_is_allowed_in_either_province_once_the_delay_is_over(
    locked_at: dt.datetime, where: Place, here: Place, now: dt.datetime, config: RulesConfig
) -> None:
    grey = GreyLock(JIANGSU_CARD, locked_at, where, 100)
    verdict = may_unlock(grey, here, now, CAL, config)
    opens = CAL.delay_end(
        locked_at,
        config.grey_delay_mode,
        hours=config.grey_delay_hours,
        working_days=config.grey_delay_working_days,
    )
    if here.province in (where.province, JIANGSU) and now >= opens:
        assert verdict.allowed
    if here.province not in (where.province, JIANGSU):
        assert verdict.allowed is here.same_dispenser(where)
    assert verdict.allowed is (verdict.reason is RefusalReason.NONE)
    assert (verdict.unlockable_from is not None) is (
        verdict.reason in (RefusalReason.GREY_WAIT_DELAY, RefusalReason.GREY_OTHER_PUMP_AFTER_LOCK_DAY)
    )
    if verdict.unlockable_from is not None:
        assert verdict.unlockable_from > now
