"""The routes of the built-in events: each event type once, with its control-API and centre conversions.

Layer: edge (registrations). The conversions are `edge.control.convert.*_event` (control API) and the
centre's message factory (`edge.core.routes.CentreMessages`). Records, totals, decisions and shifts go
to the centre in the transaction that stores them (`edge.core.centre.CentreOutbox`), alarms through the
uplink's alarm sweep, nozzle status as live status: their events have no centre route here.
"""

from __future__ import annotations

from collections.abc import Sequence

from edge.control import convert as c
from edge.core.routes import CentreMessages, EventRoute, EventRoutes
from edge.events import (
    AlarmAcknowledged,
    AlarmCleared,
    AlarmRaised,
    CardDecision,
    CardPresented,
    DispenserError,
    DispenserOnline,
    FrameTraced,
    LineStatistics,
    NozzleStatus,
    SaleStored,
    ShiftChanged,
)
from storage.outbox import OutboxMessage


def _dispenser_online(event: DispenserOnline, messages: CentreMessages) -> Sequence[OutboxMessage]:
    return [messages.dispenser(event.line, event.dispenser, event.online, event.at)]


def builtin_routes() -> EventRoutes:
    return EventRoutes(
        [
            EventRoute(NozzleStatus, control=c.nozzle_event),
            EventRoute(SaleStored, control=c.sale_event),
            EventRoute(AlarmRaised, control=c.alarm_raised_event),
            EventRoute(AlarmAcknowledged, control=c.alarm_acked_event),
            EventRoute(AlarmCleared, control=c.alarm_cleared_event),
            EventRoute(LineStatistics, control=c.line_stats_event),
            EventRoute(FrameTraced, control=c.trace_event),
            EventRoute(DispenserOnline, control=c.dispenser_online_event, centre=_dispenser_online),
            EventRoute(DispenserError, control=c.dispenser_error_event),
            EventRoute(ShiftChanged, control=c.shift_event),
            EventRoute(CardDecision, control=c.decision_event),
            EventRoute(CardPresented),
        ]
    )
