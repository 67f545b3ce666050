"""From the daemon's internal events and stored rows to control API messages.

Layer: edge (pure functions, except `build_snapshot` which reads the station). This is the border:
nothing of `edge.events` or `storage` crosses the socket except through these functions.

The control server also publishes two events of its own on the bus (so every viewer and the uplink
see them): `AlarmAcknowledged` and `ShiftChanged`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edge.control import messages as m
from edge.events import (
    AlarmRaised,
    DispenserError,
    DispenserOnline,
    FrameTraced,
    LineStatistics,
    NozzleStatus,
    SaleStored,
)
from storage.alarms import Alarm as StoredAlarm
from storage.shifts import ShiftRow, shift_view

if TYPE_CHECKING:
    from edge.config import Config
    from edge.daemon import Station

RECENT_SALES = 50
PAID_KINDS = frozenset({0, 3, 4, 7, 9})
"""Record kinds whose UNIT b7-4 says how the sale was paid (not grey, duty or price records)."""
SNAPSHOT_DECISIONS = 20


@dataclass(frozen=True, slots=True)
class AlarmAcknowledged:
    """Published by the control server when an operator acknowledged an alarm."""

    alarm_id: int
    by: str
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class ShiftChanged:
    """Published by the control server when a shift was opened or closed."""

    shift: ShiftRow


def when(value: dt.datetime | str | None) -> str:
    """An instant as ISO 8601 text with the UTC offset (naive values are the box's local time)."""
    if value is None or value == "":
        return ""
    if isinstance(value, str):
        return value
    return value.astimezone().isoformat(timespec="seconds")


class Products:
    """Product names and units by G_CODE, from the configuration."""

    def __init__(self, config: Config | None = None) -> None:
        self._by_code: dict[str, tuple[str, str]] = {}
        self._nozzles: dict[tuple[str, int, int], str] = {}
        if config is not None:
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


def nozzle_message(status: NozzleStatus, products: Products) -> m.Nozzle:
    g_code = status.g_code or products.nozzle_code(status.line, status.dispenser, status.nzn)
    return m.Nozzle(
        line=status.line,
        dispenser=status.dispenser,
        nzn=status.nzn,
        state=str(status.state.value),
        asn=status.asn,
        amn=status.amn,
        vol=status.vol,
        prc=status.prc,
        g_code=g_code,
        product=products.name(g_code),
        unit=products.unit(g_code),
        emp=status.emp,
        at=when(status.at),
    )


def sale_message(event: SaleStored, products: Products) -> m.Sale:
    unit = getattr(event, "unit", None)
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
        product=products.name(event.g_code),
        emp=event.emp,
        payment=m.payment_mode(unit) if isinstance(unit, int) and event.t_type & 0x0F in PAID_KINDS else "",
        time=event.time,
        at=when(event.at),
    )


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


