"""Typed errors of the local card rules.

Layer: edge (pure rules core). The rules never fail on a card: every card gets a `Decision`. These errors
mean the caller handed in something malformed (a card number that is not digits, an aware clock, a bad
configuration or a damaged counters snapshot); each leaf carries the offending value.
"""

from __future__ import annotations

from edge.errors import EdgeError

__all__ = ["BadCardNumber", "BadClock", "BadCounters", "BadRulesConfig", "RulesError"]


class RulesError(EdgeError, ValueError):
    """Root of every error raised by `edge.rules`."""


class BadCardNumber(RulesError):
    """A card number (ASN) is not a string of decimal digits of an accepted width."""

    def __init__(self, asn: object) -> None:
        super().__init__(f"not a card number: {asn!r}")
        self.asn = asn


class BadClock(RulesError):
    """A time is timezone-aware; the rules work on naive station-local time."""

    def __init__(self, value: object) -> None:
        super().__init__(f"expected a naive station-local datetime, got {value!r}")
        self.value = value


class BadRulesConfig(RulesError):
    """A `RulesConfig` or `WorkingCalendar` value is out of range."""

    def __init__(self, field: str, value: object) -> None:
        super().__init__(f"bad rules setting {field}={value!r}")
        self.field = field
        self.value = value


class BadCounters(RulesError):
    """A daily-counters snapshot (from storage) cannot be read back."""

    def __init__(self, message: str, data: object) -> None:
        super().__init__(message)
        self.data = data
