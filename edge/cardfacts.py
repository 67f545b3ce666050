"""Card facts from what a dispenser sent: the card-inserted report (0x31 ST=1) kept for the 0x36 query.

Layer: edge (pure core, plus a small cache). A 0x36 query carries only the ASN; the card's balance,
status and CNG profile (spec B5, IC_DATA) arrive in the 0x31 card-inserted sub-record. The session calls
`CardCache.saw` for every card-inserted entry (`Services.on_card`); the authority looks the card up by
(line, dispenser, ASN) when the 0x36 comes and builds `CardFacts` with `card_facts`:

    ASN          kind (byte 2) and issuing province (bytes 3-4), read by `edge.rules`
    BAL          CardFacts.balance for user cards (prepaid: what is on the card; credit modes: what was
                 used); internal cards get no balance check
    IC_DATA      a CNG profile (tag 'C') → CardFacts.cng + CardLimits (`edge.rules.from_wire_profile`);
                 then a sale request (tag 'R', `protocol.sale_request`): the preset and the vehicle
                 plate, for the per-fill cap and plate rules. Damaged IC_DATA is kept as
                 `profile_error`: the authority refuses such a card (it cannot be decided safely)
    CARD_ST      kept (shown in decisions); its bits are vendor-specific and not interpreted

A dispenser reports a waiting card (0x31 ST=1) before its 0x36 in both line modes (spec B1, revised).
When no report was seen the authority refuses the card (`CARD_DATA_MISSING`), unless `[rules]
require_card_report = false`; then it decides on the ASN and the lists alone and re-checks the card when
the report arrives. Entries expire after `ttl_s` and each dispenser keeps at most `PER_DISPENSER` cards.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from edge.rules import CardFacts, CardLimits, CngProfile, card_kind_from_asn, from_wire_profile
from protocol import cng as wire
from protocol.errors import ProtocolError
from protocol.messages import CardInserted
from protocol.sale_request import SaleRequest, parse_sale_request, split_ic_data

__all__ = ["PER_DISPENSER", "CardCache", "SeenCard", "card_facts"]

log = logging.getLogger(__name__)

PER_DISPENSER = 64


@dataclass(frozen=True, slots=True)
class SeenCard:
    """A card-inserted report as the controller saw it."""

    asn: str
    nzn: int
    card_st: int
    bal: int
    profile: CngProfile | None = None
    limits: CardLimits | None = None
    profile_error: str = ""
    seen_mono: float = 0.0
    request: SaleRequest | None = None
    """The preset and vehicle plate the dispenser reported with the card (sale-request block)."""


def parse_entry(entry: CardInserted, now_mono: float) -> SeenCard:
    profile = limits = request = None
    error = ""
    try:
        parts = split_ic_data(entry.ic_data)
        if parts.profile:
            profile, limits = from_wire_profile(wire.parse_cng_profile(parts.profile))
        if parts.request:
            request = parse_sale_request(parts.request)
    except ProtocolError as exc:
        error = str(exc)
        log.warning("card %s at nozzle %d: IC_DATA not readable: %s", entry.asn, entry.nzn, exc)
    return SeenCard(entry.asn, entry.nzn, entry.card_st, entry.bal, profile, limits, error, now_mono, request)


class CardCache:
    """The latest card-inserted report per (line, dispenser, ASN), for a limited time."""

    def __init__(self, ttl_s: float, *, mono: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._mono = mono
        self._cards: dict[tuple[str, int], OrderedDict[str, SeenCard]] = {}

    def saw(self, line: str, dispenser: int, entry: CardInserted) -> tuple[SeenCard, SeenCard | None]:
        """Remember a report; returns it and the previous report of the same card (None if new)."""
        cards = self._cards.setdefault((line, dispenser), OrderedDict())
        previous = cards.pop(entry.asn, None)
        if previous is not None and self._expired(previous):
            previous = None
        seen = parse_entry(entry, self._mono())
        if previous is not None and _same(previous, seen):
            seen = previous  # keep the first sighting's time: the report repeats every poll
        cards[entry.asn] = seen
        while len(cards) > PER_DISPENSER:
            cards.popitem(last=False)
        return seen, previous

    def get(self, line: str, dispenser: int, asn: str) -> SeenCard | None:
        cards = self._cards.get((line, dispenser))
        seen = None if cards is None else cards.get(asn)
        if seen is None or self._expired(seen):
            return None
        return seen

    def _expired(self, seen: SeenCard) -> bool:
        return self._mono() - seen.seen_mono > self.ttl_s


def _same(a: SeenCard, b: SeenCard) -> bool:
    return (a.nzn, a.card_st, a.bal, a.profile, a.limits, a.request, a.profile_error) == (
        b.nzn,
        b.card_st,
        b.bal,
        b.profile,
        b.limits,
        b.request,
        b.profile_error,
    )


def card_facts(asn: str, seen: SeenCard | None) -> CardFacts:
    """The rules' facts about a card (`edge.rules.BadCardNumber` when the ASN is not decimal digits)."""
    if seen is None:
        return CardFacts(asn=asn)
    kind = card_kind_from_asn(asn)
    # Internal cards carry no purse worth checking: their BAL is not a budget.
    balance = None if kind is not None and kind.internal else seen.bal
    if seen.profile is not None and seen.limits is not None:
        return CardFacts(asn=asn, balance=balance, cng=seen.profile, limits=seen.limits)
    return CardFacts(asn=asn, balance=balance)
