"""What the running daemon holds, and the parts the composition root hands to each component.

Layer: edge (data of the composition root, `edge.daemon`). `Station` is the database owner, the bus,
the sessions and lines, the event routes and the centre's outbox; `Parts` is what a component's kind
may take from it to construct the component (typed, all present: a component never reaches for
something assigned later).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edge.clock_guard import ClockGuard
from edge.config import Config
from edge.control.convert import alarm_action
from edge.control.dayclose import DayCloseService
from edge.core.alarms import AlarmSink
from edge.core.centre import CentreOutbox, CentreView
from edge.core.commands import DeviceCommand
from edge.core.component import Component
from edge.core.routes import EventRoutes
from edge.events import AlarmCleared, AlarmRaised, EventBus
from edge.framed import FramedLine
from edge.loadprobe import LoadStats
from edge.rules_runtime import RulesRuntime
from edge.session import DispenserSession, Services
from storage.alarms import Alarms
from storage.db import Database
from storage.journal import Journal
from storage.lists import ListStore


class BusAlarms:
    """Alarms stored durably and published on the bus (raised and cleared)."""

    def __init__(self, alarms: Alarms, bus: EventBus) -> None:
        self._alarms = alarms
        self._bus = bus

    async def raise_alarm(
        self, source: str, code: str, severity: str, message: str, details: dict[str, Any] | None = None
    ) -> int:
        alarm_id = int(await self._alarms.raise_alarm(source, code, severity, message, details or {}))
        action = alarm_action(details or {})
        self._bus.publish(AlarmRaised(source, code, severity, message, dt.datetime.now(), alarm_id, action))
        return alarm_id

    async def clear(self, source: str, code: str) -> None:
        if await self._alarms.clear(source, code):
            self._bus.publish(AlarmCleared(source, code, dt.datetime.now()))


@dataclass
class Station:
    """Everything the running daemon holds; handed to the control API and the components."""

    config: Config
    db: Database
    journal: Journal
    alarms: Alarms
    lists: ListStore
    bus: EventBus
    services: Services
    routes: EventRoutes
    """Every event type's control-API and centre conversions (`edge.core.routes`)."""
    outbox: CentreOutbox
    """What is queued for the centre with each stored fact (`NO_CENTRE` without an uplink)."""
    centre: CentreView
    """The centre link's state for `station status` and the TUI."""
    sessions: dict[str, list[DispenserSession]] = field(default_factory=dict)
    load: LoadStats = field(default_factory=LoadStats)
    """Event-loop lag and reply latencies since the last `daemon statistics` report."""
    lines: dict[str, FramedLine] = field(default_factory=dict)
    day_close: DayCloseService | None = None
    """The daily close (`edge.control.dayclose`), built with the station by `edge.daemon.open_station`."""
    desk: Any = None
    """The attendant's desk (`edge.devices.desk.service.DeskService`), made on first use
    (`edge.devices.desk.kind.station_desk`); its reader with `[desk]`."""
    components: list[Component] = field(default_factory=list)
    device_commands: dict[str, DeviceCommand] = field(default_factory=dict)
    """Control-API commands served by components, by request type (`lpg.fill` …), registered when the
    component is built; the role check and the refusal audit stay with `edge.control.handlers`."""
    """What the daemon runs beside the lines, built by `edge.daemon.open_station` from the registry."""
    started_mono: float = field(default_factory=time.monotonic)
    clock: ClockGuard = field(default_factory=ClockGuard)
    """Wall-clock sanity (`edge.clock_guard`): order-dependent operations ask it before they record."""


@dataclass(frozen=True)
class CentreParts:
    """What the centre link (the uplink) is built from."""

    config: Config
    db: Database
    lists: ListStore
    bus: EventBus
    alarms: AlarmSink
    rules: RulesRuntime
    routes: EventRoutes


@dataclass(frozen=True)
class Parts:
    """What every other component is built from."""

    station: Station
    rules: RulesRuntime
    alarms: AlarmSink
    clock: Callable[[], dt.datetime] = dt.datetime.now

    @property
    def config(self) -> Config:
        return self.station.config

    @property
    def bus(self) -> EventBus:
        return self.station.bus

    @property
    def db(self) -> Database:
        return self.station.db
