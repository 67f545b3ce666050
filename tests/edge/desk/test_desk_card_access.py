"""CardAccess over the in-process virtual card: reading, PIN, load, grey unlock, writes, tears, bad cards."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from station_sim.card.core import VirtualCard
from station_sim.card.slot import CardSlot, TearMode, TearPlan
from station_sim.card.state import load_state
from support.cardsim import TERMINAL, LocalChannel, deck, make_slot

from edge.devices.desk.card import CardAccess, CardKind
from edge.devices.desk.errors import (
    CardNotGenuine,
    CardNotGrey,
    CardRefused,
    CardRemoved,
    CardUnreadable,
    ForeignCard,
    LoadIntent,
    LoadTorn,
    PinIncorrect,
    PinLocked,
    ReaderGone,
    TornPhase,
    UnlockTorn,
    WriteTorn,
)
from edge.devices.desk.psam import SoftPsam
from protocol.card.errors import InsufficientBalance, MacRejected
from protocol.card.files import HolderFile, IssuerFile, IssueState, LimitsFile, TxType, VehicleFile
from protocol.card.keys import TEST_MASTER_KEYS, KeySet

DECK = """
[[card]]
name = "taxi"
kind = "cng"
balance = 10000
ed_balance = 300
pin = "1234"
holder = { name = "张三", id_number = "110101199001011234", price_level = 1, discount_bp = 150 }
vehicle = { cylinder_valid_until = 2026-12-12, plate = "京A12345", cylinder_id = "CY-1", vehicle_class = 1 }
limits = { fills_per_day = 3, max_per_sale = 50000 }
credit = { credit_line = 20000 }

[[card]]
name = "blank"
asn = "10000101100000000099"
issued = false

[[card]]
name = "employee"
kind = "employee"

[[card]]
name = "bank"
kind = "foreign"

[[card]]
name = "garbage"
garbage = ["EF16"]

