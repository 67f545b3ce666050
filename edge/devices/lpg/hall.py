"""The filling hall: the scales of `[[lpg.scales]]` polled by the daemon, and fills run on them.

Layer: edge (I/O shell around `FillService`). One `ModbusLink` per line (serial path or TCP endpoint),
shared by the scales on it. Each scale has its own loop:

    idle ── read every poll_s ─▶ ScaleState (weight, stable) on the bus when it changes
      │        no answer / undecodable ─▶ ScaleState offline + alarm `scale_offline` (cleared when it answers)
      └─ start_fill(barcode, scale, operator) ─▶ registry check ─▶ refused: ScaleState refused (reason)
                                                   └─ accepted: FillService.fill as a task of the hall
                                                      (its reads published live) ─▶ done / overfilled /
                                                      interrupted (ScaleState with the outcome)

A fill belongs to the daemon, not to the client that asked for it: a client that goes away does not stop
it; the daemon stopping cancels it, which records it as interrupted (and a SIGKILL leaves a `filling` row
that the next start records as interrupted).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from edge.core.alarms import AlarmSink
from edge.devices.lpg.events import ScaleActivity, ScaleState
from edge.devices.lpg.fitness import FillPlan, Refusal
from edge.devices.lpg.scale import Scale, ScaleReading
from edge.devices.lpg.service import FillOutcome, FillService
from edge.devices.lpg.specs import LpgSettings, ScaleSettings
from edge.devices.modbus import LinkSettings, ModbusFailure, ModbusLink
from edge.errors import EdgeError
from edge.events import EventBus
from protocol.modbus_map import RegisterValueError
from protocol.scale_maps import ScaleCommand
from storage import lpg
from storage.alarms import Severity
from storage.clock import utc_now

__all__ = ["FillStarted", "FillingHall", "HallRefused", "LiveScale"]

log = logging.getLogger(__name__)

OFFLINE_ALARM = "scale_offline"
REPEAT_S = 5.0
"""An unchanged scale state is published again after this long."""


class HallRefused(EdgeError):
    """A fill cannot be started at that scale (unknown scale, or busy with another fill)."""


@dataclass(frozen=True, slots=True)
class FillStarted:
    """A fill accepted and running; `task` ends with its outcome."""

    plan: FillPlan
    task: asyncio.Task[FillOutcome]


class LiveScale(Scale):
    """A scale whose every reading during a fill is also published (the filling screen's live weight)."""

    def __init__(self, settings: ScaleSettings, link: ModbusLink, hall: FillingHall) -> None:
        super().__init__(settings.name, link, settings.device_id, hall.settings.scale_maps[settings.map])
        self.settings = settings
        self._hall = hall

    async def read(self) -> ScaleReading:
        reading = await super().read()
        self._hall.seen(self.name, reading)
        return reading


class FillingHall:
    def __init__(
        self,
        settings: LpgSettings,
        fills: FillService,
        *,
        bus: EventBus,
        alarms: AlarmSink,
        clock: Callable[[], dt.datetime] = utc_now,
    ) -> None:
        self.settings = settings
        self.fills = fills
        self._bus = bus
        self._alarms = alarms
        self._clock = clock
        self.links: dict[str, ModbusLink] = {}
        self.scales: dict[str, LiveScale] = {}
        for s in settings.scales:
            link = self.links.get(s.url)
            if link is None:
                link = self.links[s.url] = ModbusLink(LinkSettings(s.url, s.baud, s.parity, s.stop_bits, s.timeout_s))
            self.scales[s.name] = LiveScale(s, link, self)
        self.states: dict[str, ScaleState] = {
            name: ScaleState(name, ScaleActivity.OFFLINE, clock(), message="not read yet") for name in self.scales
        }
        self._running: dict[str, asyncio.Task[FillOutcome]] = {}
        self._sent: dict[str, float] = {}
        self._claimed: set[str] = set()
        """Scales between a scan and the start of its fill (a second scan there is refused)."""
        self._offline: set[str] = set()
        self._tg: asyncio.TaskGroup | None = None

    # --- the loops ----------------------------------------------------------------------------------

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                for scale in self.scales.values():
                    tg.create_task(self._poll(scale), name=f"scale {scale.name}")
                await asyncio.Event().wait()  # fills run here too: until the daemon stops (cancellation)
        finally:
            self._tg = None
            for link in self.links.values():
                link.close()

    async def stop_valves(self, names: set[str]) -> None:
        """Best effort, at start: a stop command to the scales whose fill a stopped controller left open
        (their valve may still be open)."""
        for name in sorted(names):
            scale = self.scales.get(name)
            if scale is None:
                continue
            try:
                async with asyncio.timeout(max(2.0, 4 * scale.settings.timeout_s)):
                    await scale.command(ScaleCommand.STOP)
                log.warning("scale %s: stop sent (its fill was left open by a stop)", name)
            except (ModbusFailure, TimeoutError) as exc:
                log.error("scale %s: cannot send the stop for the fill left open: %s", name, exc)

    async def _poll(self, scale: LiveScale) -> None:
        while True:
            running = self._running.get(scale.name)
            if running is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait([running])
                continue
            try:
                reading = await Scale.read(scale)
            except (ModbusFailure, RegisterValueError) as exc:
                await self._went_offline(scale, str(exc))
            else:
                if scale.name not in self._running:
                    await self._answered(scale, reading)
            await asyncio.sleep(scale.settings.poll_s)

    async def _went_offline(self, scale: LiveScale, why: str) -> None:
        self._publish(replace(self.states[scale.name], activity=ScaleActivity.OFFLINE, gross_kg=None,
                              stable=False, valve_open=False, message=why, at=self._clock()))  # fmt: skip
        if scale.name not in self._offline:
            self._offline.add(scale.name)
            log.warning("scale %s does not answer: %s", scale.name, why)
            await self._alarms.raise_alarm(f"lpg.{scale.name}", OFFLINE_ALARM, Severity.WARNING.value,
                                           f"scale {scale.name}: {why}", {"scale": scale.name,
                                                                          "url": scale.settings.url})  # fmt: skip

    async def _answered(self, scale: LiveScale, reading: ScaleReading) -> None:
        if scale.name in self._offline:
            self._offline.discard(scale.name)
            log.info("scale %s answers again", scale.name)
            await self._alarms.clear(f"lpg.{scale.name}", OFFLINE_ALARM)
            current = self.states[scale.name]
            if current.activity is ScaleActivity.OFFLINE:
                self._publish(replace(current, activity=ScaleActivity.IDLE, message=""))
        self.seen(scale.name, reading)

    def seen(self, name: str, reading: ScaleReading) -> None:
        """A reading of scale `name` (polled, or read by a fill): published when something changed."""
        current = self.states[name]
        if current.activity is ScaleActivity.OFFLINE:
            current = replace(current, activity=ScaleActivity.IDLE, message="")
        self._publish(replace(current, gross_kg=reading.gross_kg, stable=reading.stable,
                              valve_open=reading.valve_open, at=self._clock()))  # fmt: skip

    def _publish(self, state: ScaleState) -> None:
        """On the bus when it changed, and at least every `REPEAT_S` (a viewer that subscribed since — the
        snapshot does not carry device states — sees every scale within that time)."""
        old = self.states.get(state.scale)
        self.states[state.scale] = state
        now = time.monotonic()
        if old is not None and replace(old, at=state.at) == state and now - self._sent.get(state.scale, 0.0) < REPEAT_S:
            return
        self._sent[state.scale] = now
        self._bus.publish(state)

    # --- fills --------------------------------------------------------------------------------------

    def busy(self, name: str) -> bool:
        return name in self._running

    async def start_fill(self, barcode: str, scale_name: str, operator: str) -> FillStarted | Refusal:
        """Check the cylinder and start its fill on `scale_name`; a refusal (reason in words) is audited
        and shown on the scale. Raises `HallRefused` for an unknown or busy scale, or a stopping hall."""
        scale = self.scales.get(scale_name)
        if scale is None:
            known = ", ".join(self.scales) or "none configured"
            raise HallRefused(f"no scale {scale_name!r} at this station (scales: {known})")
        if scale_name in self._running or scale_name in self._claimed:
            raise HallRefused(f"scale {scale_name} is filling cylinder {self.states[scale_name].barcode}")
        if scale_name in self._offline:
            raise HallRefused(f"scale {scale_name} does not answer: {self.states[scale_name].message}")
        if self._tg is None:
            raise HallRefused("the filling hall is not running")
        self._claimed.add(scale_name)
        try:
            return await self._start(barcode, scale, operator)
        finally:
            self._claimed.discard(scale_name)

    async def _start(self, barcode: str, scale: LiveScale, operator: str) -> FillStarted | Refusal:
        assert self._tg is not None
        scale_name = scale.name
        plan = await self.fills.check(barcode)
        now = self._clock()
        if isinstance(plan, Refusal):
            outcome = await self.fills.fill(barcode, scale, operator)  # audits (and alarms) the refusal
            refusal = outcome.refusal or plan
            self._publish(ScaleState(scale_name, ScaleActivity.REFUSED, now, barcode=barcode,
                                     message=refusal.reason, operator=operator,
                                     gross_kg=self.states[scale_name].gross_kg))  # fmt: skip
            return refusal
        self._publish(ScaleState(scale_name, ScaleActivity.FILLING, now, barcode=barcode, target_kg=plan.target_kg,
                                 operator=operator, gross_kg=self.states[scale_name].gross_kg))  # fmt: skip
        task = self._tg.create_task(self._fill(barcode, scale, operator, plan), name=f"fill {barcode}")
        self._running[scale_name] = task
        return FillStarted(plan, task)

    async def _fill(self, barcode: str, scale: LiveScale, operator: str, plan: FillPlan) -> FillOutcome:
        try:
            outcome = await self.fills.fill(barcode, scale, operator)
        finally:
            self._running.pop(scale.name, None)
        state = self.states[scale.name]
        record = outcome.record
        if outcome.refusal is not None:  # the registry changed between the check and the fill
            self._publish(replace(state, activity=ScaleActivity.REFUSED, message=outcome.refusal.reason,
                                  at=self._clock()))  # fmt: skip
        elif record is not None:
            activity = {
                lpg.FillStatus.DONE: ScaleActivity.DONE,
                lpg.FillStatus.OVERFILLED: ScaleActivity.OVERFILLED,
            }.get(record.status, ScaleActivity.INTERRUPTED)
            self._publish(replace(state, activity=activity, net_kg=record.net_kg, fill_id=record.id,
                                  gross_kg=record.gross_kg if record.gross_kg is not None else state.gross_kg,
                                  message=record.detail, at=self._clock()))  # fmt: skip
        return outcome
