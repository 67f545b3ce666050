"""The uplink as the station's centre link: `[uplink]` → its outbox (built first) and its component.

Layer: uplink (component). The daemon prepares it before anything else: the `CentreMessages` outbox is
given to the sessions, the rules and the shifts when they are constructed, so every fact and its message
for the centre commit together; the `Uplink` itself is built last, with the rules' document appliers.
Without an `[uplink]` table (or with `enabled = false`) the station has no centre link.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.config import Config
from edge.core.centre import CentreOutbox
from edge.core.component import CentreKind, CentreLink
from edge.station import CentreParts
from uplink.centre_documents import centre_appliers
from uplink.config import UplinkSettings
from uplink.lpg_documents import lpg_appliers
from uplink.messages import CentreMessages, MessageFactory
from uplink.service import Uplink
from uplink.wiring import default_appliers, validate_uplink


@dataclass(frozen=True)
class UplinkSetup:
    settings: UplinkSettings
    station: str


def configure(config: Config) -> UplinkSetup | None:
    settings = validate_uplink(config)
    if settings is None or not settings.enabled:
        return None
    return UplinkSetup(settings, config.station.id)


def outbox(setup: UplinkSetup) -> CentreMessages:
    return CentreMessages(MessageFactory(setup.station))


def build(setup: UplinkSetup, _outbox: CentreOutbox, parts: CentreParts) -> CentreLink:
    return Uplink(
        setup.settings,
        setup.station,
        parts.db,
        appliers=default_appliers(
            parts.lists, {**centre_appliers(parts.rules), **lpg_appliers(parts.config, parts.db)}
        ),
        bus=parts.bus,
        routes=parts.routes,
        alarms=parts.alarms,
    )


UPLINK: CentreKind[UplinkSetup, CentreParts] = CentreKind(
    name="uplink", table="uplink", configure=configure, outbox=outbox, build=build
)