[[card]]
name = "grey"
balance = 5000
grey = { terminal = "000000000009", serial = 7, locked_at = 2026-12-01T08:00:00 }
"""
WHEN = dt.datetime(2026, 12, 2, 10, 0, 0)


def access(
    name: str, state_file: Path | None = None
) -> tuple[CardAccess, CardSlot, VirtualCard, LocalChannel]:
    slot, card = make_slot(deck(DECK)[name], state_file)
    channel = LocalChannel(slot)
    return CardAccess(channel, SoftPsam(TERMINAL)), slot, card, channel


async def test_read_gives_the_whole_card() -> None:
    acc, _, card, _ = access("taxi")
    image = await acc.read()
    assert image.asn == card.state.asn and image.kind is CardKind.CNG and image.issued
    assert (image.balance, image.ep.online_counter, image.ep.offline_counter) == (10000, 0, 0)
    assert image.ed is not None and image.ed.balance == 300
    assert image.holder.name == "张三" and image.price_level == 1 and image.holder.discount_bp == 150
    assert image.vehicle is not None and image.vehicle.plate == "京A12345"
    assert image.cylinder_days_left(dt.date(2026, 12, 2)) == 10
    assert image.limits == LimitsFile(fills_per_day=3, max_per_sale=50000)
    assert image.credit is not None and image.credit.credit_line == 20000
    assert not image.is_grey and image.log == () and image.pin_tries_left == 3


async def test_kinds_and_absent_files() -> None:
    acc, *_ = access("employee")
    image = await acc.read()
    assert image.kind is CardKind.EMPLOYEE and image.vehicle is None and image.ed is None


async def test_foreign_and_garbage_cards_are_typed_errors() -> None:
    acc, *_ = access("bank")
    with pytest.raises(ForeignCard):
        await acc.read()
    acc, *_ = access("garbage")
    with pytest.raises(CardUnreadable) as info:
        await acc.read()
    assert info.value.file == "EF16" and len(info.value.raw) == 41


async def test_pin_wrong_then_locked() -> None:
    acc, _, card, _ = access("taxi")
    await acc.read()
    await acc.verify_pin("1234")
    with pytest.raises(PinIncorrect) as info:
        await acc.verify_pin("0000")
    assert info.value.tries_left == 2
    with pytest.raises(PinIncorrect):
        await acc.verify_pin("0000")
    with pytest.raises(PinLocked):
        await acc.verify_pin("0000")
    assert (await acc.read()).pin_blocked
    await acc.reload_pin("8888")
    await acc.verify_pin("8888")
    await acc.change_pin("8888", "999999")
    assert card.state.pin == "999999"


async def test_load_two_phase_with_intent_recorded_first() -> None:
    acc, _, card, _ = access("taxi")
    await acc.read()
    seen: list[tuple[LoadIntent, int]] = []

    async def record(intent: LoadIntent) -> None:
        seen.append((intent, card.state.ep.balance))  # the card untouched while the intent is recorded

    result = await acc.load(2500, WHEN, on_intent=record)
    assert seen[0][1] == 10000 and seen[0][0].balance_before == 10000 and seen[0][0].balance_after == 12500
    assert (result.balance_before, result.balance_after, result.online_counter) == (10000, 12500, 0)
    assert result.tac_ok
    image = await acc.read()
    assert (image.balance, image.ep.online_counter) == (12500, 1)
    assert image.log[0].tx_type == TxType.EP_LOAD and image.log[0].amount == 2500
    assert await acc.transaction_proof(TxType.EP_LOAD, 0) is not None
    assert await acc.transaction_proof(TxType.EP_LOAD, 1) is None


async def test_load_refused_by_a_card_with_other_keys() -> None:
    acc, _, card, _ = access("taxi")
    other = KeySet(
        purchase=bytes(16), load=bytes(range(16)), tac=bytes(16), maintenance=bytes(16), pin_reload=bytes(16)
    )
    foreign_psam = SoftPsam(TERMINAL, other)
    stranger = CardAccess(acc._channel, foreign_psam)
    with pytest.raises(CardNotGenuine):
        await stranger.load(100, WHEN)
    assert card.state.ep.balance == 10000


async def test_invalid_amounts_are_refused_before_any_apdu() -> None:
    acc, _, _, channel = access("taxi")
    with pytest.raises(ValueError):
        await acc.load(0, WHEN)
    with pytest.raises(ValueError):
        await acc.load(-5, WHEN)
    assert channel.sent == []


LOAD_APDUS = 4  # SELECT, READ EF15, INITIALIZE FOR LOAD, CREDIT FOR LOAD


@pytest.mark.parametrize("mode", list(TearMode))
@pytest.mark.parametrize("at", range(1, LOAD_APDUS + 1))
async def test_load_torn_at_every_apdu_is_loaded_once_or_not_at_all(
    mode: TearMode, at: int, tmp_path: Path
) -> None:
    state_file = tmp_path / "card.json"
    acc, slot, card, _ = access("taxi", state_file)
    slot.arm(TearPlan(at, mode))
    with pytest.raises(LoadTorn) as info:
        await acc.load(2500, WHEN)
    torn = info.value
    assert isinstance(torn.cause, CardRemoved)
    assert not slot.present
    applied = at == LOAD_APDUS and mode is TearMode.AFTER
    if at < LOAD_APDUS:
        assert torn.phase is TornPhase.BEFORE_WRITE
    else:
        assert torn.phase is TornPhase.AT_WRITE and torn.intent is not None
        assert torn.intent.balance_before == 10000 and torn.intent.online_counter == 0
    # re-insert and decide from the card (what the two-phase recovery does)
    slot.insert(slot.ejected or card)
    again = CardAccess(LocalChannel(slot), SoftPsam(TERMINAL))
    image = await again.read()
    assert image.balance == (12500 if applied else 10000)
    assert image.ep.online_counter == (1 if applied else 0)
    if state_file.exists():
        assert load_state(state_file).ep.balance == image.balance
    proof = await again.transaction_proof(TxType.EP_LOAD, 0)
    assert (proof is not None) == applied


async def test_reader_gone_during_a_load() -> None:
    acc, _, card, channel = access("taxi")
    await acc.read()
    prepared = await acc.prepare_load(100, WHEN)
    channel.unplug()
    with pytest.raises(LoadTorn) as info:
        await acc.commit_load(prepared)
    assert isinstance(info.value.cause, ReaderGone) and info.value.phase is TornPhase.AT_WRITE
    assert card.state.ep.balance == 10000
    with pytest.raises(ReaderGone):
        await acc.read()


async def test_grey_unlock_debits_the_amount_owed() -> None:
    acc, _, card, _ = access("grey")
    image = await acc.read()
    assert image.is_grey and image.grey.terminal_id == bytes.fromhex("000000000009")
    assert image.grey.locked_at == dt.datetime(2026, 12, 1, 8, 0, 0)
    result = await acc.unlock_grey(1234, WHEN)
    assert (result.balance_before, result.balance_after) == (5000, 3766) and result.tac_ok
    image = await acc.read()
    assert not image.is_grey and image.balance == 3766 and image.log[0].tx_type == TxType.GREY_UNLOCK
    with pytest.raises(CardNotGrey):
        await acc.unlock_grey(1234, WHEN)
    assert card.state.ep.balance == 3766


async def test_grey_unlock_with_a_wrong_gmac_or_too_much_is_refused() -> None:
    acc, _, card, _ = access("grey")
    with pytest.raises(CardRefused) as info:
        await acc.unlock_grey(1234, WHEN, gmac=bytes(4))
    assert isinstance(info.value.error, MacRejected)
    with pytest.raises(CardRefused) as info:
        await acc.unlock_grey(9999, WHEN)
    assert isinstance(info.value.error, InsufficientBalance)
    assert card.state.ep.balance == 5000 and (await acc.read()).is_grey


async def test_lock_then_unlock_with_the_psam_gmac() -> None:
    acc, _, _, _ = access("taxi")
    locked = await acc.grey_lock(WHEN)
    assert locked.mac2_ok
    image = await acc.read()
    assert image.is_grey and image.grey.gtac == locked.gtac
    with pytest.raises(CardRefused):
        await acc.load(100, WHEN)  # a grey card takes no load
    await acc.unlock_grey(100, WHEN + dt.timedelta(minutes=5))
    assert (await acc.read()).balance == 9900


UNLOCK_APDUS = 5  # SELECT, READ EF15, GREY STATUS, GET BALANCE, DEBIT FOR UNLOCK


@pytest.mark.parametrize("mode", list(TearMode))
@pytest.mark.parametrize("at", range(1, UNLOCK_APDUS + 1))
async def test_unlock_torn_at_every_apdu(mode: TearMode, at: int) -> None:
    acc, slot, card, _ = access("grey")
    slot.arm(TearPlan(at, mode))
    with pytest.raises(UnlockTorn) as info:
        await acc.unlock_grey(1000, WHEN)
    applied = at == UNLOCK_APDUS and mode is TearMode.AFTER
    assert (info.value.intent is not None) == (at == UNLOCK_APDUS)
    slot.insert(slot.ejected or card)
    image = await CardAccess(LocalChannel(slot), SoftPsam(TERMINAL)).read()
    assert (image.balance, image.is_grey) == ((4000, False) if applied else (5000, True))


async def test_issue_a_blank_card() -> None:
    acc, _, _, _ = access("blank")
    image = await acc.read()
    assert not image.issued
    with pytest.raises(CardRefused):
        await acc.load(100, WHEN)
    issuer = IssuerFile(
        asn=image.asn,
        valid_from=dt.date(2026, 12, 2),
        valid_until=dt.date(2031, 12, 1),
        issue_state=IssueState.ISSUED,
    )
    await acc.issue(
        issuer,
        HolderFile(name="王五", id_number="X1", price_level=2),
        VehicleFile(dt.date(2027, 1, 1), "沪B00001", "CY-9", 2, 0),
        LimitsFile(max_per_day=100000),
    )
    image = await acc.read()
    assert image.issued and image.kind is CardKind.CNG and image.holder.name == "王五"
    assert image.issuer.valid_until == dt.date(2031, 12, 1)
    await acc.load(100, WHEN)
    with pytest.raises(ValueError):
        await acc.issue(IssuerFile(asn="9" * 20, valid_from=None, valid_until=None), HolderFile())


async def test_change_the_cylinder_date_and_a_torn_write() -> None:
    acc, slot, card, _ = access("taxi")
    updated = await acc.set_cylinder_date(dt.date(2029, 3, 1))
    assert updated.plate == "京A12345"
    assert (await acc.read()).cylinder_valid_until == dt.date(2029, 3, 1)
    slot.arm(TearPlan(2, TearMode.BEFORE))  # READ EF0D, then UPDATE torn
    with pytest.raises(WriteTorn) as info:
        await acc.set_cylinder_date(dt.date(2030, 1, 1))
    assert info.value.file == "EF0D"
    slot.insert(slot.ejected or card)
    assert (await CardAccess(LocalChannel(slot), SoftPsam(TERMINAL)).read()).cylinder_valid_until == dt.date(
        2029, 3, 1
    )


Op = Callable[[CardAccess], Awaitable[object]]


async def test_no_card_is_card_removed() -> None:
    slot = CardSlot()
    with pytest.raises(CardRemoved):
        await CardAccess(LocalChannel(slot), SoftPsam(TERMINAL)).read()


def test_test_master_keys_are_the_documented_ones() -> None:
    assert TEST_MASTER_KEYS.purchase == b"TESTPURCHASEKEY1"


tears = st.none() | st.tuples(st.integers(1, LOAD_APDUS), st.sampled_from(list(TearMode)))


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 100_000), tears), min_size=1, max_size=8))
def test_loads_with_random_tears_never_load_twice(
    steps: list[tuple[int, tuple[int, TearMode] | None]],
) -> None:
    async def run() -> None:
        slot, card = make_slot(deck(DECK)["taxi"])
        expected = card.state.ep.balance
        for amount, tear in steps:
            if not slot.present:
                slot.insert(slot.ejected or card)
            acc = CardAccess(LocalChannel(slot), SoftPsam(TERMINAL))
            before = (card.state.ep.balance, card.state.ep.online_counter)
            if tear is not None:
                slot.arm(TearPlan(*tear))
            try:
                result = await acc.load(amount, WHEN)
                assert result.balance_after == before[0] + amount
            except LoadTorn:
                pass
            slot.arm(None)
            after = (card.state.ep.balance, card.state.ep.online_counter)
            assert after in (before, (before[0] + amount, before[1] + 1))
            expected += after[0] - before[0]
        if not slot.present:
            slot.insert(slot.ejected or card)
        image = await CardAccess(LocalChannel(slot), SoftPsam(TERMINAL)).read()
        assert image.balance == expected
        loads = [r for r in image.log if r.tx_type == TxType.EP_LOAD]
        assert len(loads) == min(image.ep.online_counter, len(image.log))

    asyncio.run(run())


async def test_online_unlock_at_an_issuing_outlet() -> None:
    acc, _, card, _ = access("grey")
    with pytest.raises(CardRefused) as info:
        await acc.online_unlock(9999, WHEN)  # more than the balance
    assert isinstance(info.value.error, InsufficientBalance)
    result = await acc.online_unlock(1200, WHEN)
    assert (result.balance_before, result.balance_after, result.online) == (
        5000,
        3800,
        True,
    ) and result.tac_ok
    image = await acc.read()
    assert not image.is_grey and image.balance == 3800 and image.ep.online_counter == 1
    assert image.log[0].tx_type == TxType.ONLINE_UNLOCK and image.log[0].amount == 1200
    assert await acc.transaction_proof(TxType.ONLINE_UNLOCK, 0) is not None
    with pytest.raises(CardNotGrey):
        await acc.online_unlock(1, WHEN)
    assert card.state.ep.balance == 3800


ONLINE_UNLOCK_APDUS = 5  # SELECT, READ EF15, GREY STATUS, INITIALIZE FOR ONLINE UNLOCK, ONLINE UNLOCK


@pytest.mark.parametrize("mode", list(TearMode))
@pytest.mark.parametrize("at", range(1, ONLINE_UNLOCK_APDUS + 1))
async def test_online_unlock_torn_at_every_apdu(mode: TearMode, at: int) -> None:
    acc, slot, card, _ = access("grey")
    slot.arm(TearPlan(at, mode))
    with pytest.raises(UnlockTorn) as info:
        await acc.online_unlock(1000, WHEN)
    applied = at == ONLINE_UNLOCK_APDUS and mode is TearMode.AFTER
    intent = info.value.intent
    assert (intent is not None) == (at == ONLINE_UNLOCK_APDUS)
    slot.insert(slot.ejected or card)
    image = await CardAccess(LocalChannel(slot), SoftPsam(TERMINAL)).read()
    assert (image.balance, image.is_grey, image.ep.online_counter) == (
        (4000, False, 1) if applied else (5000, True, 0)
    )
    if intent is not None:
        assert intent.online and intent.terminal_serial == 0 and intent.balance_after == 4000


async def test_garbage_issuer_file_and_garbage_grey_status() -> None:
    state = deck(DECK)["taxi"]
    state.files[IssuerFile.SFI] = bytes(10) + b"\xab" * 10 + bytes(10)
    slot, _ = make_slot(state)
    with pytest.raises(CardUnreadable) as info:
        await CardAccess(LocalChannel(slot), SoftPsam(TERMINAL)).read()
    assert info.value.file == "EF15"
    state = deck(DECK)["taxi"]
    state.grey = b"\x07" + bytes(29)
    slot, _ = make_slot(state)
    with pytest.raises(CardUnreadable) as info:
        await CardAccess(LocalChannel(slot), SoftPsam(TERMINAL)).read()
    assert info.value.file == "grey status"
