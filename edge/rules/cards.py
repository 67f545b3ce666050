"""Card facts: everything the rules know about one presented card.

Layer: edge (pure rules core). The daemon assembles a `CardFacts` from the dispenser's card-inserted
sub-record (0x31 ST=1: ASN, card status, balance, and the CNG profile of spec B5), the card statuses the
system keeps (lost, cancelled, ...) and the grey record it holds, if any. Unknown facts are None and the
rule that needs them is skipped (e.g. no balance known: no balance check), with one exception: a CNG
vehicle profile without a cylinder date is refused ("not registered").

`ConsumptionMode` is the wire's enum (`protocol.cng`, spec B5), re-exported here; non-CNG cards are
prepaid-amount (electronic purse). Units are the wire's: money in fen, volume in 0.01 L (0.01 m³ or kg for CNG), prices in fen per unit.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import StrEnum

from edge.rules.asn import CardKind, card_kind_from_asn, check_asn, province_from_asn
from edge.rules.errors import BadCardNumber, BadClock
from edge.rules.grey import GreyLock
from protocol.cng import ConsumptionMode

__all__ = [
    "NO_LIMITS",
    "CardFacts",
    "CardLimits",
    "CardStatus",
    "CngProfile",
    "ConsumptionMode",
    "in_volume",
    "is_credit",
]


class CardStatus(StrEnum):
    """Card status as kept by the system (spec §1.4). Grey is not a status here: see `CardFacts.grey`."""

    NORMAL = "normal"
    LOST = "lost"
    BLACKLISTED = "blacklisted"
    CANCELLED = "cancelled"
    REPLACED = "replaced"
    DAMAGED = "damaged"


def is_credit(mode: ConsumptionMode) -> bool:
    """Credit modes: the balance is what was used since the last clearing, capped by a credit line."""
    return mode in (ConsumptionMode.CREDIT_AMOUNT, ConsumptionMode.CREDIT_VOLUME)


def in_volume(mode: ConsumptionMode) -> bool:
    """The balance (and the debit) is gas volume, not money."""
    return mode in (ConsumptionMode.PREPAID_VOLUME, ConsumptionMode.CREDIT_VOLUME)


@dataclass(frozen=True, slots=True)
class CngProfile:
    """The CNG vehicle data a CNG card carries (holder file EF16 and vehicle file EF0D; spec B5)."""

    card_class: int
    """Issuer-defined card class (taxi, bus, fleet, ...); see `RulesConfig.accepted_card_classes`."""
    mode: ConsumptionMode
    price_level: int
    """Which of the nozzle's prices (0, 1 or 2) this card pays."""
    cylinder_valid_until: dt.date | None
    """Cylinder inspection valid-until date; None = cylinder not registered (refused)."""
    plate: str = ""
    """The vehicle plate written on the card (shown to the attendant)."""
    credit_line: int | None = None
    """Credit modes: the most the card may owe (fen or volume units); None = no local cap."""


@dataclass(frozen=True, slots=True)
class CardLimits:
    """Card restrictions (limits file EF1C); None or empty means "no limit"."""

    per_fill_amount: int | None = None
    """Most money per fill (fen)."""
    per_fill_volume: int | None = None
    """Most volume per fill (0.01 units)."""
    fills_per_day: int | None = None
    amount_per_day: int | None = None
    volume_per_day: int | None = None
    restricted_products: frozenset[str] = frozenset()
    """The only product codes (G_CODE, 4 digits) the card may buy; empty = any product."""
    restricted_plate: str | None = None
    """The only vehicle plate the card may fill."""
    fixed_station_id: str | None = None
    """The only station where the card may be used."""


NO_LIMITS = CardLimits()


@dataclass(frozen=True, slots=True)
class CardFacts:
    """One card as presented. `kind` and `issuing_province` are read from a 20-digit ASN when not given."""

    asn: str
    kind: CardKind | None = None
    """None after construction means the kind code is unknown (refused)."""
    issuing_province: int | None = None
    status: CardStatus = CardStatus.NORMAL
    status_since: dt.datetime | None = None
    """When the status was set (for a lost card: when the loss was reported); naive local time."""
    valid_from: dt.date | None = None
    """Issuer file start date; None = unknown."""
    valid_until: dt.date | None = None
    """Issuer file expiry date (still valid on that day); None = unknown."""
    pin_locked: bool = False
    grey: bool = False
    """The card is grey-locked (card status from the dispenser)."""
    grey_lock: GreyLock | None = None
    """The grey record this station holds for it (same ASN); None = not found."""
    balance: int | None = None
    """Prepaid modes: what is on the card; credit modes: what was used since clearing. None = unknown."""
    home_station_id: str | None = None
    """Internal cards: the station they belong to, when the card says so."""
    cng: CngProfile | None = None
    limits: CardLimits = field(default=NO_LIMITS)

    def __post_init__(self) -> None:
        check_asn(self.asn)
        if self.status_since is not None and self.status_since.tzinfo is not None:
            raise BadClock(self.status_since)
        if self.grey_lock is not None and self.grey_lock.asn != self.asn:
            raise BadCardNumber(self.grey_lock.asn)
        if self.kind is None:
            object.__setattr__(self, "kind", card_kind_from_asn(self.asn))
        if self.issuing_province is None:
            object.__setattr__(self, "issuing_province", province_from_asn(self.asn))

    @property
    def mode(self) -> ConsumptionMode:
        """The consumption mode: the CNG profile's, else prepaid amount."""
        return self.cng.mode if self.cng is not None else ConsumptionMode.PREPAID_AMOUNT

    @property
    def price_level(self) -> int:
        """The price level: the CNG profile's, else 0."""
        return self.cng.price_level if self.cng is not None else 0
