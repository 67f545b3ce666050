"""The question and the answer of the card rules: `CardRequest`, `DecisionContext`, `Decision`.

Layer: edge (pure rules core). `decide(request, context) -> Decision` lives in `edge.rules.decide`.

The context is everything around the card: the clock (`now`, a naive station-local datetime: the
dispensers' TIME7 and every stored time are naive local, so the rules never convert time zones), the
place, the lists, the calendar, the daily counters and the settings. It is cheap to build one per
decision with `dataclasses.replace(context, now=...)`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from edge.rules.asn import CardKind
from edge.rules.calendar import WorkingCalendar
from edge.rules.cards import CardFacts, ConsumptionMode
from edge.rules.config import RulesConfig
from edge.rules.counters import CounterView
from edge.rules.errors import BadClock
from edge.rules.grey import UnlockVerdict
from edge.rules.lists import ListView
from edge.rules.place import Place
from protocol.reasons import RefusalReason, encode_m_flag

__all__ = ["CardRequest", "Decision", "DecisionContext", "RuleWarning", "WarningKind"]


@dataclass(frozen=True, slots=True)
class CardRequest:
    """A card presented at a nozzle, with what is known about the sale so far.

    On the 0x36 path only the card is known (no nozzle lifted yet): the product, price and preset rules
    are skipped and are applied again when the request carries them.
    """

    card: CardFacts
    product_code: str | None = None
    """The nozzle's product (G_CODE, 4 digits), when known."""
    nozzle_prices: tuple[int, ...] = ()
    """The nozzle's price per level (levels 0, 1, 2; fen per unit). A single price serves every level."""
    preset_amount: int | None = None
    """Money the customer asked for (fen), when a preset is known."""
    preset_volume: int | None = None
    """Volume the customer asked for (0.01 units), when a preset is known."""
    vehicle_plate: str | None = None
    """The vehicle's plate, when the controller knows it (plate reader or attendant entry)."""


@dataclass(frozen=True, slots=True)
class DecisionContext:
    """Everything the rules consult besides the card."""

    now: dt.datetime
    """The injected clock: naive station-local time. "Today" is `now.date()`."""
    here: Place
    """The station, dispenser and province where the card is presented."""
    lists: ListView
    calendar: WorkingCalendar
    counters: CounterView
    config: RulesConfig
    clock_trusted: bool = True
    """False while the wall clock is in doubt (a step was seen): no rule may rely on the date or a delay."""

    def __post_init__(self) -> None:
        if self.now.tzinfo is not None:
            raise BadClock(self.now)


class WarningKind(StrEnum):
    """Things the attendant must know about an allowed card."""

    CYLINDER_DUE = "cylinder_due"
    """Cylinder inspection falls due within the alarm advance days (today included)."""
    LOST_CARD_PENDING = "lost_card_pending"
    """Reported lost, but the loss is not in force yet: sales are the holder's risk."""
    CHECK_PLATE = "check_plate"
    """Plate-bound card and the controller does not know the vehicle's plate."""
    GREY_DEBIT_FIRST = "grey_debit_first"
    """Grey card: the amount owed is debited before the new sale."""


@dataclass(frozen=True, slots=True)
class RuleWarning:
    """A warning with its attendant text (English) and the facts it names (its date, amount, plate), so
    it can be shown in the attendant's language from its kind and facts (`protocol.words.WARNING_TEXT`)."""

    kind: WarningKind
    words: str
    due: dt.date | None = None
    amount: int | None = None
    plate: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer for one card. Refusals carry the first rule that failed (rules run in spec §4 order)."""

    allowed: bool
    reason: RefusalReason
    """`RefusalReason.NONE` when allowed."""
    words: str
    """What the attendant reads: the refusal, or "Card accepted." followed by every warning (English;
    shown translated from `reason`, `detail` + `detail_facts` and the warnings' kinds and facts)."""
    detail: str = ""
    """A refusal's detail as an English template (`"Inspection was due on {date}."`), '' for none."""
    detail_facts: Mapping[str, str] = field(default_factory=dict)
    """The values of the detail's placeholders."""
    warnings: tuple[RuleWarning, ...] = ()
    card_kind: CardKind | None = None
    consumption_mode: ConsumptionMode = ConsumptionMode.PREPAID_AMOUNT
    """Which balance is debited: money or volume, on the card (prepaid) or on a credit line (credit)."""
    price_level: int = 0
    unit_price: int | None = None
    """Fen per unit to charge. None when no nozzle price was given, when refused, and for prepaid-volume
    cards (priced at top-up time: the debit is volume)."""
    max_amount: int | None = None
    """The most money this sale may take (per-fill cap, today's remaining amount, balance or credit);
    None = no local limit."""
    max_volume: int | None = None
    """The most volume this sale may take, likewise."""
    grey_unlock: UnlockVerdict | None = None
    """For a grey card whose grey record the station holds: the unlock verdict, whatever rule decided
    (when allowed, the dispenser debits the amount owed first, through 0x35)."""

    @property
    def m_flag(self) -> int:
        """The 0x36 answer's M_FLAG for this decision (see `protocol.reasons`)."""
        internal = self.card_kind is not None and self.card_kind.internal
        return encode_m_flag(not self.allowed, self.reason, internal=internal)
