"""Events the LPG component publishes on the bus, and their routes.

Layer: edge (typed events of one device kind). `ScaleState` is the live state of one filling scale
(weight, target, what it is doing, the last refusal or fault in words); its control-API message is a
`device` message of kind `scale` (the TUI's filling screen and devices tab). Fills and counter receipts
are queued for the centre in the transaction that stores them (`station/{id}/lpg/...`), so the route
carries no centre conversion.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from edge.control import messages as m
from edge.control.convert import when
from edge.core.routes import ControlContext, EventRoute

__all__ = ["KIND", "SCALE_ROUTE", "ScaleActivity", "ScaleState", "scale_message"]

KIND = "scale"


class ScaleActivity(StrEnum):
    IDLE = "idle"
    """Answering, no fill running."""
    FILLING = "filling"
    REFUSED = "refused"
    """The last cylinder scanned at it was refused (the reason in `message`)."""
    DONE = "done"
    OVERFILLED = "overfilled"
    INTERRUPTED = "interrupted"
    OFFLINE = "offline"
    """Not answering, or answering what its map cannot decode."""


@dataclass(frozen=True, slots=True)
class ScaleState:
    """The newest state of one filling scale."""

    scale: str
    activity: ScaleActivity
    at: dt.datetime
    gross_kg: float | None = None
    stable: bool = False
    valve_open: bool = False
    barcode: str = ""
    target_kg: float | None = None
    net_kg: float | None = None
    fill_id: int | None = None
    message: str = ""
    """The refusal, fault or over-fill in words ('' when there is nothing to say)."""
    operator: str = ""


def scale_message(event: ScaleState, ctx: ControlContext) -> m.Device:
    fields: dict[str, m.JsonScalar] = {
        "gross_kg": event.gross_kg,
        "target_kg": event.target_kg,
        "net_kg": event.net_kg,
        "stable": event.stable,
        "valve_open": event.valve_open,
        "barcode": event.barcode,
        "fill_id": event.fill_id,
        "message": event.message,
        "operator": event.operator,
    }
    return m.Device(kind=KIND, device=event.scale, state=event.activity.value, fields=fields, at=when(event.at))


SCALE_ROUTE: EventRoute[ScaleState] = EventRoute(ScaleState, control=scale_message)
