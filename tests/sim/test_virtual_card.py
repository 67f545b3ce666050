"""The virtual card as a pure state machine: status words, sessions, PIN, MACs, persistence."""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

import pytest
from station_sim.card.core import VirtualCard
from station_sim.card.deck import DeckError, load_deck, parse_deck
from station_sim.card.slot import CardSlot, TearMode, TearPlan
from station_sim.card.state import CardState, load_state, save_state

from protocol.card import apdu, macs
from protocol.card.apdu import LoadInit, Purse
from protocol.card.files import HolderFile, IssuerFile, LogRecord, TxType, stamp_bcd
from protocol.card.keys import TEST_MASTER_KEYS
from protocol.pboc_crypto import load_seed, session_key

DECK = """
[[card]]
name = "taxi"
kind = "cng"
balance = 10000
pin = "1234"
vehicle = { cylinder_valid_until = 2027-06-30, plate = "京A12345" }

[[card]]
name = "blank"
issued = false

[[card]]
name = "bank"
kind = "foreign"

[[card]]
name = "grey"
balance = 5000
grey = { terminal = "000000000009", serial = 7, locked_at = 2026-12-01T08:00:00 }
"""
TERMINAL = bytes.fromhex("000000000042")
WHEN = dt.datetime(2026, 12, 2, 10, 0, 0)


def cards() -> dict[str, CardState]:
    return {c.name: c.state for c in parse_deck(DECK)}


def powered(state: CardState) -> VirtualCard:
    card = VirtualCard(state, rng=random.Random(1))
    card.power_on()
    return card


def sw(response: bytes) -> int:
    return int.from_bytes(response[-2:], "big")


def selected(name: str) -> VirtualCard:
    card = powered(cards()[name])
    assert sw(card.process(apdu.select_fid(apdu.FID_FUEL_APP))) == 0x9000
    return card


def test_commands_need_the_application_selected() -> None:
    card = powered(cards()["taxi"])
    assert sw(card.process(apdu.read_binary(IssuerFile.SFI))) == 0x6985
    assert sw(card.process(apdu.select_fid(apdu.FID_FUEL_APP))) == 0x9000
    raw = card.process(apdu.read_binary(IssuerFile.SFI))
    assert sw(raw) == 0x9000 and IssuerFile.parse(raw[:-2]).asn == card.state.asn


def test_foreign_card_has_no_fuel_application() -> None:
    card = powered(cards()["bank"])
    assert sw(card.process(apdu.select_fid(apdu.FID_FUEL_APP))) == 0x6A82


@pytest.mark.parametrize(
    ("raw", "want"),
    [
        ("00", 0x6700),
        ("00A4000005AABB", 0x6700),
        ("00A4000002AABB", 0x6A82),  # SELECT of a file the card does not have
        ("FFA4000002AABB", 0x6E00),
        ("55B0950000", 0x6E00),
        ("80FF000000", 0x6D00),
        ("00B0990000", 0x6A82),  # no EF19
        ("00B201C417", 0x6A83),  # empty log
        ("E07E09000B" + "00" * 11, 0x6985),  # ONLINE UNLOCK without its INITIALIZE
        ("E07A09020B01000000010000000000FF", 0x6A86),  # online unlock of the ED purse
        ("805200000B" + "00" * 11, 0x6985),  # CREDIT without INITIALIZE
        ("E07E08001B" + "00" * 27, 0x6985),  # unlock of a card that is not grey
    ],
)
def test_refusals(raw: str, want: int) -> None:
    card = selected("taxi")
    assert sw(card.process(bytes.fromhex(raw))) == want


def test_pin_three_tries_then_blocked_for_good() -> None:
    card = selected("taxi")
    assert sw(card.process(apdu.pin_tries())) == 0x63C3
    assert sw(card.process(apdu.verify_pin("0000"))) == 0x63C2
    assert sw(card.process(apdu.verify_pin("1234"))) == 0x9000  # a right PIN resets the count
    assert card.state.pin_tries == 3
    for left in (2, 1):
        assert sw(card.process(apdu.verify_pin("9999"))) == 0x63C0 | left
    assert sw(card.process(apdu.verify_pin("9999"))) == 0x6983
    assert sw(card.process(apdu.verify_pin("1234"))) == 0x6983  # even the right PIN now
    card.power_off()
    card.power_on()
    card.process(apdu.select_fid(apdu.FID_FUEL_APP))
    assert sw(card.process(apdu.pin_tries())) == 0x6983


