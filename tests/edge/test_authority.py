"""`edge.authority`: every 0x36 reason path, the 0x35 unlock rules with an injected clock, the re-check,
and that each decision is stored and published."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from authority_testkit import (
    BLACK,
    STAFF,
    STRANGER,
    USER,
    WEDNESDAY,
    Rig,
    asn,
    cng_entry,
    grey_record,
    list_set,
    sale_record,
)

from edge.rules import GreyDelayMode, RulesConfig
from edge.session import Where
from protocol.messages import GREY_FOUND, GREY_NOT_FOUND, CardInserted, GreyQuery, GreyReply, ListQuery
from protocol.reasons import RefusalReason, decode_m_flag, encode_m_flag
from protocol.sale_request import SaleRequest
from storage.db import Database
from storage.greys import RemoteGrey

R = RefusalReason
HERE = Where("bus1", 1)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "station.db")
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def rig(db: Database) -> Rig:
    return Rig(db)


def report(rig: Rig, card: str, where: Where = HERE, bal: int = 50_000) -> None:
    """The card-inserted 0x31 a dispenser sends before its 0x36 (spec B1): a plain card, no IC_DATA."""
    rig.authority.on_card(where.line, where.dispenser, CardInserted(1, card, 0, bal))


async def ask(rig: Rig, card: str, where: Where = HERE, *, reported: bool = True) -> tuple[bool, R | int]:
    """A 0x36 for `card`, after its report unless `reported` is False (a plain report is made when
    the dispenser did not report the card yet)."""
    if reported and rig.cards.get(where.line, where.dispenser, card) is None:
        report(rig, card, where)
    reply = await rig.authority.list_query(where, ListQuery(card))
    assert reply.asn == card
    internal = card[4:6] in ("04", "05", "06")
    return decode_m_flag(reply.m_flag, internal=internal)


# --- 0x36 ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("card", "refused", "reason", "m_flag"),
    [
        (USER, False, R.NONE, encode_m_flag(False, R.NONE)),
        (BLACK, True, R.BLACKLISTED, (4 << 1) | 0),
        (STAFF, False, R.NONE, encode_m_flag(False, R.NONE, internal=True)),
        (STRANGER, True, R.NOT_WHITELISTED, (9 << 1) | 1),
        (asn("02", 3), True, R.CARD_TYPE_UNKNOWN, (3 << 1) | 0),
        ("1000010110000000000F", True, R.CARD_TYPE_UNKNOWN, (3 << 1) | 0),
    ],
)
async def test_list_query_answers_from_the_rules(
    rig: Rig, card: str, refused: bool, reason: R, m_flag: int
) -> None:
    report(rig, card)
    reply = await rig.authority.list_query(HERE, ListQuery(card))
    assert reply.m_flag == m_flag
    assert decode_m_flag(reply.m_flag, internal=card[4:6] == "04") == (refused, reason)
    [stored] = await rig.decisions.all()
    assert (stored.kind, stored.asn, stored.allowed, stored.reason, stored.m_flag) == (
        "0x36",
        card,
        not refused,
        int(reason),
        m_flag,
    )
    assert stored.reason_name == reason.name and stored.words.startswith(reason.words)
    [event] = rig.published()
    assert (event.asn, event.line, event.dispenser, event.allowed, event.reason) == (
        card,
        "bus1",
        1,
        not refused,
        int(reason),
    )


async def test_a_card_report_gives_the_cng_profile_and_the_nozzle(rig: Rig) -> None:
    card = asn("01", 501)
    rig.authority.on_card("p2p1", 4, cng_entry(card, nzn=7, cylinder_valid_until=dt.date(2025, 12, 31)))
    assert await ask(rig, card, Where("p2p1", 4)) == (True, R.CYLINDER_EXPIRED)
    [stored] = await rig.decisions.all()
    assert stored.nzn == 7 and "2025-12-31" in stored.words
    assert stored.details["plate"] == "京B12345"  # kept for plate statements
    # The same card at another dispenser, whose reader never reported it: its data is missing, refused.
    assert await ask(rig, card, Where("p2p1", 5), reported=False) == (True, R.CARD_DATA_MISSING)


async def test_cylinder_due_soon_is_allowed_with_a_warning(rig: Rig) -> None:
    card = asn("01", 502)
    due = WEDNESDAY.date() + dt.timedelta(days=3)
    rig.authority.on_card("bus1", 1, cng_entry(card, cylinder_valid_until=due))
    assert await ask(rig, card) == (False, R.NONE)
    [stored] = await rig.decisions.all()
    # The card is bound to its vehicle and the dispenser did not report the plate: check it.
    assert [w["kind"] for w in stored.warnings] == ["cylinder_due", "check_plate"]
    [event] = rig.published()
    assert event.allowed and "in 3 days" in event.warnings[0]


async def test_missing_cylinder_date_and_refused_card_class(db: Database) -> None:
    rig = Rig(db, RulesConfig(accepted_card_classes=frozenset({1, 2})))
    unregistered, taxi, private = asn("01", 503), asn("01", 504), asn("01", 505)
    rig.authority.on_card("bus1", 1, cng_entry(unregistered, cylinder_valid_until=None))
    rig.authority.on_card("bus1", 1, cng_entry(taxi, card_class=1))
    rig.authority.on_card("bus1", 1, cng_entry(private, card_class=0))
    assert await ask(rig, unregistered) == (True, R.CYLINDER_NOT_REGISTERED)
    assert await ask(rig, taxi) == (False, R.NONE)
    assert await ask(rig, private) == (True, R.CARD_CLASS_NOT_ACCEPTED)


async def test_daily_fill_limit_counts_stored_sales(rig: Rig) -> None:
    card = asn("01", 506)
    rig.authority.on_card("p2p1", 4, cng_entry(card, nzn=7, fills_per_day=1))
    assert await ask(rig, card, Where("p2p1", 4)) == (False, R.NONE)
    record, raw = sale_record(1, card, WEDNESDAY - dt.timedelta(minutes=5))
    result = await rig.journal.store_record("p2p1", 4, record, raw, received_at=WEDNESDAY)
    await rig.counters.on_record("p2p1", 4, record, result)
    assert await ask(rig, card, Where("p2p1", 4)) == (True, R.FILLS_PER_DAY_REACHED)
    rig.clock.now += dt.timedelta(days=1)  # a new day: the limit starts again
    assert await ask(rig, card, Where("p2p1", 4)) == (False, R.NONE)


async def test_amount_per_day_and_a_zero_balance(rig: Rig) -> None:
    card, empty = asn("01", 507), asn("01", 508)
    rig.authority.on_card("bus1", 1, cng_entry(card, amount_per_day=4_000))
    rig.authority.on_card("bus1", 1, CardInserted(1, empty, 0, 0))
    record, raw = sale_record(1, card, WEDNESDAY, amn=4_000)
    result = await rig.journal.store_record("bus1", 1, record, raw, received_at=WEDNESDAY)
    await rig.counters.on_record("bus1", 1, record, result)
    assert await ask(rig, card) == (True, R.AMOUNT_PER_DAY_REACHED)
    assert await ask(rig, empty) == (True, R.BALANCE_TOO_LOW)


async def test_a_decision_reads_one_list_snapshot(rig: Rig) -> None:
    assert await ask(rig, USER) == (False, R.NONE)
    rig.lists.current = list_set([USER], [STAFF], generation=2)
    assert await ask(rig, USER) == (True, R.BLACKLISTED)
    first, second = await rig.decisions.all()
    assert (first.generation, second.generation) == (1, 2)


async def test_report_after_the_answer_triggers_a_recheck(db: Database) -> None:
    rig = Rig(db, require_report=False)  # dispensers that ask before they report the card
    card = asn("01", 509)
    assert await ask(rig, card, reported=False) == (False, R.NONE)  # decided on its number alone
    rig.authority.on_card("bus1", 1, cng_entry(card, cylinder_valid_until=dt.date(2020, 1, 31)))
    rig.authority.on_card("bus1", 1, cng_entry(card, cylinder_valid_until=dt.date(2020, 1, 31)))  # repeats
    item = rig.authority._rechecks.get_nowait()
    assert rig.authority._rechecks.empty()
    decision = await rig.authority.recheck(item.line, item.dispenser, item.seen)
    assert decision.reason is R.CYLINDER_EXPIRED
    kinds = [(d.kind, d.allowed, d.reason) for d in await rig.decisions.all()]
    assert kinds == [("0x36", True, 0), ("0x31", False, int(R.CYLINDER_EXPIRED))]
    [(source, code, severity, message)] = rig.alarms.raised
    assert (source, code, severity) == ("bus1/1", "card_recheck_refused", "critical")
    assert message.startswith("Stop the sale at nozzle 1:") and card in message
    assert "CYLINDER_EXPIRED" in message and R.CYLINDER_EXPIRED.words in message
    [details] = rig.alarms.details
    assert details == {
        "action": "stop_sale",
        "asn": card,
        "nzn": 1,
        "reason": "CYLINDER_EXPIRED",
        "rule": decision.words,
    }


@pytest.mark.parametrize(("card", "internal"), [(asn("01", 520), False), (STAFF, True)])
async def test_a_card_never_reported_is_refused_for_missing_data(rig: Rig, card: str, internal: bool) -> None:
    reply = await rig.authority.list_query(HERE, ListQuery(card))
    assert decode_m_flag(reply.m_flag, internal=internal) == (True, R.CARD_DATA_MISSING)
    [stored] = await rig.decisions.all()
    assert not stored.allowed and "No card report" in stored.words
    assert rig.authority._rechecks.empty()
    # Its report arrives later: nothing to re-check, the card was refused.
    report(rig, card)
    assert rig.authority._rechecks.empty()


async def test_unreadable_ic_data_is_refused_for_missing_data(rig: Rig) -> None:
    card = asn("01", 521)
    damaged = cng_entry(card).ic_data[:-3]
    rig.authority.on_card("bus1", 1, CardInserted(1, card, 0, 50_000, damaged))
    assert await ask(rig, card) == (True, R.CARD_DATA_MISSING)
    [stored] = await rig.decisions.all()
    assert "cannot be read" in stored.words


async def test_preset_above_the_per_fill_cap_and_the_vehicle_plate(rig: Rig) -> None:
    capped, bound = asn("01", 522), asn("01", 523)
    rig.authority.on_card(
        "bus1", 1, cng_entry(capped, per_fill_cap=5_000, request=SaleRequest(preset_amount=8_000))
    )
    assert await ask(rig, capped) == (True, R.PER_SALE_CAP)
    rig.authority.on_card(
        "bus1", 1, cng_entry(capped, per_fill_cap=5_000, request=SaleRequest(preset_amount=5_000))
    )
    assert await ask(rig, capped) == (False, R.NONE)
    rig.authority.on_card(
        "bus1", 2, cng_entry(bound, plate="京B12345", request=SaleRequest(plate="京B99999"))
    )
    assert await ask(rig, bound, Where("bus1", 2)) == (True, R.RESTRICTED_PLATE)
    rig.authority.on_card(
        "bus1", 3, cng_entry(bound, plate="京B12345", request=SaleRequest(plate="京B 12345"))
    )
    assert await ask(rig, bound, Where("bus1", 3)) == (False, R.NONE)
    refused = [d for d in await rig.decisions.all() if not d.allowed]
    assert [d.reason_name for d in refused] == ["PER_SALE_CAP", "RESTRICTED_PLATE"]
    assert "50.00" in refused[0].words and "京B12345" in refused[1].words


async def test_no_recheck_when_the_report_came_first(rig: Rig) -> None:
    card = asn("01", 510)
    rig.authority.on_card("bus1", 1, cng_entry(card))
    await ask(rig, card)
    rig.authority.on_card("bus1", 1, cng_entry(card))
    assert rig.authority._rechecks.empty()


# --- 0x35 ------------------------------------------------------------------------------------------


def query(record_time: dt.datetime, card: str = USER) -> GreyQuery:
    return GreyQuery(card, 80_000, 17, 0, record_time)


async def grey_ask(rig: Rig, where: Where, q: GreyQuery, *, reported: bool = True) -> GreyReply:
    """A 0x35 after the card's report (spec B1), unless `reported` is False."""
    if reported:
        report(rig, q.asn, where, bal=q.bal)
    return await rig.authority.grey_query(where, q)


