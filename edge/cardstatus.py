"""Card statuses as the rules see them: the desk's registry and the centre's set, merged.

Layer: edge (pure core, in memory). The rules run on the bus loop's path to the 0x36 answer and may not
do I/O, so the statuses live here: loaded from storage at start (`storage.desk.registry`,
`storage.desk.centre_statuses`), changed by the desk after each commit (`set_desk`) and by the centre's
signed `card_status` document (`replace_centre`). For one card the entry with the newer `since` wins
(a card reported lost here and reinstated later by the centre, or the other way round).

`apply(facts)` gives the rules the status: lost, cancelled, replaced, blacklisted, damaged are refused
with their reason (codes 5, 6, 7, ...; `edge.rules.decide`). A loss with `grace` keeps the configured
`[rules] lost_card_grace_working_days` (the rules get `status_since`); without it, the loss is in force
at once (the rules get no `status_since`): the desk's default, the holder being at the desk.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace

from edge.rules import CardFacts, CardStatus

__all__ = ["CardStatusBook", "StatusEntry"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StatusEntry:
    asn: str
    status: CardStatus
    since: dt.datetime
    """When the status was set (aware)."""
    grace: bool = False
    source: str = "desk"
    """`desk` (this station's registry) or `centre`."""
    replaced_by: str | None = None


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.astimezone()


class CardStatusBook:
    """The statuses in force, by card number; see the module docstring."""

    def __init__(self) -> None:
        self._desk: dict[str, StatusEntry] = {}
        self._centre: dict[str, StatusEntry] = {}

    def __len__(self) -> int:
        return len(set(self._desk) | set(self._centre))

    def set_desk(self, entry: StatusEntry) -> None:
        self._desk[entry.asn] = replace(entry, since=_aware(entry.since), source="desk")

    def load_desk(self, entries: Iterable[StatusEntry]) -> None:
        for entry in entries:
            self.set_desk(entry)

    def replace_centre(self, entries: Iterable[StatusEntry]) -> None:
        self._centre = {e.asn: replace(e, since=_aware(e.since), source="centre") for e in entries}

    def lookup(self, asn: str) -> StatusEntry | None:
        """The entry in force for `asn` (the newer of the desk's and the centre's); None: none known."""
        desk, centre = self._desk.get(asn), self._centre.get(asn)
        if desk is None or centre is None:
            return desk or centre
        return centre if centre.since > desk.since else desk

    def status(self, asn: str) -> CardStatus:
        entry = self.lookup(asn)
        return CardStatus.NORMAL if entry is None else entry.status

    def apply(self, facts: CardFacts) -> CardFacts:
        """`facts` with the status in force (unchanged when the card is normal or unknown)."""
        entry = self.lookup(facts.asn)
        if entry is None or entry.status is CardStatus.NORMAL:
            return facts
        since = entry.since.astimezone().replace(tzinfo=None) if entry.grace else None
        return replace(facts, status=entry.status, status_since=since)
