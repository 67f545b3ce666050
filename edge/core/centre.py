"""What the daemon's parts write for the centre in the SAME transaction as the fact they report.

Layer: edge core (protocols only). The uplink implements `CentreOutbox` (`uplink.messages.CentreMessages`)
and `CentreLink` (`uplink.service.Uplink`); with no `[uplink]` table the daemon uses `NO_CENTRE`, which
queues nothing, and `OfflineCentre`, which reports "not configured" and the outbox depth. Parts receive
them in their constructors: nothing is assigned after construction.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from edge.core.routes import DeviceFact
from protocol.messages import Totals
from protocol.record import TransactionRecord
from storage.db import Database
from storage.decisions import StoredDecision
from storage.journal import StoreResult
from storage.outbox import Outbox, OutboxMessage

JsonScalar = int | float | str | bool | None

RecordOutbox = Sequence[OutboxMessage] | Callable[[StoreResult], Sequence[OutboxMessage]]
"""What `Journal.store_record(outbox=...)` takes: messages, or a function of the store result (called in
the record's transaction: a conflicting copy gets its own key)."""


class CentreOutbox(Protocol):
    """Outbox messages for facts stored elsewhere (records, totals, decisions, shifts)."""

    def for_record(
        self, line: str, dispenser: int, record: TransactionRecord, raw: bytes
    ) -> RecordOutbox: ...

    def for_totals(
        self, line: str, dispenser: int, totals: Totals, read_at: dt.datetime
    ) -> Sequence[OutboxMessage]: ...

    def for_decision(self, decision: StoredDecision, row_id: int) -> Sequence[OutboxMessage]: ...

    def for_shift(
        self,
        shift_id: str,
        event: str,
        at: dt.datetime,
        operator: str,
        *,
        handed_to: str = "",
        summary: Mapping[str, Any] | None = None,
    ) -> Sequence[OutboxMessage]: ...

    def for_device(self, fact: DeviceFact) -> Sequence[OutboxMessage]:
        """A field device's fact that its component stores itself (a tank delivery, a scale's fill)."""
        ...


    def for_day_close(
        self,
        day: str,
        closed_at: str,
        operator: str,
        last_record_id: int,
        digest: str,
        figures: Mapping[str, Any],
    ) -> Sequence[OutboxMessage]: ...


class NoCentre:
    """The `CentreOutbox` of a station without a centre: nothing is queued."""

    def for_record(self, line: str, dispenser: int, record: TransactionRecord, raw: bytes) -> RecordOutbox:
        return ()

    def for_totals(
        self, line: str, dispenser: int, totals: Totals, read_at: dt.datetime
    ) -> Sequence[OutboxMessage]:
        return ()

    def for_decision(self, decision: StoredDecision, row_id: int) -> Sequence[OutboxMessage]:
        return ()

    def for_shift(
        self,
        shift_id: str,
        event: str,
        at: dt.datetime,
        operator: str,
        *,
        handed_to: str = "",
        summary: Mapping[str, Any] | None = None,
    ) -> Sequence[OutboxMessage]:
        return ()

    def for_day_close(
        self,
        day: str,
        closed_at: str,
        operator: str,
        last_record_id: int,
        digest: str,
        figures: Mapping[str, Any],
    ) -> Sequence[OutboxMessage]:
        return ()

    def for_device(self, fact: DeviceFact) -> Sequence[OutboxMessage]:
        return ()


NO_CENTRE = NoCentre()


class CentreView(Protocol):
    """What `station status` and the TUI show about the centre link (flat JSON scalars)."""

    async def view(self) -> dict[str, JsonScalar]: ...


class OfflineCentre:
    """The `CentreView` of a station without a centre: "not configured" and the outbox depth."""

    def __init__(self, db: Database) -> None:
        self._outbox = Outbox(db)

    async def view(self) -> dict[str, JsonScalar]:
        return {"state": "not configured", "outbox_depth": await self._outbox.depth()}