async def store_grey(rig: Rig, line: str, dispenser: int, time: dt.datetime) -> None:
    record, raw = grey_record(time=time)
    await rig.journal.store_record(line, dispenser, record, raw, received_at=time)


async def test_grey_record_of_the_same_dispenser_is_given_at_once(rig: Rig) -> None:
    locked = WEDNESDAY - dt.timedelta(days=20)
    await store_grey(rig, "bus1", 1, locked)
    reply = await grey_ask(rig, HERE, query(locked))
    assert (reply.m_flag, reply.amn, reply.gmac, reply.psam_ttc) == (GREY_FOUND, 1_234, 0x55667788, 99)
    assert reply.psam_tid == bytes.fromhex("010203040506")
    [stored] = await rig.decisions.all()
    assert (stored.kind, stored.allowed, stored.m_flag) == ("0x35", True, GREY_FOUND)
    assert stored.details["grey_unlock"]["rule"] == "same_dispenser"
    assert [w["kind"] for w in stored.warnings] == ["grey_debit_first"]


async def test_same_station_other_dispenser_only_on_the_locking_day(rig: Rig) -> None:
    locked = WEDNESDAY - dt.timedelta(hours=2)
    await store_grey(rig, "bus1", 2, locked)
    assert (await grey_ask(rig, HERE, query(locked))).m_flag == GREY_FOUND
    # Same POS-P on another line is another dispenser.
    await store_grey(rig, "p2p1", 1, locked - dt.timedelta(days=1))
    reply = await grey_ask(rig, HERE, query(locked - dt.timedelta(days=1)))
    assert reply.m_flag == GREY_NOT_FOUND
    stored = (await rig.decisions.all())[-1]
    assert stored.reason == R.GREY_OTHER_PUMP_AFTER_LOCK_DAY


