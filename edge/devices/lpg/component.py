"""Bottled LPG in the daemon: the `[lpg]` table validated through the registry, and the fills a stopped
controller left open recorded as interrupted at start.

Layer: edge (component). A fill in progress is stored (status `filling`) before its scale is started
(`edge.devices.lpg.service`); when the daemon starts again it finds such fills and records them as
`interrupted`, with an audit line and the centre's record, before anything else uses the registry.
"""

from __future__ import annotations

import asyncio
import logging

from edge.config import Config, ConfigError
from edge.core.component import ComponentKind
from edge.devices.lpg.errors import BadLpgConfig
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
    """Recovers open fills at start, then holds the LPG service for the daemon's lifetime."""

    def __init__(self, fills: FillService) -> None:
        self.fills = fills

    @property
    def name(self) -> str:
        return "lpg"

    async def run(self) -> None:
        interrupted = await self.fills.recover()
        if interrupted:
            log.warning("lpg: %d fill(s) left open by a stop recorded as interrupted", len(interrupted))
        await asyncio.Event().wait()  # until the daemon stops (cancellation)


LPG: ComponentKind[LpgSettings, Parts] = ComponentKind(
    name="lpg",
    table="lpg",
    configure=configure,
    build=lambda settings, parts: LpgComponent(
        FillService(parts.db, settings, station=parts.config.station.id)
    ),
)
"""Bottled LPG: cylinder registry, filling scales, the counter (docs/lpg.md)."""
