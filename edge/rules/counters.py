"""Per-card daily counters: fills, amount and volume used today.

Layer: edge (pure rules core). Values only; the daemon persists them (storage) so that they survive a
restart, as a dict from `DailyCounters.to_dict()` read back with `DailyCounters.from_dict()`.

Day boundary [project choice]: "today" is the calendar date of the injected clock, in naive station-local
time. A sale counts on the local date of its sale time (the record's TIME, i.e. when the sale started), so
a fill that starts at 23:59 and ends at 00:03 counts on the day it started. Counters hold one day: a sale
dated after the held day starts a new day; a late sale dated before it (a re-sent record from yesterday)
changes nothing, since it can no longer affect any limit.

What counts as a fill: every delivery the card paid for or owes, i.e. normal sales (T_TYPE 0) and grey
records (T_TYPE 1: fuel was delivered, the debit follows on unlock), but not the unlock debit itself
(T_TYPE 3), which would count the same fuel twice. A record with zero amount and zero volume is no fill.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

from edge.rules.asn import check_asn
from edge.rules.errors import BadClock, BadCounters

__all__ = ["ZERO_USAGE", "CounterView", "DailyCounters", "DayUsage", "add_sale"]


@dataclass(frozen=True, slots=True)
class DayUsage:
    """What one card used on one day."""

    fills: int = 0
    amount: int = 0
    """Money, in fen."""
    volume: int = 0
    """Volume, in 0.01 units."""

    def to_dict(self) -> dict[str, int]:
        return {"fills": self.fills, "amount": self.amount, "volume": self.volume}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DayUsage:
        """Read back `to_dict()`; raises `BadCounters` on anything else."""
        if not isinstance(data, Mapping) or set(data) != {"fills", "amount", "volume"}:
            raise BadCounters("day usage needs exactly fills, amount and volume", data)
        values = [data["fills"], data["amount"], data["volume"]]
        if not all(type(v) is int and v >= 0 for v in values):
            raise BadCounters("day usage values must be non-negative integers", data)
        return cls(*values)


ZERO_USAGE = DayUsage()


def add_sale(usage: DayUsage, amount: int, volume: int) -> DayUsage:
    """`usage` plus one sale; a sale of nothing is no fill."""
    if amount < 0 or volume < 0:
        raise BadCounters("a sale cannot be negative", (amount, volume))
    if amount == 0 and volume == 0:
        return usage
    return DayUsage(usage.fills + 1, usage.amount + amount, usage.volume + volume)


class CounterView(Protocol):
    """What the rules ask about counters. `DailyCounters` implements it; so may a storage-backed view."""

    def usage(self, asn: str, day: dt.date) -> DayUsage:
        """What `asn` used on `day` (zero when nothing is known)."""
        ...


def _frozen(cards: Mapping[str, DayUsage]) -> Mapping[str, DayUsage]:
    return MappingProxyType(dict(cards))


@dataclass(frozen=True, slots=True)
class DailyCounters:
    """The counters of every card that bought something on `day`."""

    day: dt.date
    cards: Mapping[str, DayUsage] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if isinstance(self.day, dt.datetime):
            raise BadCounters("day must be a date, not a datetime", self.day)
        if not isinstance(self.cards, MappingProxyType):
            object.__setattr__(self, "cards", _frozen(self.cards))

    def usage(self, asn: str, day: dt.date) -> DayUsage:
        if day != self.day:
            return ZERO_USAGE
        return self.cards.get(asn, ZERO_USAGE)

    def for_day(self, day: dt.date) -> DailyCounters:
        """The counters as seen on `day`: unchanged on the held day, empty on a later one."""
        if day <= self.day:
            return self
        return DailyCounters(day)

    def with_sale(self, asn: str, sale_time: dt.datetime, amount: int, volume: int) -> DailyCounters:
        """The counters after a sale that started at `sale_time` (naive station-local)."""
        check_asn(asn)
        if sale_time.tzinfo is not None:
            raise BadClock(sale_time)
        day = sale_time.date()
        if day < self.day:
            return self
        base = self.for_day(day)
        after = add_sale(base.cards.get(asn, ZERO_USAGE), amount, volume)
        if after is base.cards.get(asn, ZERO_USAGE):
            return base
        cards = dict(base.cards)
        cards[asn] = after
        return DailyCounters(day, MappingProxyType(cards))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready snapshot: `{"day": "YYYY-MM-DD", "cards": {asn: {fills, amount, volume}}}`."""
        return {
            "day": self.day.isoformat(),
            "cards": {asn: usage.to_dict() for asn, usage in sorted(self.cards.items())},
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DailyCounters:
        """Read back `to_dict()`; raises `BadCounters` on anything else."""
        if not isinstance(data, Mapping) or set(data) != {"day", "cards"}:
            raise BadCounters("counters need exactly day and cards", data)
        try:
            day = dt.date.fromisoformat(data["day"])
        except (TypeError, ValueError) as exc:
            raise BadCounters("counters day is not an ISO date", data) from exc
        cards = data["cards"]
        if not isinstance(cards, Mapping):
            raise BadCounters("counters cards is not a mapping", data)
        parsed: dict[str, DayUsage] = {}
        for asn, usage in cards.items():
            if not isinstance(asn, str) or not asn.isdigit():
                raise BadCounters("counters key is not a card number", asn)
            parsed[asn] = DayUsage.from_dict(usage)
        return cls(day, MappingProxyType(parsed))
