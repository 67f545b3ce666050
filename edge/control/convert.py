"""From the daemon's internal events and stored rows to control API messages.

Layer: edge (pure functions, except `build_snapshot` which reads the station). This is the border:
nothing of `edge.events` or `storage` crosses the socket except through these functions.

Each bus event has one conversion here (`*_event(event, ctx)`), registered as its route in
`edge.routes`; the server looks the route up by the event's type (`edge.core.routes.EventRoutes`).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from edge.control import messages as m
from edge.core.routes import ControlContext
from edge.events import (
    AlarmAcknowledged,
    AlarmCleared,
    AlarmRaised,
    CardDecision,
    DispenserError,
    DispenserOnline,
    FrameTraced,
    LineStatistics,
    NozzleStatus,
    SaleStored,
    ShiftChanged,
)
from storage.alarms import Alarm as StoredAlarm
from storage.recent import recent_records
from storage.shift_report import shift_view
from storage.shift_rows import ShiftRow

if TYPE_CHECKING:
    from edge.config import Config
    from edge.station import Station

RECENT_SALES = 50
PAID_KINDS = frozenset({0, 3, 4, 7, 9})
"""Record kinds whose UNIT b7-4 says how the sale was paid (not grey, duty or price records)."""
SNAPSHOT_DECISIONS = 20


def when(value: dt.datetime | str | None) -> str:
    """An instant as ISO 8601 text with the UTC offset (naive values are the box's local time)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        return value
    return value.astimezone().isoformat(timespec="seconds")


class Products:
    """Product names and units by G_CODE, nozzle products and line modes, from the configuration (the
    `ControlContext` of the event conversions)."""

    def __init__(self, config: Config | None = None) -> None:
        self._by_code: dict[str, tuple[str, str]] = {}
        self._nozzles: dict[tuple[str, int, int], str] = {}
        self._modes: dict[str, str] = {}
        if config is not None:
            self._modes = line_modes(config)
            self._by_code = {p.g_code: (p.name, p.unit) for p in config.products}
            self._nozzles = {
                (line.name, d.pos_p, n.nzn): n.g_code
                for line in config.lines
                for d in line.dispensers
                for n in d.nozzles
            }

    def nozzle_code(self, line: str, dispenser: int, nzn: int) -> str:
        """The configured product of a nozzle ('' if not configured)."""
        return self._nozzles.get((line, dispenser, nzn), "")

    def name(self, g_code: str) -> str:
        """The product's name; the code itself when not configured; '' for no product (`0000`)."""
        if not g_code or set(g_code) == {"0"}:
            return ""
        return self._by_code.get(g_code, (g_code, ""))[0]

    def unit(self, g_code: str) -> str:
        return self._by_code.get(g_code, ("", "L"))[1]

    def line_mode(self, line: str) -> str:
        return self._modes.get(line, "")


def nozzle_message(status: NozzleStatus, products: ControlContext) -> m.Nozzle:
    return nozzle_event(status, products)


STOP_SALE = "stop_sale"
"""`details.action` of an alarm that asks the attendant to stop the sale at `details.nzn`."""


def alarm_action(details: Mapping[str, Any]) -> str:
    """What an alarm asks the attendant to do, from its details ("" for most alarms)."""
    if details.get("action") == STOP_SALE and isinstance(details.get("nzn"), int):
        return f"stop the sale at nozzle {details['nzn']}"
    return ""


def stored_alarm_message(alarm: StoredAlarm) -> m.Alarm:
    return m.Alarm(
        id=alarm.id,
        source=alarm.source,
        code=alarm.code,
        severity=str(alarm.severity.value),
        message=alarm.message,
        raised_at=when(alarm.raised_at),
        count=alarm.count,
        acknowledged_by=alarm.acknowledged_by or "",
        acknowledged_at=when(alarm.acknowledged_at),
        action=alarm_action(alarm.details),
    )


def shift_message(shift: ShiftRow | None) -> m.ShiftView | None:
    if shift is None:
        return None
    return m.from_json(m.ShiftView, m.to_json(shift_view(shift)))


def decision_message(event: CardDecision) -> m.Decision:
    """A rules decision; the reason is its name (`blacklisted` …) with the numeric code as a fallback."""
    if event.allowed and event.reason == 0:
        reason = ""
    else:
        reason = event.reason_name or ("" if event.reason == 0 else str(event.reason))
    detail_facts = event.details.get("detail_facts") or {}
    return m.Decision(
        line=event.line,
        dispenser=event.dispenser,
        nzn=event.nzn,
        asn=event.asn,
        allowed=event.allowed,
        reason=reason.lower(),
        words=event.words,
        warnings=tuple(str(w) for w in event.warnings),
        warning_facts=tuple(_warning(f) for f in event.warning_facts),
        detail=str(event.details.get("detail", "") or ""),
        detail_facts={str(k): str(v) for k, v in detail_facts.items()},
        at=when(event.at),
    )


def _warning(facts: Mapping[str, Any]) -> m.DecisionWarning:
    amount = facts.get("amount")
    return m.DecisionWarning(
        kind=str(facts.get("kind", "")),
        words=str(facts.get("words", "")),
        due=str(facts.get("due", "") or ""),
        amount=int(amount) if isinstance(amount, int) else None,
        plate=str(facts.get("plate", "") or ""),
    )


# --- one conversion per event type (registered in `edge.routes`) ----------------------------------


def nozzle_event(event: NozzleStatus, ctx: ControlContext) -> m.Nozzle:
    g_code = event.g_code or ctx.nozzle_code(event.line, event.dispenser, event.nzn)
    return m.Nozzle(
        line=event.line,
        dispenser=event.dispenser,
        nzn=event.nzn,
        state=str(event.state.value),
        asn=event.asn,
        amn=event.amn,
        vol=event.vol,
        prc=event.prc,
        g_code=g_code,
        product=ctx.name(g_code),
        unit=ctx.unit(g_code),
        emp=event.emp,
        at=when(event.at),
    )


def sale_event(event: SaleStored, ctx: ControlContext) -> m.Sale:
    return m.Sale(
        line=event.line,
        dispenser=event.dispenser,
        pos_ttc=event.pos_ttc,
        t_type=event.t_type,
        kind=m.kind_name(event.t_type),
        nzn=event.nzn,
        asn=event.asn,
        amn=event.amn,
        vol=event.vol,
        prc=event.prc,
        g_code=event.g_code,
        product=ctx.name(event.g_code),
        emp=event.emp,
        payment=m.payment_mode(event.unit) if event.t_type & 0x0F in PAID_KINDS else "",
        time=event.time,
        at=when(event.at),
    )


def alarm_raised_event(event: AlarmRaised, ctx: ControlContext) -> m.Alarm:
    return m.Alarm(
        id=event.alarm_id,
        source=event.source,
        code=event.code,
        severity=event.severity,
        message=event.message,
        raised_at=when(event.at),
        action=event.action,
    )


def alarm_acked_event(event: AlarmAcknowledged, ctx: ControlContext) -> m.AlarmAcked:
    return m.AlarmAcked(id=event.alarm_id, by=event.by, at=when(event.at))


def alarm_cleared_event(event: AlarmCleared, ctx: ControlContext) -> m.AlarmCleared:
    return m.AlarmCleared(id=event.alarm_id, source=event.source, code=event.code, at=when(event.at))


def line_stats_event(event: LineStatistics, ctx: ControlContext) -> m.LineStats:
    return m.LineStats(
        line=event.line, mode=ctx.line_mode(event.line), stats=_scalars(event.stats), at=when(event.at)
    )


def trace_event(event: FrameTraced, ctx: ControlContext) -> m.Trace:
    return m.Trace(
        line=event.line, direction=event.direction, hex=event.hex, summary=event.summary, at=when(event.at)
    )


def dispenser_online_event(event: DispenserOnline, ctx: ControlContext) -> m.DispenserStatus:
    return m.DispenserStatus(line=event.line, dispenser=event.dispenser, online=event.online, at=when(event.at))


def dispenser_error_event(event: DispenserError, ctx: ControlContext) -> m.DispenserFault:
    return m.DispenserFault(
        line=event.line, dispenser=event.dispenser, info_type=event.info_type, text=event.text, at=when(event.at)
    )


def shift_event(event: ShiftChanged, ctx: ControlContext) -> m.Shift:
    return m.Shift(shift=shift_message(event.shift))


def decision_event(event: CardDecision, ctx: ControlContext) -> m.Decision:
    return decision_message(event)


def _scalars(stats: Mapping[str, Any]) -> dict[str, m.JsonScalar]:
    return {str(k): v for k, v in stats.items() if isinstance(v, int | float | str | bool) or v is None}


def line_modes(config: Config) -> dict[str, str]:
    return {line.name: str(line.mode.value) for line in config.lines}


# --- the snapshot ---------------------------------------------------------------------------------


async def build_snapshot(
    station: Station,
    *,
    products: Products,
    shift: ShiftRow | None,
    decisions: tuple[m.Decision, ...] = (),
    demo: bool = False,
    software: str = "",
    recent_sales: int = RECENT_SALES,
) -> m.Snapshot:
    config = station.config
    modes = line_modes(config)
    lines = tuple(
        m.LineStats(
            line=lc.name,
            mode=modes[lc.name],
            stats=_scalars(station.lines[lc.name].stats.as_dict()) if lc.name in station.lines else {},
            at=when(dt.datetime.now()),
        )
        for lc in config.lines
    )
    labels = {(lc.name, d.pos_p): d.label for lc in config.lines for d in lc.dispensers}
    dispensers: list[m.DispenserView] = []
    nozzles: list[m.Nozzle] = []
    for line_name, sessions in station.sessions.items():
        for s in sessions:
            dispensers.append(
                m.DispenserView(
                    line=line_name,
                    dispenser=s.pos_p,
                    label=labels.get((line_name, s.pos_p), f"D{s.pos_p}"),
                    online=s.online,
                    m_info=s.info.m_info.strip() if s.info is not None else "",
                    totals=tuple(m.NozzleTotal(t.nzn, t.v_tot) for t in s.totals.totals) if s.totals else (),
                    records_stored=s.records_stored,
                )
            )
            nozzles.extend(nozzle_message(status, products) for status in s.nozzles.values())
    rows = await recent_records(station.db, recent_sales)
    sales = tuple(
        m.Sale(
            line=r.line,
            dispenser=r.dispenser,
            pos_ttc=r.pos_ttc,
            t_type=r.t_type,
            kind=m.kind_name(r.t_type),
            nzn=r.nzn,
            asn=r.asn,
            amn=r.amn,
            vol=r.vol,
            prc=r.prc,
            g_code=r.g_code,
            product=products.name(r.g_code),
            emp=r.emp,
            payment=m.payment_mode(r.unit) if r.t_type & 0x0F in PAID_KINDS else "",
            time=r.time,
            at=when(r.received_at),
        )
        for r in rows
    )
    alarms = tuple(stored_alarm_message(a) for a in await station.alarms.active())
    return m.Snapshot(
        station=m.StationView(
            id=config.station.id,
            name=config.station.name,
            uptime_s=round(time.monotonic() - station.started_mono, 1),
            demo=demo,
            software=software,
        ),
        lines=lines,
        dispensers=tuple(dispensers),
        nozzles=tuple(nozzles),
        sales=sales,
        alarms=alarms,
        shift=shift_message(shift),
        decisions=decisions,
        uplink=await uplink_view(station),
    )


async def uplink_view(station: Station) -> dict[str, m.JsonScalar]:
    """What `station status` and the TUI show about the centre link (flat, JSON scalars)."""
    return await station.centre.view()
