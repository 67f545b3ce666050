"""Who decides a card at the simulated dispenser (spec B10), the report before the question in multi-drop
(spec B1, revised), the sale request in IC_DATA and the degraded mode (no answer from the controller)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from station_sim.cards import Card, CardKind, make_asn
from station_sim.device import Decision, Dispenser

from protocol.cng import CngProfile, ConsumptionMode, parse_cng_profile
from protocol.messages import Content, DownloadStart, ErrorInfo, ListQuery, ListReply, NozzleInfo
from protocol.reasons import RefusalReason, encode_m_flag
from protocol.sale_request import SaleRequest, parse_sale_request, split_ic_data
from tests.sim.helpers import FakeClock, list_file, make_device, poll, user_card
from tests.sim.test_sim_device import download

ALLOW = encode_m_flag(False, RefusalReason.NONE)


def cng_card(serial: int, *, valid_until: dt.date = dt.date(2020, 1, 31), cap: int = 0) -> Card:
    profile = CngProfile(
        card_class=1,
        mode=ConsumptionMode.PREPAID_AMOUNT,
        price_level=0,
        cylinder_valid_until=valid_until,
        plate="京C54321",
        per_fill_cap=cap,
    )
    return Card(make_asn(CardKind.CNG, "11", serial), CardKind.CNG, 100_000, cng=profile)


def with_blacklists(dev: Dispenser, black: list[str]) -> Dispenser:
    download(dev, Content.BASE_BLACKLIST, list_file(2, black), bl_ver=2)
    download(dev, Content.ADDED_BLACKLIST, list_file(1, []), add_bl_ver=1)
    download(dev, Content.DELETED_BLACKLIST, list_file(1, []), del_bl_ver=1)
    return dev


def cards(events: list[dict[str, Any]]) -> dict[str, tuple[str, str, str]]:
    return {e["asn"]: (e["decision"], e["source"], e["reason_name"]) for e in events if e["event"] == "card"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_lists_decide_plain_user_cards_only_a_cng_card_is_always_asked(clock: FakeClock) -> None:
    events: list[dict[str, Any]] = []
    dev = with_blacklists(make_device(clock, events), [])
    plain, expired = user_card(70), cng_card(71)
    dev.insert_card(1, plain)
    dev.insert_card(2, expired)
    assert cards(events) == {plain.asn: ("allowed", "local", "NONE")}
    assert dev.nozzles[2].session is not None and dev.nozzles[2].session.decision is Decision.CHECKING
    report = dev.answer_poll(poll())  # the CNG card's report (with its profile) comes first ...
    assert isinstance(report, NozzleInfo)
    [entry] = [e for e in report.entries if e.nzn == 2]
    assert parse_cng_profile(entry.ic_data).cylinder_valid_until == dt.date(2020, 1, 31)  # type: ignore[union-attr]
    assert dev.answer_poll(poll()) == ListQuery(expired.asn)  # ... then the question


def test_a_dispenser_that_decides_everything_locally_lets_the_cng_card_through(clock: FakeClock) -> None:
    events: list[dict[str, Any]] = []
    dev = with_blacklists(make_device(clock, events, decides_everything_locally=True), [])
    expired = cng_card(72)
    dev.insert_card(2, expired)
    assert cards(events) == {expired.asn: ("allowed", "local", "NONE")}  # what the controller must prevent
    # Without the blacklists (withheld by the controller) even this dispenser has to ask.
    events.clear()
    other = make_device(clock, events, decides_everything_locally=True)
    other.insert_card(2, expired_again := cng_card(73))
    assert cards(events) == {}
    other.answer_poll(poll())
    assert other.answer_poll(poll()) == ListQuery(expired_again.asn)


def test_multidrop_reports_a_waiting_card_before_a_download_an_error_and_its_question(
    clock: FakeClock,
) -> None:
    dev = make_device(clock)
    for _ in range(5):
        dev.answer_poll(poll(prc_ver=9))  # a download is due ...
    dev.error_info("E01 pulser fault")  # ... and an error report
    card = user_card(74)
    dev.insert_card(1, card)
    first = dev.answer_poll(poll(prc_ver=9))
    assert isinstance(first, NozzleInfo) and [e.asn for e in first.entries] == [card.asn]  # type: ignore[union-attr]
    assert dev.answer_poll(poll(prc_ver=9)) == ListQuery(card.asn)
    dev.handle_host(ListReply(ALLOW, card.asn))
    assert isinstance(dev.answer_poll(poll(prc_ver=9)), ErrorInfo)


def test_the_sale_request_travels_with_the_card_and_caps_the_fill(clock: FakeClock) -> None:
    dev = make_device(clock)
    card = cng_card(75, valid_until=dt.date(2030, 1, 1), cap=6_000)
    dev.insert_card(2, card, request=SaleRequest(preset_amount=5_000, plate="京C54321"))
    report = dev.answer_poll(poll())
    assert isinstance(report, NozzleInfo)
    parts = split_ic_data(report.entries[0].ic_data)  # type: ignore[union-attr]
    assert parse_cng_profile(parts.profile).per_fill_cap == 6_000
    assert parse_sale_request(parts.request) == SaleRequest(preset_amount=5_000, plate="京C54321")
    assert dev.answer_poll(poll()) == ListQuery(card.asn)
    dev.handle_host(ListReply(ALLOW, card.asn))
    dev.lift(2)
    dev.fuel(2, amount=9_000)  # more than the preset and the cap: the dispenser stops at the preset
    clock.advance(10_000)
    record = dev.hang_up(2)
    assert record is not None and record.amn == 5_000


def test_no_answer_from_the_controller_refuses_the_card(clock: FakeClock) -> None:
    events: list[dict[str, Any]] = []
    dev = make_device(clock, events, card_answer_timeout_s=5)
    card = cng_card(76, valid_until=dt.date(2030, 1, 1))
    dev.insert_card(2, card)
    clock.advance(4)
    dev.advance()
    assert cards(events) == {}
    clock.advance(1)
    dev.advance()
    assert cards(events) == {card.asn: ("refused", "timeout", "CONTROLLER_UNREACHABLE")}
    assert dev.jobs.lists == []
    assert not isinstance(dev.answer_poll(poll()), ListQuery | DownloadStart)
