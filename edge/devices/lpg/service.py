"""The fill flow at a filling scale: registry check, start, stop at target, re-weigh, record.

Layer: edge (I/O shell around `fitness`). Order of durable facts:

1. refused (unknown / scrapped / overdue / unknown tare / not empty): an audit row with the reason in
   words (and an alarm for a barcode the registry does not know); the scale is never started;
2. accepted: the fill row is stored with status `filling` BEFORE the start command, so a controller
   killed mid-fill finds it at its next start and records it as `interrupted` (`interrupt_open_fills`);
3. the weight is polled until gross ≥ target, then the stop command — or, when the flow seen since the
   valve opened puts the target before the next reading would come back (a busy line), the stop is sent
   at the predicted instant; the scale is then re-read until stable;
4. net = gross − tare; above nominal + tolerance the fill is `overfilled`, the cylinder goes to `problem`
   (no hand-out until corrected) and an alarm is raised; otherwise `done` and the cylinder is `full`;
5. a scale failure mid-fill (no answer, exception, garbage, a reading that does not decode): a best-effort
   stop, the fill `interrupted` with the failure in words, the cylinder to `problem`, an alarm.

Steps 4 and 5 store the fill, the cylinder's state change and the record for the centre in one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from edge.devices.lpg.fitness import FillPlan, Refusal, RefusalCode, check_fill
from edge.devices.lpg.scale import Scale, ScaleReading
from edge.devices.lpg.specs import LpgSettings
from edge.devices.modbus import ModbusFailure
from edge.errors import EdgeError
from protocol.modbus_map import RegisterValueError
from protocol.scale_maps import ScaleCommand
from storage import lpg
from storage.alarms import Severity, clear_in, raise_in
from storage.audit import Outcome, append_in
from storage.clock import utc_now
from storage.db import Database

__all__ = ["FillOutcome", "FillService", "ScaleFault"]

log = logging.getLogger(__name__)


class ScaleFault(EdgeError):
    """The scale failed during a fill (the fill is recorded as interrupted)."""


@dataclass(frozen=True, slots=True)
class FillOutcome:
    refusal: Refusal | None = None
    record: lpg.FillRow | None = None
    stop_latency_s: float | None = None
    """From the read that saw the target to the stop command's acknowledgement."""


