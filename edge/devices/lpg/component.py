"""Bottled LPG in the daemon: the `[lpg]` table validated through the registry; the fills a stopped
controller left open recorded as interrupted at start; the scales of `[[lpg.scales]]` polled; fills and
the counter served through the control API.

Layer: edge (component). A fill in progress is stored (status `filling`) before its scale is started
(`edge.devices.lpg.service`); when the daemon starts again it finds such fills and records them as
`interrupted`, with an audit line and the centre's record, before the scales are polled. The live state of
each scale is a `ScaleState` on the bus (a `device` message of kind `scale`). The control-API commands
`lpg.fill`, `lpg.customer`, `lpg.handout`, `lpg.return` and `lpg.store` are registered in
`Station.device_commands` when the component is built (`edge.devices.lpg.commands`).
"""

from __future__ import annotations

import logging

from edge.config import Config, ConfigError
from edge.core.component import ComponentKind
from edge.devices.lpg.commands import LpgCommands
from edge.devices.lpg.counter import CounterService
from edge.devices.lpg.errors import BadLpgConfig
from edge.devices.lpg.events import SCALE_ROUTE
from edge.devices.lpg.hall import FillingHall
from edge.devices.lpg.service import FillService
from edge.devices.lpg.specs import LpgSettings, parse_settings
from edge.station import Parts

__all__ = ["LPG", "LpgComponent", "configure"]

log = logging.getLogger(__name__)


def configure(config: Config) -> LpgSettings | None:
    """`[lpg]` → settings (None when the station has no `[lpg]`); every problem as `file: lpg.key: what`."""
    table = config.extra.get("lpg")
    if table is None:
        return None
    try:
        if not isinstance(table, dict):
            raise BadLpgConfig(["station.toml: lpg: must be a table"])
        return parse_settings(table)
    except BadLpgConfig as exc:
        raise ConfigError([p.replace("station.toml:", f"{config.path.name}:", 1) for p in exc.problems]) from exc


class LpgComponent:
    """Recovers open fills at start, then runs the filling hall for the daemon's lifetime."""

    def __init__(self, fills: FillService, hall: FillingHall, counter: CounterService) -> None:
        self.fills = fills
        self.hall = hall
        self.commands = LpgCommands(hall, counter)

    @property
    def name(self) -> str:
        return "lpg"

    async def run(self) -> None:
        interrupted = await self.fills.recover()
        if interrupted:
            log.warning("lpg: %d fill(s) left open by a stop recorded as interrupted", len(interrupted))
            await self.hall.stop_valves({r.scale for r in interrupted})
        await self.hall.run()  # until the daemon stops (cancellation)


def _build(settings: LpgSettings, parts: Parts) -> LpgComponent:
    station = parts.config.station.id
    fills = FillService(parts.db, settings, station=station)
    hall = FillingHall(settings, fills, bus=parts.bus, alarms=parts.alarms)
    component = LpgComponent(fills, hall, CounterService(parts.db, settings, station=station))
    parts.station.device_commands.update(component.commands.handlers())
    return component


LPG: ComponentKind[LpgSettings, Parts] = ComponentKind(
    name="lpg",
    table="lpg",
    configure=configure,
    build=_build,
    publishes=(SCALE_ROUTE,),
)
"""Bottled LPG: cylinder registry, filling scales, the counter (docs/lpg.md)."""
