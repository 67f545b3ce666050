"""Today's per-card counters for the rules, fed by the stored sale records and kept durably.

Layer: edge (adapter between the session's record hook, `edge.rules.DailyCounters` and
`storage.counters`). `CounterBook` is the rules' `CounterView`: it answers from memory (no I/O on the 0x36
path). `on_record` is called after a NEW record is committed (`Services.on_record`); a sale or grey
record of a card updates the in-memory counters and is written to `card_counters` together with the
record's id. While the wall clock is in doubt (`edge.clock_guard`) the counters keep their day: usage
is answered for the held day and sales are counted on it. `load` (at start-up) reads today's counters back and counts the sales stored but not
counted yet (a crash between the two commits).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from types import MappingProxyType
from typing import Any

from edge.rules import DailyCounters, DayUsage, RulesError
from protocol.record import TransactionRecord, TxKind
from storage.counters import CounterRow, CounterStore

__all__ = ["CounterBook", "counts_as_sale"]

log = logging.getLogger(__name__)


def counts_as_sale(record: TransactionRecord) -> bool:
    """Sale and grey records of a card count (edge.rules.counters); unlocks, duty, cash and receipts not."""
    return (
        record.kind in (TxKind.SALE, TxKind.GREY)
        and not record.card_error
        and isinstance(record.time, dt.datetime)
        and record.asn.isdigit()
    )


class CounterBook:
    """In-memory daily counters with durable updates."""

    def __init__(
        self,
        store: CounterStore,
        clock: Callable[[], dt.datetime],
        *,
        clock_trusted: Callable[[], bool] = lambda: True,
    ) -> None:
        self._store = store
        self._clock = clock
        self._trusted = clock_trusted
        self.counters = DailyCounters(clock().date())

    def usage(self, asn: str, day: dt.date) -> DayUsage:
        """What `asn` used on `day`. While the wall clock is in doubt (`edge.clock_guard`) the day is not
        believed: the held day's usage is answered, so a stepped clock can never reset a daily limit."""
        if not self._trusted():
            return self.counters.usage(asn, self.counters.day)
        return self.counters.usage(asn, day)

    async def load(self) -> int:
        """Read today's counters and count the sales not counted yet; returns how many were."""
        day = self._clock().date()
        if not self._trusted():  # started with the clock behind: keep the newest day already counted
            newest = await self._store.newest_day()
            if newest is not None and newest > day:
                log.warning(
                    "counters: the wall clock is in doubt: keeping day %s (clock says %s)", newest, day
                )
                day = newest
        rows = await self._store.load(day)
        cards = {asn: DayUsage(r.fills, r.amount, r.volume) for asn, r in rows.items()}
        self.counters = DailyCounters(day, MappingProxyType(cards))
        late = await self._store.uncounted_sales(day)
        for sale in late:
            await self._count(sale.asn, sale.time, sale.amount, sale.volume, sale.record_id)
        if late:
            log.info("counters: %d sales stored before the last stop counted now", len(late))
        await self._store.forget_before(day)
        return len(late)

    async def on_record(self, line: str, dispenser: int, record: TransactionRecord, result: Any) -> None:
        """The session's hook: count a NEW sale or grey record (re-sent conflicting copies are not)."""
        outcome = getattr(getattr(result, "outcome", None), "name", "NEW")
        if outcome != "NEW" or not counts_as_sale(record):
            return
        assert isinstance(record.time, dt.datetime)
        await self._count(record.asn, record.time, record.amn, record.vol, getattr(result, "row_id", None))

    async def _count(
        self, asn: str, time: dt.datetime, amount: int, volume: int, record_id: int | None
    ) -> None:
        before = self.counters
        time = time.replace(tzinfo=None)
        if not self._trusted() and time.date() != before.day:
            # Dispensers take their time from the controller's 0x30 reply: with the wall clock in doubt
            # a record's date is not believed either. Counted on the held day (never lost, never a new day).
            log.warning(
                "counters: sale of %s dated %s counted on %s: the wall clock is in doubt",
                asn,
                time,
                before.day,
            )
            time = dt.datetime.combine(before.day, time.time())
        try:
            after = before.with_sale(asn, time, amount, volume)
        except RulesError as exc:
            log.warning("counters: sale of %s not counted: %s", asn, exc)
            return
        if after.day != before.day:
            await self._store.forget_before(after.day)
        self.counters = after
        usage = after.usage(asn, after.day)
        if after is before or time.date() != after.day:
            await self._store.save(time.date(), {}, record_id)
            return
        await self._store.save(
            after.day, {asn: CounterRow(usage.fills, usage.amount, usage.volume)}, record_id
        )
