"""The desk in the daemon: the service always (statuses and the registry need no reader), the reader
component when the station has a `[desk]` table.

Layer: edge (wiring, called by the daemon's composition root). `install_desk(station, rules)` sets
`station.desk` (the `DeskService` the control API's `desk.*` commands use) and, with `[desk]`, adds the
desk component's task: the PC/SC reader shell (`reader.DeskReader`), the card slot on the configured
reader, `CardOps` with the software PSAM, start-up recovery and settlement on insertion.
"""

from __future__ import annotations

import logging
from typing import Any

from edge.config import ConfigError
from edge.devices.desk.cardops import CardOps
from edge.devices.desk.component import DeskComponent, PcscSlot, desk_settings
from edge.devices.desk.psam import SoftPsam
from edge.devices.desk.service import DeskService

__all__ = ["install_desk"]

log = logging.getLogger(__name__)


def install_desk(station: Any, rules: Any) -> DeskService:
    config = station.config
    service = DeskService(station.db, config.station.id, rules.statuses)
    station.desk = service
    try:
        settings = desk_settings(config.extra.get("desk"), config.station.s_id)
    except ValueError as exc:
        raise ConfigError([f"{config.path.name}: desk: {exc}"]) from exc
    if settings is None:
        return service
    from edge.devices.desk.reader import DeskReader

    wanted = settings.reader
    port = DeskReader(accept=lambda name: wanted in name)
    slot = PcscSlot(port, SoftPsam(bytes.fromhex(settings.terminal_id)), wanted)
    alarms = station.services.alarms
    ops = CardOps(service, slot, rules.authority, alarms=alarms)
    service.cards = ops
    component = DeskComponent(ops, slot, alarms, station.bus)

    async def desk_task(_station: Any) -> None:
        await component.run()

    station.extra_tasks.append(desk_task)
    log.info("desk: reader %r, PSAM terminal %s", wanted or "(the first with a card)", settings.terminal_id)
    return service
