"""A desk on a real database with the simulator's virtual card in an in-process reader (no pytest here).

`DeskRig` = the rules authority of `authority_testkit.Rig` (its clock: Wednesday 2026-01-14 10:00 local),
a `DeskService` with `CardOps` over a `LocalSlot`, and helpers to tear, pull and re-insert the card.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from authority_testkit import Rig
from station_sim.card.core import VirtualCard
from station_sim.card.slot import TearMode, TearPlan
from station_sim.card.state import CardState

from edge.control import messages as m
from edge.devices.desk.cardops import CardOps
from edge.devices.desk.ledger import Actor
from edge.devices.desk.service import DeskService
from storage.db import Database
from storage.outbox import Outbox
from tests.support.cardsim import deck, make_slot
from tests.support.desk_slot import LocalSlot

ANN = Actor("ann", "operator")
BOSS = Actor("boss", "senior")
STATION_ID = "DEMO-0001"

DECK = """
[[card]]
name = "taxi"
asn = "10000101100000000017"
kind = "cng"
balance = 50000
vehicle = { cylinder_valid_until = 2026-01-20, plate = "京A12345", cylinder_id = "CY-1", vehicle_class = 1 }

[[card]]
name = "grey"
asn = "10000101100000000018"
kind = "user"
balance = 80000
grey = { terminal = "000000000009", serial = 7, locked_at = 2026-01-14T08:00:00 }

[[card]]
name = "blank"
asn = "10000101100000000019"
kind = "user"
balance = 0
issued = false

[[card]]
name = "locked_pin"
asn = "10000101100000000020"
kind = "user"
pin_tries = 0

[[card]]
name = "bank"
kind = "foreign"

[[card]]
name = "garbage"
asn = "10000101100000000021"
kind = "user"
garbage = ["EF16"]
"""


class DeskRig:
    def __init__(
        self, db: Database, card: str = "taxi", state_file: Path | None = None, state: CardState | None = None
    ) -> None:
        self.rules = Rig(db)
        self.db = db
        self.cards = deck(DECK)
        self.slot, self.card = make_slot(state or self.cards[card], state_file)
        self.reader = LocalSlot(self.slot)
        self.service = DeskService(db, STATION_ID, self.rules.authority.statuses,
                                   local_clock=lambda: self.rules.clock.now)  # fmt: skip
        self.ops = CardOps(self.service, self.reader, self.rules.authority, alarms=self.rules.alarms)
        self.service.cards = self.ops

    def swap(self, name: str) -> VirtualCard:
        from tests.support.cardsim import make_card

        card = make_card(self.cards[name])
        self.slot.remove()
        self.slot.insert(card)
        self.card = card
        return card

    def tear(self, at: int, mode: TearMode) -> None:
        self.slot.arm(TearPlan(at, mode))

    def reinsert(self) -> None:
        if not self.slot.present and self.slot.ejected is not None:
            self.slot.insert(self.slot.ejected)

    async def run(self, request: Any, actor: Actor = ANN) -> tuple[Any, str, Any]:
        return await self.service.card_operation(actor, request)

    async def messages(self) -> list[str]:
        return [msg.key for _seq, msg in await Outbox(self.db).peek(1000) if msg.key.startswith("desk:")]


def topup(amount: int, payment: str = "cash") -> m.DeskTopup:
    return m.DeskTopup(amount=amount, payment=payment)
