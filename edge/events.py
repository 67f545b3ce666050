"""Typed events of the daemon and the in-process event bus with latest-value coalescing.

Layer: edge core (pure, asyncio only for wake-ups). Every event the bus carries is typed HERE (a device
component may add its own event types in its own module); how each becomes a control-API message, an
uplink payload and a TUI update is registered in `edge.core.routes` (the built-in ones in
`edge.routes`), never decided by a `match` over all events. Producers `publish()` and never wait. Each
subscriber has a bounded queue of ordered events (sales, alarms, decisions …) plus a map of
coalesced latest values (live nozzle status, line statistics: only the newest per key is kept).
A subscriber that lets its ordered queue overflow is marked `overflowed` and dropped from the bus:
it must take a fresh snapshot. So a slow or vanished viewer can never slow the bus or grow memory.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import deque
from collections.abc import AsyncIterator, Hashable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from storage.shift_rows import ShiftRow

DEFAULT_QUEUE_LIMIT = 2000


class Coalesced:
    """Base of the events of which only the newest per `key` matters (live states): a subscriber keeps
    one value per key instead of queueing them. A device component's live state derives from it."""

    __slots__ = ()

    @property
    def key(self) -> Hashable:
        raise NotImplementedError


class NozzleState(StrEnum):
    IDLE = "idle"
    CARD_INSERTED = "card"
    NOZZLE_UP = "nozzle_up"
    FUELLING = "fuelling"
    FINISHED = "finished"
    OFFLINE = "offline"


@dataclass(frozen=True, slots=True)
class NozzleStatus:
    """Live status of one nozzle (coalesced: only the newest per nozzle is delivered)."""

    line: str
    dispenser: int
    nzn: int
    state: NozzleState
    asn: str = ""
    amn: int = 0
    vol: int = 0
    prc: int = 0
    g_code: str = ""
    emp: int = 255
    at: dt.datetime = field(default_factory=dt.datetime.now)

    @property
    def key(self) -> Hashable:
        return ("nozzle", self.line, self.dispenser, self.nzn)


@dataclass(frozen=True, slots=True)
class CardPresented:
    line: str
    dispenser: int
    nzn: int
    asn: str
    bal: int
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class SaleStored:
    """A transaction record was committed to the journal (any T_TYPE)."""

    line: str
    dispenser: int
    pos_ttc: int
    t_type: int
    nzn: int
    asn: str
    amn: int
    vol: int
    prc: int
    g_code: str
    emp: int
    time: str
    at: dt.datetime
    unit: int = 0
    """Record UNIT: b1-0 money/points, b7-4 payment mode (0 cash, 1 ticket, 2 credit, 3 bank card …)."""


@dataclass(frozen=True, slots=True)
class DispenserOnline:
    line: str
    dispenser: int
    online: bool
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class DispenserError:
    """A 0x3B error report from a dispenser."""

    line: str
    dispenser: int
    info_type: int
    text: str
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class AlarmRaised:
    source: str
    code: str
    severity: str
    message: str
    at: dt.datetime
    alarm_id: int | None = None
    action: str = ""
    """What the attendant must do now (e.g. "stop the sale at nozzle 5"); empty for most alarms."""


@dataclass(frozen=True, slots=True)
class AlarmCleared:
    """The condition behind an active alarm is gone (the alarm row keeps its history)."""

    source: str
    code: str
    at: dt.datetime
    alarm_id: int | None = None


@dataclass(frozen=True, slots=True)
class LineStatistics:
    """Per-line counters (coalesced)."""

    line: str
    stats: dict[str, Any]
    at: dt.datetime

    @property
    def key(self) -> Hashable:
        return ("line", self.line)


@dataclass(frozen=True, slots=True)
class FrameTraced:
    """One frame seen on a line (for live traces; coalesced per line so it never floods)."""

    line: str
    direction: str
    hex: str
    summary: str
    at: dt.datetime

    @property
    def key(self) -> Hashable:
        return ("trace", self.line)


@dataclass(frozen=True, slots=True)
class AlarmAcknowledged:
    """Published by the control server when an operator acknowledged an alarm."""

    alarm_id: int
    by: str
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class ShiftChanged:
    """Published by the control server when a shift was opened or closed."""

    shift: ShiftRow


