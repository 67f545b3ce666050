"""An in-process `Channel` over the simulator's pure virtual card: desk tests without pcscd.

A `CardSlot` holds the card (insert / remove / swap, tear injection); `LocalChannel` moves APDUs through
it and raises the desk's typed errors the way the PC/SC channel does: `CardRemoved` for no card or a
torn APDU, `ReaderGone` once `unplug()` was called.

    slot, card = make_slot(deck_card)         # or CardSlot() + slot.insert(VirtualCard(state))
    access = CardAccess(LocalChannel(slot), SoftPsam(TERMINAL))
    slot.arm(TearPlan(2, TearMode.AFTER))     # lose the response of the 2nd APDU from now
"""

from __future__ import annotations

import random
from pathlib import Path

from station_sim.card.core import VirtualCard
from station_sim.card.deck import DeckCard, parse_deck
from station_sim.card.slot import CardSlot
from station_sim.card.state import CardState, save_state

from edge.devices.desk.errors import CardRemoved, ReaderGone

TERMINAL = bytes.fromhex("000000000042")


class LocalChannel:
    """`edge.devices.desk.card.Channel` over a `CardSlot`."""

    def __init__(self, slot: CardSlot, reader: str = "local") -> None:
        self.slot = slot
        self.reader = reader
        self.gone = False
        self.sent: list[bytes] = []

    def unplug(self) -> None:
        self.gone = True

    async def transmit(self, apdu: bytes) -> bytes:
        if self.gone:
            raise ReaderGone(self.reader)
        self.sent.append(apdu)
        response = self.slot.transmit(apdu)
        if response is None:
            raise CardRemoved(f"no answer from the card in {self.reader}")
        return response


def deck(text: str) -> dict[str, CardState]:
    return {c.name: c.state for c in parse_deck(text, "<test deck>")}


def make_card(state: CardState, seed: int = 7) -> VirtualCard:
    return VirtualCard(state, rng=random.Random(seed))


def make_slot(
    card: DeckCard | CardState | VirtualCard, state_file: Path | None = None
) -> tuple[CardSlot, VirtualCard]:
    """A slot with `card` inserted; with `state_file`, the card's state saved there after every change."""
    if isinstance(card, DeckCard):
        card = card.state
    virtual = card if isinstance(card, VirtualCard) else make_card(card)
    on_change = None if state_file is None else (lambda c: save_state(state_file, c.state))
    slot = CardSlot(on_change)
    slot.insert(virtual)
    return slot, virtual