def test_change_pin_and_reload_pin() -> None:
    card = selected("taxi")
    assert sw(card.process(apdu.change_pin("1234", "567890"))) == 0x9000
    assert sw(card.process(apdu.verify_pin("567890"))) == 0x9000
    card.state.pin_tries = 0
    keys = TEST_MASTER_KEYS.diversified(bytes.fromhex(card.state.asn))
    bad = apdu.reload_pin("4321", bytes(4))
    assert sw(card.process(bad)) == 0x9302
    good = apdu.reload_pin("4321", macs.pin_reload_mac(keys.pin_reload, apdu.pin_bytes("4321")))
    assert sw(card.process(good)) == 0x9000
    assert card.state.pin_tries == 3 and card.state.pin == "4321"


def _load(card: VirtualCard, amount: int, mac2: bytes | None = None) -> bytes:
    init_raw = card.process(apdu.init_load(Purse.EP, 1, amount, TERMINAL))
    assert sw(init_raw) == 0x9000
    init = LoadInit.parse(init_raw[:-2])
    keys = TEST_MASTER_KEYS.diversified(bytes.fromhex(card.state.asn))
    sk = session_key(keys.load, load_seed(init.rnd, init.online_counter))
    assert init.mac1 == macs.load_mac1(sk, init.balance, amount, TxType.EP_LOAD, TERMINAL)
    stamp = stamp_bcd(WHEN)
    if mac2 is None:
        mac2 = macs.load_mac2(sk, amount, TxType.EP_LOAD, TERMINAL, stamp)
    return card.process(apdu.credit_load(stamp, mac2))


def test_load_applies_once_with_the_right_mac() -> None:
    card = selected("taxi")
    assert sw(_load(card, 2500)) == 0x9000
    assert card.changed
    assert (card.state.ep.balance, card.state.ep.online_counter) == (12500, 1)
    record = LogRecord.parse(card.state.log[0])
    assert (record.counter, record.amount, record.tx_type, record.when) == (0, 2500, TxType.EP_LOAD, WHEN)
    # a replayed CREDIT FOR LOAD is refused: the INITIALIZE was consumed
    stamp = stamp_bcd(WHEN)
    assert sw(card.process(apdu.credit_load(stamp, bytes(4)))) == 0x6985
    assert card.state.ep.balance == 12500


def test_load_with_a_wrong_mac2_changes_nothing() -> None:
    card = selected("taxi")
    assert sw(_load(card, 2500, mac2=b"\0\0\0\0")) == 0x9302
    assert (card.state.ep.balance, card.state.ep.online_counter, card.state.log) == (10000, 0, [])


def test_a_command_between_initialize_and_credit_cancels_the_load() -> None:
    card = selected("taxi")
    card.process(apdu.init_load(Purse.EP, 1, 100, TERMINAL))
    card.process(apdu.get_balance(Purse.EP))
    assert sw(card.process(apdu.credit_load(stamp_bcd(WHEN), bytes(4)))) == 0x6985


def test_blank_and_grey_cards_refuse_money_commands() -> None:
    assert sw(selected("blank").process(apdu.init_load(Purse.EP, 1, 100, TERMINAL))) == 0x6985
    assert sw(selected("grey").process(apdu.init_load(Purse.EP, 1, 100, TERMINAL))) == 0x6985
    assert sw(selected("taxi").process(apdu.init_load(Purse.EP, 2, 100, TERMINAL))) == 0x9403


def test_update_binary_needs_a_challenge_and_the_right_mac() -> None:
    card = selected("taxi")
    data = HolderFile(name="李四", price_level=2).encode()
    header = apdu.update_binary_header(HolderFile.SFI, 0, len(data))
    keys = TEST_MASTER_KEYS.diversified(bytes.fromhex(card.state.asn))
    assert sw(card.process(apdu.update_binary(HolderFile.SFI, 0, data, bytes(4)))) == 0x6982
    challenge = card.process(apdu.get_challenge())[:-2]
    assert sw(card.process(apdu.update_binary(HolderFile.SFI, 0, data, bytes(4)))) == 0x9302
    challenge = card.process(apdu.get_challenge())[:-2]
    mac = macs.sm_mac(keys.maintenance, challenge, header + data)
    assert sw(card.process(apdu.update_binary(HolderFile.SFI, 0, data, mac))) == 0x9000
    assert HolderFile.parse(card.state.files[HolderFile.SFI]).name == "李四"


