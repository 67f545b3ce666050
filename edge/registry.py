"""The station's component kinds: the one list a new device kind is added to.

Layer: edge (registrations, read by the composition root `edge.daemon`). Adding a device kind is its
own modules (its component, settings, events with their routes, simulator, storage tables) plus ONE
line in `KINDS` below; the daemon, the control server, the uplink and the TUI core do not change.
See docs/architecture.md, "Adding a device kind".
"""

from __future__ import annotations

from edge.control.component import CONTROL_API
from edge.core.component import Kind
from edge.core.registry import Registry
from edge.daily_components import CLOCK_WATCH, DAY_CLOSE, HOUSEKEEPING, INTEGRITY
from edge.devices.desk.kind import DESK
from edge.devices.lpg.component import LPG
from edge.devices.tanks.component import TANKS
from edge.routes import builtin_routes
from edge.rules_components import CARD_RECHECK, IMPORT_INBOX, PRICE_SCHEDULER
from edge.station import CentreParts, Parts
from uplink.component import UPLINK

StationRegistry = Registry[CentreParts, Parts]

KINDS: tuple[Kind[Parts], ...] = (
    PRICE_SCHEDULER,
    CARD_RECHECK,
    IMPORT_INBOX,
    TANKS,
    CONTROL_API,
    DAY_CLOSE,
    HOUSEKEEPING,
    INTEGRITY,
    CLOCK_WATCH,
    LPG,
    DESK,
)
"""Built in this order after the centre link (the uplink), each when its table configures it."""


def default_registry() -> StationRegistry:
    """A fresh registry of the station's kinds (a test may `register` one more on its copy)."""
    return Registry(centre=UPLINK, kinds=KINDS, routes=builtin_routes())