def remote(locked: dt.datetime, *, station: str = "00000077", province: int = 0x11) -> RemoteGrey:
    return RemoteGrey(
        asn=USER,
        bal=80_000,
        ctc=17,
        ds=0,
        time=locked,
        amn=2_000,
        gmac=0x0A0B0C0D,
        psam_tid=bytes.fromhex("AABBCCDDEEFF"),
        psam_ttc=5,
        station_id=station,
        province=province,
        dispenser=3,
    )


async def test_other_station_waits_two_working_days(rig: Rig) -> None:
    locked = dt.datetime(2026, 1, 16, 15, 0)  # a Friday afternoon
    await rig.remote.replace_all([remote(locked)])
    rig.clock.now = dt.datetime(2026, 1, 19, 23, 59)  # Monday: one working day after
    reply = await grey_ask(rig, HERE, query(locked))
    assert reply.m_flag == GREY_NOT_FOUND and reply.amn == 0
    refused = (await rig.decisions.all())[-1]
    assert refused.reason == R.GREY_WAIT_DELAY
    assert refused.details["grey_unlock"]["unlockable_from"] == "2026-01-20T00:00:00"
    assert "2026-01-20 00:00" in refused.words
    rig.clock.now = dt.datetime(2026, 1, 20, 0, 0)  # Tuesday 00:00: the delay is over
    reply = await grey_ask(rig, HERE, query(locked))
    assert (reply.m_flag, reply.amn, reply.gmac, reply.psam_ttc) == (GREY_FOUND, 2_000, 0x0A0B0C0D, 5)
    allowed = (await rig.decisions.all())[-1]
    assert allowed.allowed and allowed.details["grey_source"] == "centre"


