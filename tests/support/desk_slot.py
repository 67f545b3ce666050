"""The desk's card slot over the simulator's virtual card, in process (no pcscd), for service tests.

reader = LocalSlot(slot)                      # slot: station_sim.card.slot.CardSlot
ops = CardOps(service, reader, authority)     # edge.devices.desk.cardops
fresh_card("cng", balance=5000)               # a new VirtualCard with a unique number
"""

from __future__ import annotations

import itertools

from station_sim.card.core import VirtualCard
from station_sim.card.slot import CardSlot

from edge.devices.desk.card import CardAccess
from edge.devices.desk.errors import NoCard
from edge.devices.desk.psam import SoftPsam
from tests.support.cardsim import TERMINAL, LocalChannel, deck, make_card

_serials = itertools.count(900_000)


class LocalSlot:
    """`edge.devices.desk.cardops.CardSlot` over a simulator `CardSlot`."""

    def __init__(self, slot: CardSlot) -> None:
        self.slot = slot
        self.channel = LocalChannel(slot)

    async def open(self) -> CardAccess:
        if not self.slot.present:
            raise NoCard("no card in the local reader")
        return CardAccess(self.channel, SoftPsam(TERMINAL), self.slot.atr() or b"")

    def put(self, card: VirtualCard) -> VirtualCard:
        self.slot.remove()
        self.slot.insert(card)
        return card


def fresh_card(kind: str = "user", **keys: object) -> VirtualCard:
    """A virtual card with a number never used before in this process; `keys` are deck keys written as
    TOML values (`balance=500`, `issued=False`, `vehicle='{ cylinder_valid_until = 2027-01-01 }'`)."""
    asn = f"1000010110{next(_serials):010d}"
    lines = ['name = "c"', f'asn = "{asn}"', f'kind = "{kind}"']
    for key, value in keys.items():
        text = str(value).lower() if isinstance(value, bool) else str(value)
        lines.append(f"{key} = {text}")
    return make_card(deck("[[card]]\n" + "\n".join(lines) + "\n")["c"])
