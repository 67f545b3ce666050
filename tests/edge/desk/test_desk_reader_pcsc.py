"""The desk reader against the REAL pcscd with vpcd readers and the simulator's virtual cards.

Hot-plug, insert / remove / swap as events, card access over PC/SC, a torn load, a foreign card in the
second reader, garbage files, and the PC/SC service vanishing mid-operation.
"""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from station_sim.card.core import VirtualCard
from station_sim.card.slot import TearMode, TearPlan
from station_sim.card.state import FUEL_ATR, load_state
from support.cardsim import TERMINAL, deck
from support.pcsc import PcscRig

from edge.devices.desk.card import CardAccess, CardKind
from edge.devices.desk.errors import (
    CardRemoved,
    CardUnreadable,
    ForeignCard,
    LoadTorn,
    NoCard,
    ReaderGone,
    TornPhase,
)
from edge.devices.desk.psam import SoftPsam
from edge.devices.desk.reader import DeskReader, EventKind, ReaderEvent

pytestmark = pytest.mark.e2e

DECK = """
[[card]]
name = "taxi"
kind = "cng"
balance = 10000
vehicle = { cylinder_valid_until = 2027-06-30, plate = "京A12345" }

[[card]]
name = "user"
balance = 777

[[card]]
name = "bank"
kind = "foreign"

[[card]]
name = "garbage"
garbage = ["EF0D", "EF16"]
"""
EVENT_TIMEOUT_S = 30.0
WHEN = dt.datetime(2026, 12, 2, 10, 0, 0)


def card(name: str) -> VirtualCard:
    return VirtualCard(deck(DECK)[name])


async def expect(reader: DeskReader, kind: EventKind, name: str) -> ReaderEvent:
    """The next event of `kind` for reader `name` (other events skipped), within a generous deadline."""
    async with asyncio.timeout(EVENT_TIMEOUT_S):
        while True:
            event = await reader.next_event()
            if event.kind is kind and event.reader == name:
                return event


async def present(reader: DeskReader, *names: str) -> None:
    """Until a card is in every reader of `names` (events of other readers are not lost: state is checked)."""
    async with asyncio.timeout(EVENT_TIMEOUT_S):
        while not all(reader.readers.get(n) is not None and reader.readers[n].present for n in names):
            await reader.next_event()


async def started(pcsc: PcscRig) -> DeskReader:
    reader = DeskReader()
    await reader.start()
    async with asyncio.timeout(EVENT_TIMEOUT_S):
        while not {pcsc.reader(0), pcsc.reader(1)} <= set(reader.readers):
            event = await reader.next_event()
            assert event.kind is EventKind.READER_ADDED
    return reader


async def test_insert_read_remove_and_swap(pcsc: PcscRig) -> None:
    reader = await started(pcsc)
    try:
        name = pcsc.reader(0)
        assert reader.readers[name].present is False
        with pytest.raises(NoCard):
            await reader.open(name)
        taxi = card("taxi")
        pcsc.cards.insert(0, taxi)
        inserted = await expect(reader, EventKind.CARD_INSERTED, name)
        assert inserted.atr == FUEL_ATR
        channel = await reader.open(name)
        image = await CardAccess(channel, SoftPsam(TERMINAL), channel.atr).read()
        assert image.asn == taxi.state.asn and image.kind is CardKind.CNG and image.balance == 10000
        assert image.cylinder_valid_until == dt.date(2027, 6, 30)

        pcsc.cards.remove(0)
        await expect(reader, EventKind.CARD_REMOVED, name)
        with pytest.raises(CardRemoved):
            await CardAccess(channel, SoftPsam(TERMINAL)).read()
        await channel.close()

        pcsc.cards.insert(0, taxi)
        await expect(reader, EventKind.CARD_INSERTED, name)
        user = card("user")
        pcsc.cards.swap(0, user)
        await expect(reader, EventKind.CARD_REMOVED, name)
        await expect(reader, EventKind.CARD_INSERTED, name)
        channel = await reader.open(name)
        image = await CardAccess(channel, SoftPsam(TERMINAL)).read()
        assert image.asn == user.state.asn and image.balance == 777 and image.kind is CardKind.USER
        await channel.close()
    finally:
        await reader.stop()


async def test_load_over_pcsc_and_a_torn_load(pcsc: PcscRig) -> None:
    reader = await started(pcsc)
    try:
        name = pcsc.reader(0)
        taxi = card("taxi")
        pcsc.cards.insert(0, taxi)
        await expect(reader, EventKind.CARD_INSERTED, name)
        channel = await reader.open(name)
        access = CardAccess(channel, SoftPsam(TERMINAL))
        await access.read()
        result = await access.load(1500, WHEN)
        assert result.balance_after == 11500 and result.tac_ok
        state_file = pcsc.daemon.workdir / f"{taxi.state.asn}.json"
        assert load_state(state_file).ep.balance == 11500

        pcsc.cards.arm(0, TearPlan(2, TearMode.AFTER))  # INITIALIZE answered, CREDIT applied and lost
        with pytest.raises(LoadTorn) as info:
            await access.load(2000, WHEN)
        assert info.value.phase is TornPhase.AT_WRITE and isinstance(info.value.cause, CardRemoved)
        assert info.value.intent is not None and info.value.intent.balance_before == 11500
        await expect(reader, EventKind.CARD_REMOVED, name)
        assert load_state(state_file).ep.balance == 13500  # the card applied it: the card decides
        await channel.close()

        pulled = pcsc.cards.remove(0)
        assert pulled is taxi
        pcsc.cards.insert(0, taxi)
        await expect(reader, EventKind.CARD_INSERTED, name)
        channel = await reader.open(name)
        image = await CardAccess(channel, SoftPsam(TERMINAL)).read()
        assert (image.balance, image.ep.online_counter) == (13500, 2)
        await channel.close()
    finally:
        await reader.stop()


