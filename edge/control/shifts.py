"""Shift operations of the control API: read the totalizers, open, close / hand over, report.

Layer: edge (service; the rows and the report are `storage.shifts`, `storage.shift_build` and `storage.shift_render`). A handover reads the nozzle volume
totals (0x38) of every online dispenser through its session (`request_read(TotalsRead())`, answered on
the next poll), waits up to `totals_wait_s` for the answers, and falls back to the last stored reading
for a dispenser that is offline or does not answer (the report says so per nozzle). Closing a shift
stores the end totals, freezes the final report and — with a handover — opens the next shift at the
same totals, all in one transaction with its audit rows. While the wall clock is in doubt
(`edge.clock_guard`) opening and closing are refused; storage refuses a shift that would close before it
opened or open before the previous one closed, whatever the clock guard says.

Languages: the frozen report and the copy sent to the centre are rendered in English (the neutral
source texts, like every stored word); the report a person asks for is rendered again from its figures
in the language they read (`language`: the request's, else the station's).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from edge.clock_guard import ClockDoubt
from edge.control import messages as m
from edge.errors import EdgeError
from edge.events import ShiftChanged
from protocol.i18n import Translator, UnknownLanguage, translator
from protocol.messages import TotalsRead
from storage import operators as ops
from storage.audit import append_in
from storage.clock import Clock, utc_now
from storage.db import Tx
from storage.outbox import enqueue_in
from storage.shift_render import ENGLISH, render
from storage.shift_report import ShiftReport, report_from_json, report_json
from storage.shift_rows import NozzleRef, Reading, ShiftRow
from storage.shifts import ShiftError, ShiftStore, close_in, open_in

if TYPE_CHECKING:
    from edge.session import DispenserSession
    from edge.station import Station

log = logging.getLogger(__name__)

TOTALS_WAIT_S = 5.0
"""How long a handover waits for the dispensers' 0x38 answers."""
WATCH_QUEUE_LIMIT = 64


