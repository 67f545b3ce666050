"""The desk as a component kind of the daemon (docs/architecture.md, "Adding a device kind").

Layer: edge (registration). `[desk]` configures the reader (`component.desk_settings`, every problem a
`ConfigError` naming the key); `build` shares the station's `DeskService` (`station.desk`, which the
control API's `desk.*` commands use with or without a reader), gives it `CardOps` over the configured
PC/SC reader (`reader.DeskReader`) with the software PSAM, and returns the `DeskComponent`.

Its one event, `DeskCardSeen` (a card put into or taken out of the desk reader), reaches viewers as the
generic `device` message: kind `desk`, device = the reader, state `card` / `empty` / `unusable`, fields
`asn`, `balance`, `status`, `card` (the whole card view as JSON text, docs/desk.md) or `error`. It does
not go to the centre (the desk's operations do, each in its own transaction).
"""

from __future__ import annotations

import json
from typing import Any

from edge.config import Config, ConfigError
from edge.control import messages as m
from edge.control.convert import when
from edge.core.component import ComponentKind
from edge.core.routes import ControlContext, EventRoute
from edge.devices.desk.cardops import CardOps
from edge.devices.desk.component import DeskCardSeen, DeskComponent, DeskSettings, PcscSlot, desk_settings
from edge.devices.desk.psam import SoftPsam
from edge.devices.desk.service import DeskService
from edge.station import Parts

__all__ = ["DESK", "DESK_ROUTE", "configure", "desk_card_message", "station_desk"]

KIND = "desk"


def configure(config: Config) -> DeskSettings | None:
    try:
        return desk_settings(config.extra.get("desk"), config.station.s_id)
    except ValueError as exc:
        raise ConfigError([f"{config.path.name}: desk: {exc}"]) from exc


def station_desk(station: Any) -> DeskService:
    """The station's desk service (made once, over the rules' card statuses)."""
    service = getattr(station, "desk", None)
    if isinstance(service, DeskService):
        return service
    service = DeskService(station.db, station.config.station.id, station.services.authority.statuses)
    station.desk = service
    return service


def desk_card_message(event: DeskCardSeen, ctx: ControlContext) -> m.Device:
    fields: dict[str, m.JsonScalar] = {}
    state = "empty"
    if event.present and event.error:
        state, fields["error"] = "unusable", event.error
    elif event.present:
        view = json.loads(event.card) if event.card else {}
        state = "card"
        fields.update(
            asn=str(view.get("asn", "")), balance=view.get("balance"), status=str(view.get("status", ""))
        )
        fields["card"] = event.card
    return m.Device(kind=KIND, device=event.reader, state=state, fields=fields, at=when(event.at))


DESK_ROUTE = EventRoute(DeskCardSeen, control=desk_card_message)


def _build(settings: DeskSettings, parts: Parts) -> DeskComponent:
    from edge.devices.desk.reader import DeskReader

    service = station_desk(parts.station)
    wanted = settings.reader
    slot = PcscSlot(DeskReader(accept=lambda name: wanted in name), SoftPsam(bytes.fromhex(settings.terminal_id)),
                    wanted)  # fmt: skip
    ops = CardOps(service, slot, parts.rules.authority, alarms=parts.alarms)
    service.cards = ops
    return DeskComponent(ops, slot, parts.alarms, parts.bus)


DESK: ComponentKind[DeskSettings, Parts] = ComponentKind(
    name=KIND, table="desk", configure=configure, build=_build, publishes=(DESK_ROUTE,)
)
"""The attendant's desk reader (docs/desk.md, docs/configuration.md `[desk]`)."""