@dataclass(frozen=True, slots=True)
class CardDecision:
    """A card was decided (ordered event). `reason` is the `RefusalReason` code (0 when allowed)."""

    asn: str
    line: str
    dispenser: int
    nzn: int
    allowed: bool
    reason: int
    reason_name: str
    words: str
    warnings: tuple[str, ...] = ()
    """The words of each warning, for the attendant."""
    warning_facts: tuple[Mapping[str, Any], ...] = ()
    """Each warning as stored: `{kind, words, due?, amount?, plate?}` (shown in the reader's language)."""
    kind: str = "0x36"
    """Which question was answered: `0x36` list query, `0x35` grey query, `0x31` re-check, `desk`."""
    m_flag: int | None = None
    generation: int = 0
    """The list store generation the decision read."""
    at: dt.datetime = field(default_factory=dt.datetime.now)
    details: Mapping[str, Any] = field(default_factory=dict)


COALESCED = (Coalesced, NozzleStatus, LineStatistics, FrameTraced)


class Subscription:
    """One subscriber's view of the bus; iterate it to receive events."""

    def __init__(self, bus: EventBus, limit: int, only: tuple[type, ...] | None = None) -> None:
        self._bus = bus
        self._limit = limit
        self.only = only
        """The event types this subscriber receives (None: every event)."""
        self._ordered: deque[Any] = deque()
        self._latest: dict[Hashable, Any] = {}
        self._wake = asyncio.Event()
        self.overflowed = False
        self.closed = False

    def _offer(self, event: Any) -> None:
        if self.only is not None and not isinstance(event, self.only):
            return
        if isinstance(event, COALESCED):
            self._latest.pop(event.key, None)
            self._latest[event.key] = event
        elif len(self._ordered) >= self._limit:
            self.overflowed = True
            self._ordered.clear()
            self._latest.clear()
            self._bus.unsubscribe(self)
        else:
            self._ordered.append(event)
        self._wake.set()

    def drain(self) -> list[Any]:
        """Everything pending now: ordered events first, then the latest coalesced values."""
        out = list(self._ordered)
        self._ordered.clear()
        out.extend(self._latest.values())
        self._latest.clear()
        self._wake.clear()
        return out

    async def wait(self) -> list[Any]:
        """The next batch of events; empty once the subscription is closed or overflowed."""
        while not (self._ordered or self._latest):
            if self.closed or self.overflowed:
                return []
            await self._wake.wait()
            self._wake.clear()
        return self.drain()

    async def __aiter__(self) -> AsyncIterator[Any]:
        while not (self.closed or self.overflowed):
            for event in await self.wait():
                yield event

    def close(self) -> None:
        self.closed = True
        self._bus.unsubscribe(self)
        self._wake.set()

    @property
    def backlog(self) -> int:
        return len(self._ordered) + len(self._latest)


class EventBus:
    """Fan-out of typed events to subscribers; `publish` never blocks."""

    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._wanted: dict[type, bool] = {}
        self.published = 0

    def subscribe(self, limit: int = DEFAULT_QUEUE_LIMIT, *, only: tuple[type, ...] | None = None) -> Subscription:
        """A new subscription; `only`: the event types it receives (the others neither queue nor wake it:
        a line traces every frame on the bus, hundreds a second, and most subscribers need none of them)."""
        sub = Subscription(self, limit, only)
        self._subs.append(sub)
        self._wanted.clear()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        if sub in self._subs:
            self._subs.remove(sub)
            self._wanted.clear()
            sub._wake.set()

    def wants(self, event_type: type) -> bool:
        """Whether any subscriber receives events of `event_type` now: a publisher of many events
        (a line's frame trace) builds them only when someone is listening."""
        wanted = self._wanted.get(event_type)
        if wanted is None:
            wanted = self._wanted[event_type] = any(
                s.only is None or issubclass(event_type, s.only) for s in self._subs
            )
        return wanted

    def publish(self, event: Any) -> None:
        self.published += 1
        for sub in tuple(self._subs):
            sub._offer(event)

    @property
    def subscribers(self) -> int:
        return len(self._subs)