class ShiftRequestError(EdgeError):
    """A shift request that cannot be done; `code` is an `ErrorCode` for the wire."""

    def __init__(self, code: m.ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class ShiftService:
    def __init__(
        self,
        station: Station,
        *,
        clock: Clock = utc_now,
        totals_wait_s: float = TOTALS_WAIT_S,
        tolerance: int = 0,
    ) -> None:
        self.station = station
        self.store = ShiftStore(station.db, clock=clock)
        self.clock = clock
        self.totals_wait_s = totals_wait_s
        self.tolerance = tolerance
        self.totals_requested = asyncio.Event()
        """Set while a totals read is waiting for the dispensers' answers (observability, tests)."""

    def title(self, tr: Translator = ENGLISH) -> str:
        st = self.station.config.station
        return tr("Station {id}").format(id=st.id) + (f" — {st.name}" if st.name else "")

    def _for_reader(self, report: ShiftReport, language: str) -> m.ShiftReport:
        """The report as the person who asked reads it (their language, else the station's)."""
        try:
            tr = translator(language or self.station.config.station.language)
        except UnknownLanguage:
            tr = translator(self.station.config.station.language)
        return m.from_json(m.ShiftReport, report_json(render(report, tr, title=self.title(tr))))

    def nozzles(self) -> list[NozzleRef]:
        config = self.station.config
        refs = []
        for line in config.lines:
            for d in line.dispensers:
                for n in d.nozzles:
                    product = config.product(n.g_code)
                    refs.append(
                        NozzleRef(line.name, d.pos_p, n.nzn, n.g_code, product.name if product else "")
                    )
        return refs

    def _targets(self, line: str = "", dispenser: int | None = None) -> list[DispenserSession]:
        return [
            s
            for name, sessions in self.station.sessions.items()
            if not line or name == line
            for s in sessions
            if dispenser is None or s.pos_p == dispenser
        ]

    async def read_totals(self, line: str = "", dispenser: int | None = None) -> list[Reading]:
        """Fresh 0x38 totals where the dispensers answer in time, else the last stored ones."""
        targets = self._targets(line, dispenser)
        if not targets:
            raise ShiftRequestError(m.ErrorCode.NOT_FOUND, f"no dispenser {line or '*'}/{dispenser or '*'}")
        before = {id(s): s.totals for s in targets}
        for s in targets:
            if s.online:
                s.request_read(TotalsRead())
        self.totals_requested.set()
        try:
            await self._wait_for_answers(lambda: any(s.online and s.totals is before[id(s)] for s in targets))
        finally:
            self.totals_requested.clear()
        now = self.clock()
        readings: list[Reading] = []
        for s in targets:
            if s.totals is not None and s.totals is not before[id(s)]:
                values, read_at, fresh = {t.nzn: t.v_tot for t in s.totals.totals}, now, True
            else:
                stored = await self.station.journal.latest_totals(s.line, s.pos_p)
                if stored is None:
                    continue
                values = {t.nzn: t.v_tot for t in stored.totals.totals}
                read_at, fresh = stored.read_at, False
            readings.extend(
                Reading(s.line, s.pos_p, nzn, v_tot, read_at, fresh)
                for nzn, v_tot in sorted(values.items())
                if nzn in s.nozzles or not s.nozzles
            )
        return readings

    async def _wait_for_answers(self, pending: Callable[[], bool]) -> None:
        """Wait until `pending()` is false or `totals_wait_s` passed, re-checking at every bus event
        (every frame on a line is traced on the bus, and line statistics come every second)."""
        bus = self.station.bus
        sub = bus.subscribe(WATCH_QUEUE_LIMIT)
        try:
            async with asyncio.timeout(self.totals_wait_s):
                while pending():
                    if sub.overflowed:
                        sub = bus.subscribe(WATCH_QUEUE_LIMIT)
                    await sub.wait()
        except TimeoutError:
            pass
        finally:
            sub.close()

    def _require_clock(self, what: str) -> None:
        """Shifts are ordered by the wall clock: refused while it is in doubt (`edge.clock_guard`)."""
        guard = getattr(self.station, "clock", None)
        if guard is None:
            return
        try:
            guard.require_trusted(what)
        except ClockDoubt as exc:
            log.warning("%s", exc)
            raise ShiftRequestError(m.ErrorCode.CONFLICT, str(exc)) from exc

    async def open(self, actor: str, role: str, note: str = "") -> ShiftRow:
        self._require_clock("opening a shift")
        readings = await self.read_totals()
        now = self.clock()
        async with self.station.db.transaction() as tx:
            try:
                shift = await open_in(tx, actor, readings, now=now, note=note)
            except ShiftError as exc:  # one is open already, or it would open before the last one closed
                raise ShiftRequestError(m.ErrorCode.CONFLICT, str(exc)) from exc
            await append_in(
                tx,
                actor=actor,
                role=role,
                action="open_shift",
                target=f"shift {shift.id}",
                details={"readings": len(readings), "stale": sum(not r.fresh for r in readings)},
                now=now,
            )
            await self._uplink(tx, str(shift.id), "open", now, actor)
        self.station.bus.publish(ShiftChanged(shift))
        return shift

    async def close(
        self, actor: str, role: str, handover_to: str = "", note: str = "", language: str = ""
    ) -> m.ShiftReport:
        if handover_to:
            target = await ops.OperatorStore(self.station.db).get(handover_to)
            if target is None or target.locked or target.demo:
                raise ShiftRequestError(
                    m.ErrorCode.NOT_FOUND, f"no active operator {handover_to!r} to hand over to"
                )
            handover_to = target.username
        if await self.store.current() is None:
            raise ShiftRequestError(m.ErrorCode.CONFLICT, "no shift is open")
        self._require_clock("closing a shift")
        readings = await self.read_totals()
        now = self.clock()
        next_shift: ShiftRow | None = None
        async with self.station.db.transaction() as tx:
            try:
                closed, report = await close_in(
                    tx,
                    actor,
                    readings,
                    now=now,
                    nozzles=self.nozzles(),
                    handed_to=handover_to,
                    tolerance=self.tolerance,
                    title=self.title(),
                )
            except ShiftError as exc:  # closed meanwhile, or it would close before it opened
                raise ShiftRequestError(m.ErrorCode.CONFLICT, str(exc)) from exc
            await append_in(
                tx,
                actor=actor,
                role=role,
                action="close_shift",
                target=f"shift {closed.id}",
                details={"handover_to": handover_to, "flagged": report.flagged, "note": note},
                now=now,
            )
            await self._uplink(
                tx, str(closed.id), "close", now, actor, handed_to=handover_to, summary=report_json(report)
            )
            if handover_to:
                next_shift = await open_in(tx, handover_to, readings, now=now, note=f"handed over by {actor}")
                await append_in(
                    tx,
                    actor=actor,
                    role=role,
                    action="open_shift",
                    target=f"shift {next_shift.id}",
                    details={"for": handover_to, "handover_from": closed.id},
                    now=now,
                )
                await self._uplink(tx, str(next_shift.id), "open", now, handover_to)
        self.station.bus.publish(ShiftChanged(closed))
        if next_shift is not None:
            self.station.bus.publish(ShiftChanged(next_shift))
        return self._for_reader(report, language)

    async def _uplink(
        self,
        tx: Tx,
        shift_id: str,
        event: str,
        now: dt.datetime,
        operator: str,
        *,
        handed_to: str = "",
        summary: dict[str, Any] | None = None,
    ) -> None:
        """Queue the shift record for the centre in the shift's own transaction (store-and-forward)."""
        messages = self.station.outbox.for_shift(
            shift_id, event, now, operator, handed_to=handed_to, summary=summary
        )
        await enqueue_in(tx, messages, now=now)

    async def report(self, shift_id: int | None = None, language: str = "") -> m.ShiftReport:
        shift = await (self.store.current() if shift_id is None else self.store.get(shift_id))
        if shift is None:
            what = "no shift is open" if shift_id is None else f"no shift {shift_id}"
            raise ShiftRequestError(m.ErrorCode.NOT_FOUND, what)
        if not shift.open:
            stored = await self.store.stored_report(shift.id)
            if stored is not None:
                return self._for_reader(report_from_json(stored), language)
        end = await self._latest_readings(shift.opened_at)
        report = await self.store.provisional_report(
            shift, end, nozzles=self.nozzles(), tolerance=self.tolerance, title=self.title()
        )
        return self._for_reader(report, language)

    async def _latest_readings(self, since: dt.datetime) -> list[Reading]:
        readings: list[Reading] = []
        for s in self._targets():
            stored = await self.station.journal.latest_totals(s.line, s.pos_p)
            if stored is None:
                continue
            readings.extend(
                Reading(s.line, s.pos_p, t.nzn, t.v_tot, stored.read_at, stored.read_at >= since)
                for t in stored.totals.totals
            )
        return readings

    async def current(self) -> ShiftRow | None:
        return await self.store.current()

    async def recent(self, limit: int) -> list[ShiftRow]:
        return await self.store.recent(max(1, min(limit, 500)))
