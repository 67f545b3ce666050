"""The tank component: its `[tanks]` table, its routes, and its kind (one line in `edge.registry`).

Layer: a device component. Built from the `[tanks]` table (`edge.devices.tanks.config`), given the
database owner, the bus, the alarm sink and the centre outbox in its constructor. It follows the bus for
the nozzle states (a level that falls while nothing dispenses is a sudden loss) and for closed shifts (a
reconciliation per shift), and runs the `TankService` that polls the consoles.

Routes: `TankLevel` → a control-API `device` message (kind `tank`, one row per tank in the TUI's devices
tab and its tanks view); deliveries, reconciliations and uploaded levels are queued for the centre in the
transaction that stores them, so their routes carry no centre conversion.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable

from edge.config import Config, ConfigError
from edge.control import messages as m
from edge.control.convert import when
from edge.core.alarms import AlarmSink
from edge.core.centre import CentreOutbox
from edge.core.component import ComponentKind
from edge.core.routes import ControlContext, EventRoute
from edge.devices.tanks.config import TanksConfig, parse_tanks
from edge.devices.tanks.errors import BadTankConfig
from edge.devices.tanks.events import TankDeliveryDetected, TankLevel, TankReconciled
from edge.devices.tanks.service import TankService
from edge.events import EventBus, NozzleStatus, ShiftChanged
from edge.station import Parts
from storage.clock import utc_now
from storage.db import Database

TABLE = "tanks"
KIND = "tank"


def configure(config: Config) -> TanksConfig | None:
    raw = config.extra.get(TABLE)
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ConfigError([f"{config.path.name}: {TABLE}: must be a table"])
    try:
        return parse_tanks(raw, config.path.name, frozenset(p.g_code for p in config.products))
    except BadTankConfig as exc:
        raise ConfigError(str(exc).splitlines()) from exc


def level_message(event: TankLevel, ctx: ControlContext) -> m.Device:
    fields: dict[str, m.JsonScalar] = {
        "product": event.product,
        "product_name": ctx.name(event.product),
        "capacity_l": round(event.capacity_l, 1),
        "alarms": ",".join(event.alarms),
        "delivering": event.delivering,
        **{k: v for k, v in event.figures.items()},
    }
    return m.Device(kind=KIND, device=event.name, state=event.state.value, fields=fields, at=when(event.at))


class TankComponent:
    """Polls the consoles and follows the bus; everything else is the `TankService`."""

    def __init__(
        self,
        settings: TanksConfig,
        *,
        db: Database,
        bus: EventBus,
        alarms: AlarmSink,
        outbox: CentreOutbox,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self._bus = bus
        self.service = TankService(settings, db, alarms, bus, outbox, clock=clock)

    @property
    def name(self) -> str:
        return "tanks"

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.service.run())
            tg.create_task(self._follow())

    async def _follow(self) -> None:
        while True:
            sub = self._bus.subscribe(only=(NozzleStatus, ShiftChanged))
            try:
                async for event in sub:
                    if isinstance(event, NozzleStatus):
                        self.service.on_nozzle(event)
                    elif isinstance(event, ShiftChanged) and event.shift.closed_at is not None:
                        await self.service.on_shift(event)
            finally:
                sub.close()


def _build(settings: TanksConfig, parts: Parts) -> TankComponent:
    return TankComponent(
        settings,
        db=parts.db,
        bus=parts.bus,
        alarms=parts.alarms,
        outbox=parts.station.outbox,
    )


TANKS: ComponentKind[TanksConfig, Parts] = ComponentKind(
    name="tanks",
    table=TABLE,
    configure=configure,
    build=_build,
    publishes=(
        EventRoute(TankLevel, control=level_message),
        EventRoute(TankDeliveryDetected),
        EventRoute(TankReconciled),
    ),
    consumes=(NozzleStatus, ShiftChanged),
)