def test_the_asn_cannot_be_rewritten() -> None:
    card = selected("blank")
    other = IssuerFile(asn="1" * 20, valid_from=None, valid_until=None).encode()
    keys = TEST_MASTER_KEYS.diversified(bytes.fromhex(card.state.asn))
    challenge = card.process(apdu.get_challenge())[:-2]
    header = apdu.update_binary_header(IssuerFile.SFI, 0, len(other))
    mac = macs.sm_mac(keys.maintenance, challenge, header + other)
    assert sw(card.process(apdu.update_binary(IssuerFile.SFI, 0, other, mac))) == 0x6985


def test_slot_tear_after_applies_and_loses_the_response(tmp_path: Path) -> None:
    saved: list[int] = []
    slot = CardSlot(lambda c: (save_state(tmp_path / "card.json", c.state), saved.append(c.state.ep.balance)))
    card = VirtualCard(cards()["taxi"], rng=random.Random(3))
    slot.insert(card)
    assert slot.transmit(apdu.select_fid(apdu.FID_FUEL_APP)) == b"\x90\x00"
    slot.arm(TearPlan(1, TearMode.AFTER))
    assert slot.transmit(apdu.pin_tries()) is None
    assert not slot.present and slot.ejected is card
    slot.insert(card)
    slot.transmit(apdu.select_fid(apdu.FID_FUEL_APP))
    init = slot.transmit(apdu.init_load(Purse.EP, 1, 700, TERMINAL))
    assert init is not None
    li = LoadInit.parse(init[:-2])
    keys = TEST_MASTER_KEYS.diversified(bytes.fromhex(card.state.asn))
    sk = session_key(keys.load, load_seed(li.rnd, li.online_counter))
    mac2 = macs.load_mac2(sk, 700, TxType.EP_LOAD, TERMINAL, stamp_bcd(WHEN))
    slot.arm(TearPlan(1, TearMode.AFTER))
    assert slot.transmit(apdu.credit_load(stamp_bcd(WHEN), mac2)) is None
    assert load_state(tmp_path / "card.json").ep.balance == 10700  # applied and persisted
    assert saved == [10700]


def test_slot_tear_before_applies_nothing() -> None:
    slot = CardSlot()
    card = VirtualCard(cards()["taxi"], rng=random.Random(3))
    slot.insert(card)
    slot.arm(TearPlan(2, TearMode.BEFORE))
    assert slot.transmit(apdu.select_fid(apdu.FID_FUEL_APP)) == b"\x90\x00"
    assert slot.transmit(apdu.verify_pin("0000")) is None
    assert card.state.pin_tries == 3  # the wrong PIN never reached the card
    assert slot.transmit(apdu.pin_tries()) is None  # no card in the slot


def test_state_file_round_trip(tmp_path: Path) -> None:
    state = cards()["grey"]
    save_state(tmp_path / "s.json", state)
    assert load_state(tmp_path / "s.json") == state


def test_deck_problems_are_all_reported(tmp_path: Path) -> None:
    path = tmp_path / "deck.toml"
    path.write_text('[[card]]\nname = "a"\nkind = "bus"\npin = "12"\n[[card]]\nname = "a"\nasn = "12"\n')
    with pytest.raises(DeckError) as info:
        load_deck(path)
    text = "\n".join(info.value.problems)
    assert "card[0].kind" in text and "card[0].pin" in text and "card[1].asn" in text
    assert all(p.startswith(str(path)) for p in info.value.problems)
    with pytest.raises(DeckError):
        load_deck(tmp_path / "missing.toml")
    with pytest.raises(DeckError):
        parse_deck("[[card]\n")


def test_deck_grey_card_is_locked_with_a_valid_gtac() -> None:
    state = cards()["grey"]
    card = selected("grey")
    status = card.process(apdu.grey_status())
    assert status[0] == 0x01 and status[9:15] == bytes.fromhex("000000000009")
    assert state.ep.balance == 5000