async def test_the_calendar_moves_the_delay(rig: Rig) -> None:
    from storage.calendar import CalendarData

    locked = dt.datetime(2026, 1, 16, 15, 0)
    await rig.remote.replace_all([remote(locked)])
    rig.calendar.update(CalendarData(holidays=frozenset({dt.date(2026, 1, 19)})))
    rig.clock.now = dt.datetime(2026, 1, 20, 12, 0)
    assert (await grey_ask(rig, HERE, query(locked))).m_flag == GREY_NOT_FOUND
    assert (await rig.decisions.all())[-1].details["grey_unlock"]["unlockable_from"] == "2026-01-21T00:00:00"


async def test_hours_mode_and_other_province(db: Database) -> None:
    rig = Rig(db, RulesConfig(grey_delay_mode=GreyDelayMode.HOURS, grey_delay_hours=48))
    locked = WEDNESDAY - dt.timedelta(hours=47)
    far = WEDNESDAY - dt.timedelta(days=30)
    other = query(far, card=asn("01", 1, province="32"))
    await rig.remote.replace_all(
        [
            remote(locked),
            RemoteGrey(
                asn=other.asn, bal=80_000, ctc=17, ds=0, time=far, amn=1, gmac=1, psam_tid=bytes(6),
                psam_ttc=1, station_id="00000099", province=0x32, dispenser=1,
            ),
        ]
    )  # fmt: skip
    assert (await grey_ask(rig, HERE, query(locked))).m_flag == GREY_NOT_FOUND
    rig.clock.now += dt.timedelta(hours=1)
    assert (await grey_ask(rig, HERE, query(locked))).m_flag == GREY_FOUND
    assert (await grey_ask(rig, HERE, other)).m_flag == GREY_NOT_FOUND
    assert (await rig.decisions.all())[-1].reason == R.GREY_OTHER_PROVINCE