class FillService:
    def __init__(
        self,
        db: Database,
        settings: LpgSettings,
        *,
        station: str,
        clock: Callable[[], dt.datetime] = utc_now,
        fill_timeout_s: float = 600.0,
        settle_timeout_s: float = 30.0,
        stall_timeout_s: float = 5.0,
    ) -> None:
        self.db = db
        self.settings = settings
        self.station = station
        self.clock = clock
        self.fill_timeout_s = fill_timeout_s
        self.settle_timeout_s = settle_timeout_s
        self.stall_timeout_s = stall_timeout_s

    async def recover(self) -> list[lpg.FillRow]:
        """At start-up: fills left open by a stopped controller are recorded as interrupted."""
        rows = await lpg.interrupt_open_fills(self.db, station=self.station, now=self.clock())
        for r in rows:
            log.warning("fill %d of cylinder %s at %s was interrupted by a stop", r.id, r.barcode, r.scale)
        return rows

    async def check(self, barcode: str) -> FillPlan | Refusal:
        c = await lpg.cylinder(self.db, barcode)
        return check_fill(barcode, c, self.settings, self.clock().date())

    async def fill(self, barcode: str, scale: Scale, operator: str) -> FillOutcome:
        plan = await self.check(barcode)
        now = self.clock()
        if isinstance(plan, Refusal):
            log.warning("fill refused at %s: %s", scale.name, plan.reason)
            async with self.db.transaction() as tx:
                await append_in(tx, actor=operator, action="lpg.fill", outcome=Outcome.REFUSED, source="lpg",
                                target=barcode, details={"reason": plan.reason, "code": plan.code.value,
                                                         "scale": scale.name}, now=now)  # fmt: skip
                if plan.code is RefusalCode.UNKNOWN:
                    await raise_in(tx, "lpg", "unknown_cylinder", Severity.WARNING, plan.reason,
                                   {"barcode": barcode, "scale": scale.name}, now=now)  # fmt: skip
            return FillOutcome(refusal=plan)
        async with self.db.transaction() as tx:
            fill_id = await lpg.begin_fill_in(tx, barcode=barcode, scale=scale.name, operator=operator,
                                              tare_kg=plan.tare_kg, target_kg=plan.target_kg, now=now)  # fmt: skip
            await append_in(tx, actor=operator, action="lpg.fill", source="lpg", target=barcode,
                            details={"fill": fill_id, "scale": scale.name, "target_kg": plan.target_kg}, now=now)  # fmt: skip
        try:
            final, latency = await self._run(scale, plan)
        except ScaleFault as exc:
            return FillOutcome(record=await self._interrupted(fill_id, plan, scale, str(exc)))
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._interrupted(fill_id, plan, scale, "the fill was cancelled"))
            raise
        return FillOutcome(record=await self._finished(fill_id, plan, scale, final), stop_latency_s=latency)

    async def _read(self, scale: Scale) -> ScaleReading:
        try:
            return await scale.read()
        except (ModbusFailure, RegisterValueError) as exc:
            raise ScaleFault(f"scale {scale.name}: {exc}") from exc

    async def _command(self, scale: Scale, command: ScaleCommand) -> None:
        try:
            await scale.command(command)
        except ModbusFailure as exc:
            raise ScaleFault(f"scale {scale.name}: {command.value} command failed: {exc}") from exc

    async def _run(self, scale: Scale, plan: FillPlan) -> tuple[ScaleReading, float]:
        sent = time.monotonic()
        await self._command(scale, ScaleCommand.START)
        command_s = time.monotonic() - sent  # how long a command takes on this line, to lead the stop by
        deadline = time.monotonic() + self.fill_timeout_s
        moved_at, last_gross = time.monotonic(), None
        first: tuple[float, float] | None = None
        last_at: float | None = None
        while True:
            reading = await self._read(scale)
            now = time.monotonic()
            if reading.gross_kg != last_gross:
                moved_at, last_gross = now, reading.gross_kg
            elif now - moved_at > self.stall_timeout_s:
                raise ScaleFault(f"scale {scale.name}: the weight stays at {reading.gross_kg} kg while filling "
                                 "(frozen reading or no gas)")  # fmt: skip
            if reading.gross_kg >= plan.target_kg:
                await self._command(scale, ScaleCommand.STOP)
                latency = time.monotonic() - now
                break
            crossing = self._predicted_crossing(first, now, reading.gross_kg, plan.target_kg)
            if crossing is not None and last_at is not None and crossing <= now + (now - last_at):
                # the target falls before the next reading would come back: stop at the predicted instant
                await asyncio.sleep(max(0.0, crossing - command_s / 2 - time.monotonic()))
                await self._command(scale, ScaleCommand.STOP)
                latency = time.monotonic() - crossing
                break
            if first is None and reading.valve_open:
                first = (now, reading.gross_kg)
            last_at = now
            if now > deadline:
                raise ScaleFault(f"scale {scale.name}: target {plan.target_kg} kg not reached in time "
                                 f"(last {reading.gross_kg} kg)")  # fmt: skip
        deadline = time.monotonic() + self.settle_timeout_s
        last: float | None = None
        while True:
            reading = await self._read(scale)
            if reading.stable and not reading.valve_open and reading.gross_kg == last:
                return reading, latency
            last = reading.gross_kg if reading.stable else None
            if time.monotonic() > deadline:
                raise ScaleFault(f"scale {scale.name}: the weight did not settle after the stop")

    @staticmethod
    def _predicted_crossing(
        first: tuple[float, float] | None, now: float, gross: float, target: float
    ) -> float | None:
        """When the weight reaches `target` at the flow seen since the valve opened (None: too early to say)."""
        if first is None or now - first[0] < 0.2:
            return None
        rate = (gross - first[1]) / (now - first[0])
        if rate <= 0:
            return None
        return now + (target - gross) / rate

    async def _finished(self, fill_id: int, plan: FillPlan, scale: Scale, final: ScaleReading) -> lpg.FillRow:
        now = self.clock()
        net = round(final.gross_kg - plan.tare_kg, 3)
        over = net > plan.spec.nominal_kg + plan.spec.tolerance_kg
        barcode = plan.cylinder.barcode
        async with self.db.transaction() as tx:
            if over:
                detail = (f"over-filled: net {net:.2f} kg exceeds {plan.spec.nominal_kg:g} + "
                          f"{plan.spec.tolerance_kg:g} kg; correct before hand-out")  # fmt: skip
                row = await lpg.finish_fill_in(tx, fill_id, status=lpg.FillStatus.OVERFILLED, gross_kg=final.gross_kg,
                                               net_kg=net, detail=detail, station=self.station, now=now)  # fmt: skip
                await lpg.set_state_in(tx, barcode, lpg.CylinderState.PROBLEM, reason=detail, actor=row.operator,
                                       now=now)  # fmt: skip
                await raise_in(tx, f"lpg.{scale.name}", "overfill", Severity.MAJOR, f"cylinder {barcode}: {detail}",
                               {"fill": fill_id, "barcode": barcode, "net_kg": net}, now=now)  # fmt: skip
                log.warning("fill %d: cylinder %s %s", fill_id, barcode, detail)
            else:
                row = await lpg.finish_fill_in(tx, fill_id, status=lpg.FillStatus.DONE, gross_kg=final.gross_kg,
                                               net_kg=net, detail="", station=self.station, now=now)  # fmt: skip
                await lpg.set_state_in(tx, barcode, lpg.CylinderState.FULL, reason=f"filled ({net:.2f} kg)",
                                       actor=row.operator, now=now)  # fmt: skip
            await clear_in(tx, f"lpg.{scale.name}", "scale_fault", now=now)
        return row

    async def _interrupted(self, fill_id: int, plan: FillPlan, scale: Scale, why: str) -> lpg.FillRow:
        log.error("fill %d interrupted: %s", fill_id, why)
        with contextlib.suppress(Exception):
            async with asyncio.timeout(2.0):
                await scale.command(ScaleCommand.STOP)
        now = self.clock()
        barcode = plan.cylinder.barcode
        async with self.db.transaction() as tx:
            row = await lpg.finish_fill_in(tx, fill_id, status=lpg.FillStatus.INTERRUPTED, gross_kg=None,
                                           net_kg=None, detail=why, station=self.station, now=now)  # fmt: skip
            await lpg.set_state_in(tx, barcode, lpg.CylinderState.PROBLEM, reason=f"fill interrupted: {why}",
                                   actor=row.operator, now=now)  # fmt: skip
            await raise_in(tx, f"lpg.{scale.name}", "scale_fault", Severity.MAJOR, why,
                           {"fill": fill_id, "barcode": barcode}, now=now)  # fmt: skip
        return row