def decision_message(event: Any) -> m.Decision:
    """A rules decision event (`edge.decisions.CardDecision`, read by duck typing: any event with `asn`
    and `allowed`); the reason is its name (`blacklisted` …) with the numeric code as a fallback."""
    name = getattr(event, "reason_name", "") or ""
    code = getattr(event, "reason", "")
    allowed = bool(getattr(event, "allowed", False))
    if allowed and code in (0, "", None):
        reason = ""
    else:
        reason = str(name) if name else ("" if code in (0, "", None) else str(getattr(code, "name", code)))
    words = getattr(event, "words", "") or getattr(event, "message", "") or ""
    warnings = getattr(event, "warnings", ()) or ()
    facts = getattr(event, "warning_facts", ()) or ()
    details = getattr(event, "details", None) or {}
    detail_facts = details.get("detail_facts") or {}
    return m.Decision(
        line=str(getattr(event, "line", "")),
        dispenser=int(getattr(event, "dispenser", 0) or 0),
        nzn=int(getattr(event, "nzn", 0) or 0),
        asn=str(getattr(event, "asn", "")),
        allowed=allowed,
        reason=reason.lower(),
        words=str(words),
        warnings=tuple(str(w) for w in warnings),
        warning_facts=tuple(_warning(f) for f in facts),
        detail=str(details.get("detail", "") or ""),
        detail_facts={str(k): str(v) for k, v in detail_facts.items()},
        at=when(getattr(event, "at", None)),
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


def event_message(event: Any, products: Products, line_modes: Mapping[str, str]) -> m.Message | None:
    """The wire message for one bus event; None for events viewers do not get."""
    match event:
        case NozzleStatus():
            return nozzle_message(event, products)
        case SaleStored():
            return sale_message(event, products)
        case AlarmRaised():
            return m.Alarm(
                id=event.alarm_id,
                source=event.source,
                code=event.code,
                severity=event.severity,
                message=event.message,
                raised_at=when(event.at),
                action=event.action,
            )
        case AlarmAcknowledged():
            return m.AlarmAcked(id=event.alarm_id, by=event.by, at=when(event.at))
        case LineStatistics():
            return m.LineStats(
                line=event.line,
                mode=line_modes.get(event.line, ""),
                stats=_scalars(event.stats),
                at=when(event.at),
            )
        case FrameTraced():
            return m.Trace(
                line=event.line,
                direction=event.direction,
                hex=event.hex,
                summary=event.summary,
                at=when(event.at),
            )
        case DispenserOnline():
            return m.DispenserStatus(
                line=event.line, dispenser=event.dispenser, online=event.online, at=when(event.at)
            )
        case DispenserError():
            return m.DispenserFault(
                line=event.line,
                dispenser=event.dispenser,
                info_type=event.info_type,
                text=event.text,
                at=when(event.at),
            )
        case ShiftChanged():
            return m.Shift(shift=shift_message(event.shift))
        case _ if type(event).__name__ == "AlarmCleared":  # published by the daemon when it has one
            alarm_id = getattr(event, "alarm_id", None)
            return m.AlarmCleared(
                id=alarm_id if isinstance(alarm_id, int) else None,
                source=str(getattr(event, "source", "")),
                code=str(getattr(event, "code", "")),
                at=when(getattr(event, "at", None)),
            )
        case _ if hasattr(event, "allowed") and hasattr(event, "asn"):
            return decision_message(event)
        case _:
            return None


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
    rows = await station.db.fetchall(
        "SELECT line, dispenser, pos_ttc, t_type, nzn, asn, amn, vol, prc, g_code, emp, unit, time,"
        " received_at FROM transactions WHERE conflict_of IS NULL ORDER BY id DESC LIMIT ?",
        (recent_sales,),
    )
    sales = tuple(
        m.Sale(
            line=r["line"],
            dispenser=int(r["dispenser"]),
            pos_ttc=int(r["pos_ttc"]),
            t_type=int(r["t_type"]),
            kind=m.kind_name(int(r["t_type"])),
            nzn=int(r["nzn"]),
            asn=r["asn"],
            amn=int(r["amn"]),
            vol=int(r["vol"]),
            prc=int(r["prc"]),
            g_code=r["g_code"],
            product=products.name(r["g_code"]),
            emp=int(r["emp"]),
            payment=m.payment_mode(int(r["unit"])) if int(r["t_type"]) & 0x0F in PAID_KINDS else "",
            time=r["time"] or "",
            at=when(dt.datetime.fromisoformat(r["received_at"])),
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
    uplink = getattr(station, "uplink", None)
    if uplink is None:
        row = await station.db.fetchone("SELECT count(*) AS n FROM outbox")
        return {"state": "not configured", "outbox_depth": int(row["n"]) if row else 0}
    status = uplink.status()
    outbox, downlink = status.get("outbox", {}), status.get("downlink", {})
    return {
        "state": status.get("state"),
        "broker": status.get("broker"),
        "outbox_depth": outbox.get("depth"),
        "outbox_oldest_age_s": outbox.get("oldest_age_s"),
        "drain_rate_per_s": outbox.get("drain_rate_per_s"),
        "in_flight": outbox.get("in_flight"),
        "downlink_applied": downlink.get("applied"),
        "downlink_rejected": downlink.get("rejected"),
    }
