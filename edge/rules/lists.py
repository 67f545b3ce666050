"""The rules' read-only view of the black and white lists.

Layer: edge (pure rules core). The real store (a million entries or more, swapped atomically when the
centre sends a new version) lives in storage and implements `ListView`; the rules only ask two questions.
An implementation must answer from one consistent list version for the whole of a decision, and must not
block (no I/O): the rules run on the bus loop's path to the 0x36 answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol, runtime_checkable

__all__ = ["InMemoryLists", "ListView"]


@runtime_checkable
class ListView(Protocol):
    """Membership questions about the effective lists. ASNs are digit strings (20 digits, or a shorter
    CNG card number): a view must answer False, not raise, for a number its lists cannot hold."""

    def is_blacklisted(self, asn: str) -> bool:
        """In the effective blacklist (base ∪ added − deleted)."""
        ...

    def is_whitelisted(self, asn: str) -> bool:
        """In this station's white list of internal cards."""
        ...


class InMemoryLists:
    """A small `ListView` backed by two frozensets: for tests, the simulator and benches."""

    __slots__ = ("_black", "_white")

    def __init__(self, blacklist: Iterable[str] = (), whitelist: Iterable[str] = ()) -> None:
        self._black = frozenset(blacklist)
        self._white = frozenset(whitelist)

    def is_blacklisted(self, asn: str) -> bool:
        return asn in self._black

    def is_whitelisted(self, asn: str) -> bool:
        return asn in self._white

    def __repr__(self) -> str:
        return f"InMemoryLists(black={len(self._black)}, white={len(self._white)})"
