"""Facts that reach the outbox after their own transaction: alarms (swept) and bus events.

Layer: uplink. Records, totals, rule decisions and shift rows are queued in the SAME transaction as
the fact (`uplink.messages`). Two kinds of fact are written elsewhere without an outbox hook:

- Alarms (`storage.alarms`, raised by every part of the daemon). `AlarmFeed` sweeps the `alarms`
  table for rows whose count or cleared state differs from what was last queued and, in ONE
  transaction, queues their messages and records what was queued (`uplink_alarm_sent`). So every
  raise, repeat and clear reaches the centre, also after a crash (the sweep runs again at start);
  the delay is at most one sweep (the bus's `AlarmRaised` wakes it at once).
- Events whose route has a centre conversion (`edge.core.routes`: dispenser online/offline, every field
  device's reports), on the event bus and not stored anywhere else. `BusBridge` queues their messages
  in their own transaction when they are published: a crash in the few milliseconds
  between the event and that commit loses that one change (the next change, and the station's
  retained status, still tell the centre). This is the weaker guarantee, documented in docs/mqtt.md.

`BusBridge` also wakes the pump on `SaleStored` (its outbox row committed before the event) and feeds
the coalesced `NozzleStatus` to the live publisher. If its bus subscription overflows it subscribes
again (the bus never blocks on it; the sweeps and the next events repair what was missed).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Final

from edge.core.routes import EventRoutes
from edge.events import AlarmRaised, EventBus, NozzleStatus, SaleStored
from storage.errors import StorageError
from storage.outbox import OutboxMessage
from storage.uplink_store import UplinkStore
from uplink.live import LiveStatus
from uplink.messages import MessageFactory

log = logging.getLogger(__name__)

ALARM_SWEEP_S: Final = 5.0
SWEEP_ROWS: Final = 500


class AlarmFeed:
    def __init__(
        self,
        store: UplinkStore,
        factory: MessageFactory,
        *,
        on_queued: Callable[[], None],
        sweep_s: float = ALARM_SWEEP_S,
    ) -> None:
        self._store = store
        self._factory = factory
        self._on_queued = on_queued
        self._sweep_s = sweep_s
        self._wake = asyncio.Event()
        self.queued = 0

    def wake(self) -> None:
        self._wake.set()

    async def sweep(self) -> int:
        """Queue every pending alarm change now; returns how many."""
        total = 0
        while True:
            n = await self._store.sweep_alarms(self._factory.alarm, SWEEP_ROWS)
            total += n
            if n < SWEEP_ROWS:
                break
        if total:
            self.queued += total
            self._on_queued()
        return total

    async def run(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.sweep()
            except StorageError as exc:
                log.error("uplink: alarm sweep failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._sweep_s):
                    await self._wake.wait()


class BusBridge:
    def __init__(
        self,
        bus: EventBus,
        routes: EventRoutes,
        store: UplinkStore,
        factory: MessageFactory,
        live: LiveStatus,
        *,
        wake_pump: Callable[[], None],
        wake_alarms: Callable[[], None],
    ) -> None:
        self._bus = bus
        self._routes = routes
        self._store = store
        self._factory = factory
        self._live = live
        self._wake_pump = wake_pump
        self._wake_alarms = wake_alarms
        self.resubscribed = 0
        self._wanted = (NozzleStatus, SaleStored, AlarmRaised, *routes.centre_types)
        """What the bridge reads off the bus: live status, the pump's and the alarm sweep's cues, and
        every event with a route to the centre (not the lines' frame traces)."""

    async def run(self) -> None:
        sub = self._bus.subscribe(only=self._wanted)
        try:
            while True:
                events = await sub.wait()
                if sub.overflowed or sub.closed:
                    log.warning("uplink: event bus subscription overflowed; subscribing again")
                    self.resubscribed += 1
                    sub = self._bus.subscribe(only=self._wanted)
                    self._wake_alarms()
                    continue
                await self._handle(events)
        finally:
            sub.close()

    async def _handle(self, events: list[object]) -> None:
        msgs: list[OutboxMessage] = []
        for event in events:
            if isinstance(event, NozzleStatus):
                self._live.update(event)
            elif isinstance(event, SaleStored):
                self._wake_pump()
            elif isinstance(event, AlarmRaised):
                self._wake_alarms()
            else:
                msgs.extend(self._routes.to_centre(event, self._factory))
        if msgs:
            try:
                await self._store.enqueue(msgs)
            except StorageError as exc:
                log.error("uplink: %d event messages (dispenser online/offline, devices) not queued: %s", len(msgs), exc)
                return
            self._wake_pump()
