"""The daily close (日结) in the daemon: what may still be in a dispenser, then one closing transaction.

Layer: edge (service; the figures and rows are `storage.reports.dayclose`). A business day D (from the
day boundary to the next) can be closed once it is over, when no shift is open and nothing of D can
still arrive from a dispenser:

    a dispenser offline              its records of D may be waiting in it
    an open record gap               a POS_TTC the dispenser has not sent yet (0x3E asks for it)
    a sale that started before D's end and whose record is not stored yet
                                     (nozzle up / fuelling / finished, tracked from the event bus)

The refusal names each one (`bus1/2 offline`, `bus1/3 nozzle 2: sale since 05:59:58`). The close itself —
frozen figures, adjustments, the audit row and the message for the centre — is one transaction.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
from typing import TYPE_CHECKING, Any

from edge.clock_guard import describe_seconds
from edge.errors import EdgeError
from edge.events import NozzleState, NozzleStatus, SaleStored
from edge.housekeeping_config import HousekeepingSettings, housekeeping_settings
from storage.audit import append_in
from storage.clock import Clock, iso_instant, utc_now
from storage.outbox import enqueue_in
from storage.reports.core import Names, figures_json
from storage.reports.dayclose import ClosedDayRow, DayCloseError, close_day_in
from storage.reports.periods import day_period

if TYPE_CHECKING:
    from edge.station import Station

log = logging.getLogger(__name__)

BUSY = (NozzleState.NOZZLE_UP, NozzleState.FUELLING, NozzleState.FINISHED)
NOT_RECORD_KINDS = (5, 6, 8)
"""Records that do not end a sale (duty, price receipt)."""
TRACK_QUEUE_LIMIT = 4096
FAULT_PAUSE_ENV = "STATION_FAULT_CLOSE_PAUSE_S"
"""Fault injection for the crash tests: seconds to pause inside the closing transaction, before COMMIT."""
NozzleKey = tuple[str, int, int]


class DayNotClosable(EdgeError):
    """The day cannot be closed now; `reasons` lists each thing in the way."""

    def __init__(self, day: str, reasons: list[str]) -> None:
        super().__init__(f"business day {day} cannot be closed: " + "; ".join(reasons))
        self.day = day
        self.reasons = reasons


class SalesInProgress:
    """Since when each nozzle has had a sale whose record is not stored yet (pure; fed with bus events)."""

    def __init__(self) -> None:
        self.since: dict[NozzleKey, dt.datetime] = {}

    def feed(self, event: Any) -> None:
        match event:
            case NozzleStatus(line=line, dispenser=d, nzn=nzn, state=state, at=at):
                key = (line, d, nzn)
                if state in (NozzleState.NOZZLE_UP, NozzleState.FUELLING):
                    self.since.setdefault(key, _local(at))
                elif state in (NozzleState.IDLE, NozzleState.OFFLINE, NozzleState.CARD_INSERTED):
                    self.since.pop(key, None)
            case SaleStored(line=line, dispenser=d, nzn=nzn, t_type=t_type):
                if t_type & 0x0F not in NOT_RECORD_KINDS:
                    self.since.pop((line, d, nzn), None)

    def started_before(self, end: dt.datetime) -> dict[NozzleKey, dt.datetime]:
        return {k: v for k, v in self.since.items() if v < end}


def _local(at: dt.datetime) -> dt.datetime:
    return at.astimezone().replace(tzinfo=None) if at.tzinfo is not None else at


class DayCloseService:
    def __init__(
        self, station: Station, *, clock: Clock = utc_now, settings: HousekeepingSettings | None = None
    ) -> None:
        self.station = station
        self.clock = clock
        self.settings = settings or housekeeping_settings(station.config)
        self.sales = SalesInProgress()
        self.tracking = False

    async def track(self) -> None:
        """Follow the bus for sales in progress (a daemon task, for the life of the daemon)."""
        while True:
            sub = self.station.bus.subscribe(TRACK_QUEUE_LIMIT, only=(NozzleStatus, SaleStored))
            self.tracking = True
            try:
                async for event in sub:
                    self.sales.feed(event)
            finally:
                self.tracking = False
                sub.close()
            log.warning("daily close: bus subscription overflowed; resubscribing")

    @property
    def names(self) -> Names:
        products = self.station.config.products
        return Names({p.g_code: p.name for p in products}, {p.g_code: p.unit for p in products})

    def default_day(self) -> dt.date:
        """The last business day that is over."""
        now = _local(self.clock())
        return self.settings.day_boundary.day_of(now) - dt.timedelta(days=1)

    async def obstacles(self, day: dt.date) -> list[str]:
        """What keeps `day` from being closed now (empty: nothing)."""
        end = day_period(day, self.settings.day_boundary).end
        reasons: list[str] = []
        guard = getattr(self.station, "clock", None)
        if guard is not None and guard.step is not None:  # edge.clock_guard: a step makes day edges suspect
            reasons.append(
                f"the wall clock stepped by {describe_seconds(guard.step.seconds)} and is not trusted yet"
                " (acknowledge the clock_step alarm once the time is right)"
            )
        gaps = await self.station.db.fetchall(
            "SELECT line, dispenser, group_concat(pos_ttc, ', ') AS missing FROM record_gaps"
            " WHERE state = 'open' GROUP BY line, dispenser ORDER BY line, dispenser"
        )
        for sessions in self.station.sessions.values():
            for s in sessions:
                if not s.online:
                    reasons.append(f"{s.source} offline: its records of {day} may still be in it")
                    continue
                for nzn, status in sorted(s.nozzles.items()):
                    since = self.sales.since.get((s.line, s.pos_p, nzn))
                    if since is None and status.state in BUSY and not self.tracking:
                        since = _local(status.at)
                    if since is not None and since < end:
                        reasons.append(
                            f"{s.source} nozzle {nzn}: sale since {since:%Y-%m-%d %H:%M:%S} not recorded yet"
                        )
        for g in gaps:
            reasons.append(f"{g['line']}/{g['dispenser']} has not sent POS_TTC {g['missing']}")
        return reasons

    async def close(self, actor: str, role: str, day: dt.date | None = None) -> ClosedDayRow:
        day = day or self.default_day()
        period = day_period(day, self.settings.day_boundary)
        reasons = await self.obstacles(day)
        if reasons:
            raise DayNotClosable(period.name, reasons)
        now = self.clock()
        async with self.station.db.transaction() as tx:
            try:
                row = await close_day_in(
                    tx, day, self.settings.day_boundary, by=actor, now=now,
                    station=self.station.config.station.id, names=self.names,
                )  # fmt: skip
            except DayCloseError as exc:
                raise DayNotClosable(period.name, [str(exc)]) from exc
            await append_in(
                tx,
                actor=actor,
                role=role,
                action="close_day",
                target=f"day {period.name}",
                details={"records": row.report.total.count, "amount": row.report.total.amount,
                         "last_record_id": row.last_record_id, "digest": row.digest, "adjustments": row.adjustments},
                now=now,
            )  # fmt: skip
            messages = self.station.outbox.for_day_close(
                period.name, iso_instant(now), actor, row.last_record_id, row.digest, figures_json(row.report)
            )
            await enqueue_in(tx, messages, now=now)
            pause_s = float(os.environ.get(FAULT_PAUSE_ENV) or 0)
            if pause_s > 0:
                log.warning("daily close of %s: pausing %.1f s before COMMIT (%s)", period.name, pause_s, FAULT_PAUSE_ENV)
                await asyncio.sleep(pause_s)
        log.info(
            "business day %s closed by %s: %d records, amount %d fen (records up to id %d)",
            period.name, actor, row.report.total.count, row.report.total.amount, row.last_record_id,
        )  # fmt: skip
        return row


async def day_close_task(station: Station) -> None:
    """Daemon task: keep the daily close's view of sales in progress (`station.day_close`)."""
    if station.day_close is not None:
        await station.day_close.track()


__all__ = ["DayCloseService", "DayNotClosable", "SalesInProgress", "day_close_task"]
