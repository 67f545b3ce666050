"""How a desk operation is written down: its row, the card status it changes, its audit entry and its
message for the centre, in one transaction.

Layer: edge (thin shell over `storage.desk`, `storage.audit`, `storage.outbox`). Every desk operation
goes through `DeskLedger`: one-step operations with `done(...)`, two-phase ones with `intent(...)`, then
`written(...)` just before the card is written, then `finish(...)` (confirmed / refused / unresolved).
A final state queues the operation's message (`storage.desk.desk_message`, key
`desk:{station}:{op_key}:{state}`) in the same transaction, so the centre hears of it exactly when it
is on record, and once.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from storage import desk as store
from storage.audit import Outcome, append_in
from storage.clock import Clock, utc_now
from storage.db import Database, Tx
from storage.desk import OperationRow, OpState
from storage.outbox import enqueue_in

__all__ = ["Actor", "DeskLedger", "new_key"]

log = logging.getLogger(__name__)

TxStep = Callable[[Tx], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Actor:
    """The operator doing a desk operation (from the control API's session)."""

    username: str
    role: str


def new_key() -> str:
    """A fresh operation key (idempotency key of the operation and of its message)."""
    return uuid.uuid4().hex


class DeskLedger:
    def __init__(self, db: Database, station_id: str, *, clock: Clock = utc_now) -> None:
        self.db = db
        self.station_id = station_id
        self.clock = clock

    async def _audit(self, tx: Tx, op: OperationRow, outcome: Outcome, now: dt.datetime) -> None:
        details: dict[str, Any] = {"op_key": op.op_key, "state": op.state.value}
        for name in ("amount", "payment", "balance_before", "balance_after", "other_asn", "resolution"):
            value = getattr(op, name)
            if value not in (None, ""):
                details[name] = value
        await append_in(
            tx,
            actor=op.operator,
            role=op.role,
            source="desk",
            action=f"desk.{op.kind}",
            target=f"card {op.asn}",
            outcome=outcome,
            details={**details, **dict(op.details)},
            now=now,
        )

    async def _final(self, tx: Tx, op: OperationRow, now: dt.datetime) -> None:
        outcome = {OpState.REFUSED: Outcome.REFUSED, OpState.UNRESOLVED: Outcome.FAILED}.get(
            op.state, Outcome.OK
        )
        await self._audit(tx, op, outcome, now)
        await enqueue_in(tx, [store.desk_message(self.station_id, op, at=now)], now=now)

    async def done(
        self, actor: Actor, kind: str, asn: str, *, steps: Iterable[TxStep] = (), state: OpState = OpState.DONE,
        details: Mapping[str, Any] | None = None, amount: int | None = None, other_asn: str = "",
        resolution: str = "", op_key: str | None = None,
    ) -> OperationRow:  # fmt: skip
        """A one-step operation: `steps` (status changes, registry rows ...) and its record, together."""
        now = self.clock()
        op = OperationRow(
            op_key or new_key(), kind, asn, state, actor.username, actor.role, amount=amount,
            other_asn=other_asn, details=dict(details or {}), resolution=resolution,
        )  # fmt: skip
        async with self.db.transaction() as tx:
            for step in steps:
                await step(tx)
            await store.add_operation_in(tx, op, now=now)
            await self._final(tx, op, now)
        log.info("desk %s of card %s by %s: %s", kind, asn, actor.username, state.value)
        return op

    async def intent(self, op: OperationRow, *, steps: Iterable[TxStep] = ()) -> OperationRow:
        """Store a two-phase operation's intent (nothing written to the card yet). Its audit entry and
        message come with its outcome (`finish`): one of each per operation."""
        now = self.clock()
        async with self.db.transaction() as tx:
            for step in steps:
                await step(tx)
            await store.add_operation_in(tx, op, now=now)
        return op

    async def written(
        self, op_key: str, *, balance_before: int, balance_after: int, counter_before: int | None
    ) -> None:
        """The write is about to be sent: the card's figures before it, durably, first."""
        now = self.clock()
        async with self.db.transaction() as tx:
            await store.set_state_in(tx, op_key, OpState.WRITTEN, now=now, expect=[OpState.INTENT])
            await store.set_figures_in(
                tx,
                op_key,
                balance_before=balance_before,
                balance_after=balance_after,
                counter_before=counter_before,
            )

    async def finish(
        self, op_key: str, state: OpState, resolution: str, *, steps: Iterable[TxStep] = (),
        details: Mapping[str, Any] | None = None,
    ) -> OperationRow:  # fmt: skip
        """The outcome of a two-phase operation (from intent / written / unresolved), with its message."""
        now = self.clock()
        open_states = [OpState.INTENT, OpState.WRITTEN, OpState.UNRESOLVED]
        async with self.db.transaction() as tx:
            op = await store.set_state_in(
                tx, op_key, state, now=now, resolution=resolution, details=details, expect=open_states
            )
            for step in steps:
                await step(tx)
            await self._final(tx, op, now)
        log.info("desk %s %s of card %s: %s (%s)", op.kind, op_key, op.asn, state.value, resolution)
        return op
