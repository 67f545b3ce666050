"""An example device kind, built only through the component seam: door contacts read from GPIO files.

Layer: a device component (as `edge/devices/<kind>/` will hold them). Everything a device kind brings
is here — its settings (the `[door_sensor]` table), its event (`DoorChanged`) with its route (a control
API `device` message, which the TUI shows in its devices panel, and a `device` message for the centre),
its component (`DoorSensor`) and its kind (`DOOR_SENSOR`). Adding it to a station is one line:
`KINDS` in `edge/registry.py` (a test does `registry.register(DOOR_SENSOR)` on its own registry).

    [door_sensor]
    doors = { back = "/sys/class/gpio/gpio17/value" }     # "1" = open, "0" = closed
    poll_ms = 50
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edge.config import Config
from edge.control import messages as m
from edge.control.convert import when
from edge.core.alarms import AlarmSink
from edge.core.component import ComponentKind
from edge.core.routes import CentreMessages, ControlContext, DeviceFact, EventRoute
from edge.core.settings import check, read_table
from edge.events import EventBus
from edge.station import Parts
from storage.outbox import OutboxMessage

TABLE = "door_sensor"
KIND = "door"


@dataclass(frozen=True)
class DoorSettings:
    doors: dict[str, str]
    """Door name → its GPIO value file (`1` open, `0` closed)."""
    poll_ms: int = field(
        default=50, metadata=check(lambda v: None if 10 <= v <= 10_000 else "must be within 10..10000")
    )
    """How often the files are read."""


@dataclass(frozen=True, slots=True)
class DoorChanged:
    """A door was opened or closed (ordered event)."""

    door: str
    open: bool
    at: dt.datetime


def door_message(event: DoorChanged, ctx: ControlContext) -> m.Device:
    return m.Device(kind=KIND, device=event.door, state="open" if event.open else "closed", at=when(event.at))


def door_fact(event: DoorChanged, messages: CentreMessages) -> Sequence[OutboxMessage]:
    return [messages.device(DeviceFact(KIND, event.door, "opened" if event.open else "closed", event.at))]


class DoorSensor:
    """Reads every door's file each `poll_ms`; publishes a `DoorChanged` on every change."""

    def __init__(
        self, settings: DoorSettings, *, bus: EventBus, alarms: AlarmSink, clock: Callable[[], dt.datetime]
    ) -> None:
        self._doors = {name: Path(path) for name, path in settings.doors.items()}
        self._interval_s = settings.poll_ms / 1000
        self._bus = bus
        self._alarms = alarms
        self._clock = clock
        self._state: dict[str, bool] = {}
        self._unreadable: set[str] = set()

    @property
    def name(self) -> str:
        return "door sensor"

    async def run(self) -> None:
        while True:
            for door, path in self._doors.items():
                try:
                    is_open = path.read_text().strip() == "1"
                except OSError as exc:
                    if door not in self._unreadable:
                        self._unreadable.add(door)
                        await self._alarms.raise_alarm(f"door/{door}", "door_unreadable", "warning", str(exc))
                    continue
                if door in self._unreadable:
                    self._unreadable.discard(door)
                    await self._alarms.clear(f"door/{door}", "door_unreadable")
                if self._state.get(door) != is_open:
                    self._state[door] = is_open
                    self._bus.publish(DoorChanged(door, is_open, self._clock()))
            await asyncio.sleep(self._interval_s)


def _configure(config: Config) -> DoorSettings | None:
    return read_table(config, TABLE, DoorSettings)


def _build(settings: DoorSettings, parts: Parts) -> DoorSensor:
    return DoorSensor(settings, bus=parts.bus, alarms=parts.alarms, clock=parts.clock)


DOOR_SENSOR: ComponentKind[DoorSettings, Parts] = ComponentKind(
    name="door sensor",
    table=TABLE,
    configure=_configure,
    build=_build,
    publishes=(EventRoute(DoorChanged, control=door_message, centre=door_fact),),
)
