"""Cards as the simulator plays them: user, employee and other internal cards, CNG cards, grey locks.

Layer: firmware-sim (pure). A card is mutable: a sale debits its balance and advances its transaction
counter (CTC); pulling it mid-sale leaves it grey-locked (`GreyLock`) until a dispenser unlocks it
through the controller (0x35). The card number (ASN, 20 digits) carries the card type in byte 2 and
the issuing province in bytes 3-4::

    digits  0..3   4..5   6   7..8      9..19
            issuer kind   0   province  serial       kind 01 user, 04 employee, 05/06 internal
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field
from enum import StrEnum

from protocol.cng import CardClass, CngProfile, ConsumptionMode

ASN_DIGITS = 20
ISSUER_PREFIX = "1000"
DEFAULT_USER_BALANCE_FEN = 500_000
USER_BALANCE_RANGE_FEN = (100_000, 2_000_000)
CYLINDER_VALID_DAYS = (60, 900)


class CardKind(StrEnum):
    """Scenario names of the card kinds; the code is ASN byte 2."""

    USER = "user"
    EMPLOYEE = "employee"
    MAINTENANCE = "maintenance"
    VERIFY = "verify"
    CNG = "cng"

    @property
    def code(self) -> str:
        return _KIND_CODES[self]


_KIND_CODES = {
    CardKind.USER: "01",
    CardKind.CNG: "01",
    CardKind.EMPLOYEE: "04",
    CardKind.MAINTENANCE: "05",
    CardKind.VERIFY: "06",
}
INTERNAL_CODES = frozenset({"04", "05", "06"})


def is_internal(asn: str) -> bool:
    """Internal cards (ASN byte 2 = 04/05/06) are checked against the white list."""
    return len(asn) == ASN_DIGITS and asn[4:6] in INTERNAL_CODES


def province_of(asn: str) -> int | None:
    """Issuing province `((ASN[3] & 0x0F) << 4) | (ASN[4] >> 4)` as a byte (0x11 Beijing)."""
    if len(asn) != ASN_DIGITS or not asn.isdigit():
        return None
    return int(asn[7:9], 16)


def make_asn(kind: CardKind, province: str, serial: int) -> str:
    """A 20-digit ASN of `kind`, issued in `province` (2 BCD digits), with an 11-digit serial."""
    return f"{ISSUER_PREFIX}{kind.code}0{province}{serial % 10**11:011d}"


@dataclass(slots=True)
class GreyLock:
    """What a grey-locked card remembers of the unfinished sale (and the 0x35 query repeats)."""

    bal: int
    """Balance before the sale (the grey record's BAL)."""
    amn: int
    """Amount owed."""
    ctc: int
    ds: int
    time: dt.datetime
    gtac: int = 0
    gmac: int = 0
    station: str = ""
    """Where it was locked (information only)."""
    dispenser: int = -1
    nozzle: int = -1


@dataclass(slots=True)
class Card:
    asn: str
    kind: CardKind
    balance: int = 0
    """Money on the card, fen."""
    ctc: int = 0
    """Card transaction counter; +1 per debit."""
    card_st: int = 0
    """CARD_ST reported in 0x31 ST=1."""
    grey: GreyLock | None = None
    cng: CngProfile | None = None
    emp: int = 1
    """Employee number (employee cards), the EMP of duty records."""
    in_use: bool = field(default=False, compare=False)
    """Held in a reader right now (the traffic generator never draws such a card)."""

    @property
    def internal(self) -> bool:
        return is_internal(self.asn)

    @property
    def price_level(self) -> int:
        return self.cng.price_level if self.cng is not None else 0

    @property
    def ic_data(self) -> bytes:
        """IC_DATA of the card-inserted sub-record: the CNG profile for CNG cards, else nothing."""
        return self.cng.build() if self.cng is not None else b""


def employee_number(asn: str) -> int:
    """Default EMP of an employee card: its last two digits (1..99; 00 becomes 100)."""
    value = int(asn[-2:]) if asn[-2:].isdigit() else 1
    return value or 100


class CardPool:
    """The generated cards the random traffic draws from: user, CNG and employee cards of one province."""

    def __init__(
        self,
        rng: random.Random,
        province: str,
        today: dt.date,
        users: int = 200,
        cng: int = 50,
        employees: int = 8,
    ) -> None:
        self.cards: dict[str, Card] = {}
        for i in range(users):
            self._add(
                Card(
                    make_asn(CardKind.USER, province, 1_000 + i),
                    CardKind.USER,
                    rng.randint(*USER_BALANCE_RANGE_FEN),
                )
            )
        for i in range(cng):
            valid = today + dt.timedelta(days=rng.randint(*CYLINDER_VALID_DAYS))
            profile = CngProfile(
                card_class=rng.choice([int(c) for c in CardClass]),
                mode=ConsumptionMode.PREPAID_AMOUNT,
                price_level=rng.randint(0, 2),
                cylinder_valid_until=valid,
                plate=f"京A{rng.randint(10000, 99999)}",
            )
            asn = make_asn(CardKind.CNG, province, 5_000 + i)
            self._add(Card(asn, CardKind.CNG, rng.randint(*USER_BALANCE_RANGE_FEN), cng=profile))
        for i in range(employees):
            asn = make_asn(CardKind.EMPLOYEE, province, 9_000 + i + 1)
            self._add(Card(asn, CardKind.EMPLOYEE, emp=employee_number(asn)))

    def _add(self, card: Card) -> None:
        self.cards[card.asn] = card

    def add(self, card: Card) -> None:
        """Add or replace a card (scenario cards)."""
        self._add(card)

    def get(self, asn: str) -> Card | None:
        return self.cards.get(asn)

    def draw(self, rng: random.Random, kinds: frozenset[CardKind]) -> Card | None:
        """A random card of one of `kinds` that is not in a reader."""
        free = [c for c in self.cards.values() if c.kind in kinds and not c.in_use]
        return rng.choice(free) if free else None

    def employee_by_emp(self, emp: int) -> Card | None:
        return next((c for c in self.cards.values() if c.kind is CardKind.EMPLOYEE and c.emp == emp), None)