async def test_second_reader_with_a_foreign_card_and_a_garbage_card(pcsc: PcscRig) -> None:
    reader = await started(pcsc)
    try:
        pcsc.cards.insert(0, card("taxi"))
        pcsc.cards.insert(1, card("bank"))
        await present(reader, pcsc.reader(0), pcsc.reader(1))
        foreign = await reader.open(pcsc.reader(1))
        with pytest.raises(ForeignCard):
            await CardAccess(foreign, SoftPsam(TERMINAL), foreign.atr).read()
        ours = await reader.open(pcsc.reader(0))
        assert (await CardAccess(ours, SoftPsam(TERMINAL)).read()).balance == 10000
        garbage = card("garbage")
        pcsc.cards.swap(1, garbage)
        await expect(reader, EventKind.CARD_REMOVED, pcsc.reader(1))
        await expect(reader, EventKind.CARD_INSERTED, pcsc.reader(1))
        await foreign.close()
        bad = await reader.open(pcsc.reader(1))
        with pytest.raises(CardUnreadable) as info:
            await CardAccess(bad, SoftPsam(TERMINAL)).read()
        assert info.value.file == "EF16"
        assert (
            garbage.state.ep.balance == 0
            and (await CardAccess(ours, SoftPsam(TERMINAL)).read()).balance == 10000
        )
        await bad.close()
        await ours.close()
    finally:
        await reader.stop()


async def test_pcscd_vanishing_mid_operation_then_coming_back(pcsc: PcscRig) -> None:
    reader = await started(pcsc)
    try:
        name = pcsc.reader(0)
        taxi = card("taxi")
        pcsc.cards.insert(0, taxi)
        await expect(reader, EventKind.CARD_INSERTED, name)
        channel = await reader.open(name)
        access = CardAccess(channel, SoftPsam(TERMINAL))
        await access.read()
        prepared = await access.prepare_load(500, WHEN)
        pcsc.daemon.kill()
        await expect(reader, EventKind.READER_GONE, name)
        await expect(reader, EventKind.READER_GONE, pcsc.reader(1))  # emitted in this order, after reader 0
        assert reader.readers == {}
        with pytest.raises(LoadTorn) as info:
            await access.commit_load(prepared)
        assert isinstance(info.value.cause, ReaderGone)
        assert taxi.state.ep.balance == 10000  # nothing loaded
        await channel.close()

        pcsc.cards.remove(0)
        pcsc.daemon.start()
        await expect(reader, EventKind.READER_ADDED, name)
        pcsc.cards.insert(0, taxi)
        await expect(reader, EventKind.CARD_INSERTED, name)
        channel = await reader.open(name)
        assert (await CardAccess(channel, SoftPsam(TERMINAL)).read()).balance == 10000
        await channel.close()
    finally:
        await reader.stop()


async def test_stop_is_prompt_and_clean(pcsc: PcscRig) -> None:
    reader = await started(pcsc)
    await reader.stop()
    await reader.stop()  # idempotent
    with pytest.raises(ReaderGone):
        await reader.open("no such reader")


async def test_power_lost_before_the_credit_loads_nothing(pcsc: PcscRig) -> None:
    reader = await started(pcsc)
    try:
        name = pcsc.reader(0)
        taxi = card("taxi")
        pcsc.cards.insert(0, taxi)
        await expect(reader, EventKind.CARD_INSERTED, name)
        channel = await reader.open(name)
        access = CardAccess(channel, SoftPsam(TERMINAL))
        await access.read()
        pcsc.cards.arm(0, TearPlan(2, TearMode.BEFORE))  # INITIALIZE answered; power lost as CREDIT arrives
        with pytest.raises(LoadTorn) as info:
            await access.load(2000, WHEN)
        assert info.value.phase is TornPhase.AT_WRITE and info.value.intent is not None
        await expect(reader, EventKind.CARD_REMOVED, name)
        assert taxi.state.ep.balance == 10000
        assert not (pcsc.daemon.workdir / f"{taxi.state.asn}.json").exists()  # the card never changed
        await channel.close()
        pcsc.cards.remove(0)
        pcsc.cards.insert(0, taxi)
        await expect(reader, EventKind.CARD_INSERTED, name)
        channel = await reader.open(name)
        again = CardAccess(channel, SoftPsam(TERMINAL))
        image = await again.read()
        assert (image.balance, image.ep.online_counter) == (10000, 0)
        assert await again.transaction_proof(0x02, 0) is None  # the card never made that load
        await channel.close()
    finally:
        await reader.stop()


async def test_a_reader_left_out_is_not_watched(pcsc: PcscRig) -> None:
    psam_slot = pcsc.reader(1)
    reader = DeskReader(accept=lambda name: name != psam_slot)
    await reader.start()
    try:
        await expect(reader, EventKind.READER_ADDED, pcsc.reader(0))
        pcsc.cards.insert(1, card("user"))
        pcsc.cards.insert(0, card("taxi"))
        await expect(reader, EventKind.CARD_INSERTED, pcsc.reader(0))
        assert set(reader.readers) == {pcsc.reader(0)}
    finally:
        await reader.stop()