async def test_no_grey_record(rig: Rig) -> None:
    reply = await grey_ask(rig, HERE, query(WEDNESDAY))
    assert reply.m_flag == GREY_NOT_FOUND
    [stored] = await rig.decisions.all()
    assert (stored.allowed, stored.reason, stored.m_flag) == (False, R.GREY_RECORD_NOT_FOUND, GREY_NOT_FOUND)


async def test_a_grey_card_is_not_unlocked_when_the_rules_refuse_it(rig: Rig) -> None:
    """Unlocking lets the card fuel: a grey CNG card whose cylinder expired gets no grey record."""
    locked = WEDNESDAY - dt.timedelta(days=20)
    await store_grey(rig, "bus1", 1, locked)
    rig.authority.on_card("bus1", 1, cng_entry(USER, bal=80_000, cylinder_valid_until=dt.date(2020, 1, 31)))
    reply = await rig.authority.grey_query(HERE, query(locked))
    assert reply.m_flag == GREY_NOT_FOUND and reply.amn == 0
    [stored] = await rig.decisions.all()
    assert (stored.kind, stored.allowed, stored.reason_name) == ("0x35", False, "CYLINDER_EXPIRED")
    # Never reported: its data is missing, no grey record either.
    reply = await grey_ask(rig, Where("bus1", 2), query(locked), reported=False)
    assert reply.m_flag == GREY_NOT_FOUND
    assert (await rig.decisions.all())[-1].reason_name == "CARD_DATA_MISSING"
