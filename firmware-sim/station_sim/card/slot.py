"""A reader slot holding at most one virtual card, with tear fault injection.

Layer: firmware-sim (pure). The vpcd client and the in-process test channel both move APDUs through a
`CardSlot`, so a tear behaves the same way over the real pcscd and in unit tests.

A tear is armed for the n-th APDU from now (1 = the next one):

    AFTER   the card applies APDU n, then loses power before its response leaves: the response is lost
    BEFORE  the card loses power as APDU n arrives: nothing applied

Either way the card is out of the slot afterwards (pulled mid-operation); `transmit` returns None for
the torn APDU, and `ejected` holds the card until it is inserted again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from station_sim.card.core import VirtualCard

log = logging.getLogger(__name__)


class TearMode(StrEnum):
    AFTER = "after"  # response lost after the card applied the APDU
    BEFORE = "before"  # power off before the card applied the APDU


@dataclass(frozen=True, slots=True)
class TearPlan:
    at: int
    mode: TearMode

    def __post_init__(self) -> None:
        if self.at < 1:
            raise ValueError(f"a tear is armed for APDU 1 or later, got {self.at}")


class CardSlot:
    """The card in the reader, its power, the APDU count, an armed tear. `on_change(card)` persists."""

    def __init__(self, on_change: Callable[[VirtualCard], None] | None = None) -> None:
        self.card: VirtualCard | None = None
        self.ejected: VirtualCard | None = None
        self._on_change = on_change
        self._tear: TearPlan | None = None
        self._count = 0
        self.apdus = 0  # APDUs answered since the last insertion (for logs and tests)

    @property
    def present(self) -> bool:
        return self.card is not None

    def insert(self, card: VirtualCard) -> None:
        card.power_off()
        self.card = card
        self.ejected = None
        self.apdus = 0

    def remove(self) -> VirtualCard | None:
        card, self.card = self.card, None
        if card is not None:
            card.power_off()
        return card

    def arm(self, plan: TearPlan | None) -> None:
        """Tear the `plan.at`-th APDU from now (None disarms)."""
        self._tear = plan
        self._count = 0

    def power_on(self) -> bytes | None:
        return None if self.card is None else self.card.power_on()

    def power_off(self) -> None:
        if self.card is not None:
            self.card.power_off()

    def atr(self) -> bytes | None:
        return None if self.card is None else self.card.state.atr

    def transmit(self, apdu: bytes) -> bytes | None:
        """The card's response, or None: no card, or the APDU was torn (the card is then out)."""
        card = self.card
        if card is None:
            return None
        if not card.powered:
            card.power_on()
        self._count += 1
        plan = self._tear
        if plan is not None and self._count == plan.at:
            self._tear = None
            if plan.mode is TearMode.AFTER:
                response = card.process(apdu)
                self._changed(card)
                log.info(
                    "tear: APDU %d %s applied, response %s lost", plan.at, apdu[:4].hex(), response.hex()
                )
            else:
                log.info("tear: power lost before APDU %d %s", plan.at, apdu[:4].hex())
            self.ejected = self.remove()
            return None
        response = card.process(apdu)
        self.apdus += 1
        self._changed(card)
        return response

    def _changed(self, card: VirtualCard) -> None:
        if card.changed and self._on_change is not None:
            self._on_change(card)
