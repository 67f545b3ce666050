"""The tank component's work: poll the consoles, measure, alarm, detect deliveries, reconcile.

Layer: edge (I/O shell around the pure tank core). Each console is read every `poll_interval_s`, one
Modbus read per tank (its block of the console's register map). A reading becomes a `Measurement`
(strapping table, compensation) or is rejected (`bad_reading` alarm, never stored). Per tank:

- the newest state goes on the bus as a coalesced `TankLevel` (the TUI, `station tanks show`);
- a measurement is stored when the product height moved by `STORE_DELTA_MM` or `STORE_INTERVAL_S`
  passed, and sent to the centre at most every `upload_interval_s` (the newest one: latest value wins);
- alarms (levels, water, probe, jump, sudden loss, console bits) are raised and cleared on the station's
  alarm path under the source `tank:{n}`; a console that misses `offline_after` reads in a row puts
  its tanks' probes `offline` (alarm `probe_offline`) until it answers again;
- deliveries are detected from the rising level and stored with the metered sales during them, in one
  transaction with their message for the centre;
- reconciliation runs for each closed shift, each business day and, when configured, every
  `reconcile_interval_min` (a rolling check that finds a leak within the hour), stored once per period
  with its message for the centre; a variance over the threshold raises `variance` on the tank.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from edge.core.alarms import AlarmSink
from edge.core.centre import CentreOutbox
from edge.core.routes import DeviceFact
from edge.devices.modbus import LinkSettings, ModbusFailure, ModbusLink
from edge.devices.tanks.alarms import TankAlarmState
from edge.devices.tanks.config import ConsoleConfig, TankConfig, TanksConfig
from edge.devices.tanks.delivery import DeliveryDetected, DeliveryDetector
from edge.devices.tanks.errors import TankError
from edge.devices.tanks.events import ProbeState, TankDeliveryDetected, TankLevel, TankReconciled
from edge.devices.tanks.measurement import Measurement, measure
from edge.devices.tanks.reconcile import Reconciliation, reconcile
from edge.events import NozzleState, NozzleStatus, ShiftChanged
from protocol.errors import ProtocolError
from storage import tanks as store
from storage.alarms import Alarms
from storage.clock import utc_now
from storage.db import Database
from storage.errors import StorageError
from storage.outbox import OutboxMessage, enqueue_in

log = logging.getLogger(__name__)

STORE_DELTA_MM = 1.0
STORE_INTERVAL_S = 60.0
PRUNE_AFTER_DAYS = 35
SCHEDULE_TICK_S = 1.0
DISPENSING_STATES = frozenset({NozzleState.NOZZLE_UP, NozzleState.FUELLING})

ALARM_WORDS: dict[str, tuple[str, str]] = {
    "high_high": ("critical", "product level high-high: overfill danger, stop any delivery"),
    "high": ("warning", "product level high"),
    "low": ("warning", "product level low"),
    "low_low": ("major", "product level low-low: the pumps may run dry"),
    "high_water": ("major", "water in the tank above its limit"),
    "probe_error": ("major", "tank probe out or in error"),
    "probe_offline": ("major", "tank console not answering"),
    "bad_reading": ("major", "tank reading rejected (out of range or not a number)"),
    "jump": ("warning", "tank level jumped between two readings"),
    "sudden_loss": ("critical", "sudden loss: the level fell while nothing was dispensed"),
    "variance": ("major", "wet-stock variance over the threshold: possible leak or meter fault"),
    "console_leak": ("critical", "console reports a leak"),
    "console_high_water": ("major", "console reports high water"),
    "console_overfill": ("critical", "console reports an overfill"),
    "console_low_product": ("warning", "console reports low product"),
    "console_sudden_loss": ("critical", "console reports a sudden loss"),
    "console_high_product": ("warning", "console reports high product"),
}


def alarm_code(code: str) -> str:
    """The stored alarm code of a tank condition (`high_water` → `tank_high_water`)."""
    return f"tank_{code}"


class Publisher(Protocol):
    def publish(self, event: Any) -> None: ...


@dataclass
class TankRuntime:
    config: TankConfig
    alarms: TankAlarmState
    delivery: DeliveryDetector
    active: frozenset[str] = frozenset()
    latest: Measurement | None = None
    stored: Measurement | None = None
    uploaded_at: dt.datetime | None = None
    state: ProbeState = ProbeState.OK
    reads: int = 0
    rejected: int = 0
    raised: set[str] = field(default_factory=set)
    """Alarm conditions raised and not cleared (so a steady state writes nothing)."""


@dataclass
class ConsoleRuntime:
    config: ConsoleConfig
    link: ModbusLink
    misses: int = 0
    offline: bool = False


class TankService:
    """Everything the tank component does; `run()` until cancelled."""

    def __init__(
        self,
        config: TanksConfig,
        db: Database,
        alarms: AlarmSink,
        bus: Publisher,
        outbox: CentreOutbox,
        *,
        clock: Callable[[], dt.datetime] = utc_now,
        local_clock: Callable[[], dt.datetime] = dt.datetime.now,
    ) -> None:
        self.config = config
        self.db = db
        self.alarm_sink = alarms
        self.bus = bus
        self.outbox = outbox
        self.clock = clock
        self.local_clock = local_clock
        self.day_start = config.day_start
        self.reconcile_interval_min = config.reconcile_interval_min
        links: dict[str, ModbusLink] = {}
        self.consoles: dict[str, ConsoleRuntime] = {}
        for cc in config.consoles:
            link = links.setdefault(
                cc.url, ModbusLink(LinkSettings(cc.url, cc.baud, cc.parity, cc.stop_bits, cc.timeout_s))
            )
            self.consoles[cc.name] = ConsoleRuntime(cc, link)
        self.tanks: dict[int, TankRuntime] = {
            t.number: TankRuntime(t, TankAlarmState(t.alarms), DeliveryDetector(t.number, t.delivery))
            for t in config.tanks
        }
        self._nozzles: dict[tuple[str, int, int], NozzleStatus] = {}
        self._deferred: dict[int, dt.datetime] = {}
        """Tank → start of a period postponed until its level settles (a delivery in progress)."""
        self._last_dispensing: dict[int, dt.datetime] = {}

    # --- the bus --------------------------------------------------------------------------------

    def on_nozzle(self, status: NozzleStatus) -> None:
        """Keep the nozzle states (a sudden loss is only a loss while nothing dispenses)."""
        self._nozzles[(status.line, status.dispenser, status.nzn)] = status

    def _feeds(self, tank: TankConfig, n: NozzleStatus) -> bool:
        if tank.nozzles:
            return any((r.line, r.dispenser, r.nozzle) == (n.line, n.dispenser, n.nzn) for r in tank.nozzles)
        return n.g_code == tank.product

    def dispensing(self, tank: TankConfig) -> bool:
        return any(n.state in DISPENSING_STATES and self._feeds(tank, n) for n in self._nozzles.values())

    # --- polling --------------------------------------------------------------------------------

    async def run(self) -> None:
        for alarm in await Alarms(self.db).active():
            prefix, _, number = alarm.source.partition(":")
            if prefix == "tank" and number.isdigit() and int(number) in self.tanks:
                self.tanks[int(number)].raised.add(alarm.code.removeprefix("tank_"))
        try:
            async with asyncio.TaskGroup() as tg:
                for console in self.consoles.values():
                    tg.create_task(self._poll_console(console))
                tg.create_task(self._schedule_reconciliations())
        finally:
            for console in self.consoles.values():
                console.link.close()

    async def _poll_console(self, console: ConsoleRuntime) -> None:
        loop = asyncio.get_running_loop()
        interval = self.config.poll_interval_s
        tanks = [self.tanks[t.number] for t in self.config.tanks_of(console.config.name)]
        next_at = loop.time()
        while True:
            await self.poll_once(console, tanks)
            next_at += interval
            delay = next_at - loop.time()
            if delay < 0:
                next_at = loop.time()
                delay = 0
            await asyncio.sleep(delay)

    async def poll_once(self, console: ConsoleRuntime, tanks: Sequence[TankRuntime]) -> None:
        """One read of every tank of `console`."""
        rmap = console.config.register_map
        answered = False
        for tank in tanks:
            try:
                registers = await console.link.read(
                    rmap.table, rmap.address(tank.config.unit), rmap.size, console.config.device_id
                )
            except ModbusFailure as exc:
                log.debug("tank %d: %s", tank.config.number, exc)
                continue
            answered = True
            await self._reading(tank, registers)
        await self._console_health(console, tanks, answered)

    async def _console_health(
        self, console: ConsoleRuntime, tanks: Sequence[TankRuntime], answered: bool
    ) -> None:
        if answered:
            console.misses = 0
            if console.offline:
                console.offline = False
                log.info("tank console %s answers again", console.config.name)
                for tank in tanks:
                    await self._clear(tank, "probe_offline")
            return
        console.misses += 1
        if console.offline or console.misses < self.config.offline_after:
            return
        console.offline = True
        log.warning("tank console %s: no answer to %d reads: offline", console.config.name, console.misses)
        for tank in tanks:
            tank.state = ProbeState.OFFLINE
            await self._raise(
                tank, "probe_offline", {"console": console.config.name, "url": console.config.url}
            )
            self._publish_level(tank)

    async def _reading(self, tank: TankRuntime, registers: list[int]) -> None:
        cfg = tank.config
        now = self.clock()
        console = self.consoles[cfg.console].config
        try:
            figures = console.register_map.decode(registers)
            m = measure(cfg.number, now, figures, cfg.geometry)
        except (ProtocolError, TankError) as exc:
            tank.rejected += 1
            if tank.state is not ProbeState.BAD_READING:
                log.warning("tank %d: reading rejected: %s", cfg.number, exc)
            tank.state = ProbeState.BAD_READING
            await self._raise(tank, "bad_reading", {"error": str(exc), "rejected": tank.rejected})
            self._publish_level(tank)
            return
        if tank.state is ProbeState.BAD_READING:
            log.info("tank %d: readings valid again after %d rejected", cfg.number, tank.rejected)
        await self._clear(tank, "bad_reading")
        dispensing = self.dispensing(cfg)
        active = tank.alarms.step(m, dispensing)
        tank.state = ProbeState.ERROR if "probe_error" in active else ProbeState.OK
        for code in sorted(active - tank.active):
            await self._raise(
                tank,
                code,
                {"tc_volume_l": round(m.tc_volume_l, 1), "height_mm": round(m.product_height_mm, 1)},
            )
        for code in sorted(tank.active - active):
            await self._clear(tank, code)
        tank.active = active
        tank.latest = m
        tank.reads += 1
        if tank.state is ProbeState.ERROR:
            self._publish_level(tank)
            return
        done = tank.delivery.step(m)
        await self._store(tank, m, force=done is not None)
        if done is not None:
            await self._delivery(tank, done)
        self._publish_level(tank)

    def _publish_level(self, tank: TankRuntime) -> None:
        m = tank.latest
        figures: dict[str, float] = {} if m is None else _figures(m)
        self.bus.publish(
            TankLevel(
                tank=tank.config.number,
                name=tank.config.label,
                product=tank.config.product,
                capacity_l=tank.config.geometry.strapping.capacity_l,
                state=tank.state,
                at=m.at if m is not None else self.clock(),
                figures=figures,
                alarms=tuple(
                    alarm_code(c)
                    for c in sorted(
                        tank.active | ({"probe_offline"} if tank.state is ProbeState.OFFLINE else set())
                    )
                ),
                delivering=tank.delivery.delivering,
            )
        )

    # --- storage --------------------------------------------------------------------------------

    def _fact(self, tank: int, event: str, at: dt.datetime, fields: dict[str, Any]) -> list[OutboxMessage]:
        return list(self.outbox.for_device(DeviceFact("tank", f"T{tank}", event, at, fields)))

    async def _store(self, tank: TankRuntime, m: Measurement, *, force: bool = False) -> None:
        """Store `m` when the level moved, a while passed, or `force` (a delivery's end, a period's end)."""
        last = tank.stored
        if last is m:
            return
        due = (
            force
            or last is None
            or abs(m.product_height_mm - last.product_height_mm) >= STORE_DELTA_MM
            or (m.at - last.at).total_seconds() >= STORE_INTERVAL_S
        )
        upload = (
            tank.uploaded_at is None
            or (m.at - tank.uploaded_at).total_seconds() >= self.config.upload_interval_s
        )
        if not due and not upload:
            return
        row = store.MeasurementRow(
            m.tank,
            m.at,
            m.product_height_mm,
            m.water_height_mm,
            m.temperature_c,
            m.volume_l,
            m.tc_volume_l,
            m.water_volume_l,
            m.ullage_l,
            m.alarm_bits,
            m.probe_status,
        )
        outbox = self._fact(m.tank, "level", m.at, _level_fields(m)) if upload else []
        try:
            async with self.db.transaction() as tx:
                await store.add_measurement_in(tx, row)
                if outbox:
                    await enqueue_in(tx, outbox, now=m.at)
        except StorageError as exc:
            log.error("tank %d: measurement not stored: %s", m.tank, exc)
            return
        tank.stored = m
        if upload:
            tank.uploaded_at = m.at

    async def _delivery(self, tank: TankRuntime, done: DeliveryDetected) -> None:
        cfg = tank.config
        sales_cl = await store.metered_sales_cl(
            self.db, cfg.product, _nozzle_keys(cfg), done.start.at, done.end.at
        )
        sales_l = sales_cl / 100
        async with self.db.transaction() as tx:
            row = await store.add_delivery_in(
                tx,
                cfg.number,
                done.start.at,
                done.end.at,
                done.start.product_height_mm,
                done.end.product_height_mm,
                done.start.tc_volume_l,
                done.end.tc_volume_l,
                done.end.temperature_c,
                sales_l,
            )
            await enqueue_in(
                tx, self._fact(cfg.number, "delivery", done.end.at, _delivery_fields(row)), now=done.end.at
            )
        log.info("tank %d: delivery of %.1f L detected", cfg.number, row.delivered_l)
        self.bus.publish(
            TankDeliveryDetected(
                cfg.number,
                row.id,
                row.started_at,
                row.ended_at,
                row.delivered_l,
                row.start_height_mm,
                row.end_height_mm,
                row.temperature_c,
            )
        )

    # --- reconciliation -------------------------------------------------------------------------

    async def reconcile_period(self, start: dt.datetime, end: dt.datetime) -> None:
        """Reconcile every tank over [start, end) (UTC instants). A tank that is taking a delivery (or
        whose level is rising) is reconciled once it has settled, up to that moment instead of `end`:
        a period never cuts a delivery in two."""
        for tank in self.tanks.values():
            if tank.delivery.quiet:
                await self._reconcile_tank(tank, start, end)
            else:
                earliest = self._deferred.get(tank.config.number)
                self._deferred[tank.config.number] = start if earliest is None else min(earliest, start)

    async def _reconcile_tank(self, tank: TankRuntime, start: dt.datetime, end: dt.datetime) -> bool:
        """Reconcile one tank; False when there is nothing to reconcile yet (no two readings)."""
        if tank.latest is not None and tank.state is ProbeState.OK:
            await self._store(tank, tank.latest, force=True)  # the period closes on the newest reading
        try:
            r = await compute_reconciliation(self.db, tank.config, start, end, self.config)
        except StorageError as exc:
            log.error("tank %d: reconciliation not computed: %s", tank.config.number, exc)
            return False
        if r is None:
            return False
        row = store.ReconciliationRow(
            tank.config.number,
            start,
            end,
            r.opening_l,
            r.deliveries_l,
            r.sales_l,
            r.book_closing_l,
            r.measured_closing_l,
            r.variance_l,
            r.variance_pct,
            r.over_threshold,
        )
        now = self.clock()
        try:
            async with self.db.transaction() as tx:
                fresh = await store.save_reconciliation_in(tx, row, now=now)
                if fresh:
                    fact = self._fact(tank.config.number, "reconciliation", end, r.to_dict())
                    await enqueue_in(tx, fact, now=now)
        except StorageError as exc:
            log.error("tank %d: reconciliation not stored: %s", tank.config.number, exc)
            return False
        if not fresh:
            return True
        log.info(
            "tank %d: reconciled %s..%s: variance %.1f L (%.2f %%)%s",
            r.tank,
            start.isoformat(timespec="seconds"),
            end.isoformat(timespec="seconds"),
            r.variance_l,
            r.variance_pct,
            " OVER THRESHOLD" if r.over_threshold else "",
        )
        self.bus.publish(
            TankReconciled(
                r.tank,
                start,
                end,
                r.opening_l,
                r.deliveries_l,
                r.sales_l,
                r.book_closing_l,
                r.measured_closing_l,
                r.variance_l,
                r.variance_pct,
                r.over_threshold,
            )
        )
        if r.over_threshold:
            await self._raise(tank, "variance", r.to_dict())
        else:
            await self._clear(tank, "variance")
        return True

    async def on_shift(self, event: ShiftChanged) -> None:
        """Reconcile the shift that just closed (its open..close instants)."""
        opened, closed = _shift_period(event)
        if opened is not None and closed is not None and closed > opened:
            await self.reconcile_period(opened, closed)

    async def _schedule_reconciliations(self) -> None:
        """Once a second: deferred periods whose tank has settled, the rolling period, the business day."""
        interval_s = self.reconcile_interval_min * 60
        started = self.clock()
        rolling = {n: started for n in self.tanks}
        next_day = _next_day_start(self.local_clock(), self.day_start)
        day_opened = started
        while True:
            await asyncio.sleep(SCHEDULE_TICK_S)
            now = self.clock()
            for number, start in list(self._deferred.items()):
                tank = self.tanks[number]
                if tank.delivery.quiet and await self._reconcile_tank(tank, start, now):
                    del self._deferred[number]
            if interval_s > 0:
                for number, start in rolling.items():
                    tank = self.tanks[number]
                    due = (now - start).total_seconds() >= interval_s
                    if due and tank.delivery.quiet and await self._reconcile_tank(tank, start, now):
                        rolling[number] = now
            if self.local_clock() >= next_day:
                await self.reconcile_period(day_opened, now)
                day_opened = now
                next_day = _next_day_start(self.local_clock(), self.day_start)

    # --- alarms ---------------------------------------------------------------------------------

    async def _raise(self, tank: TankRuntime, code: str, details: dict[str, Any]) -> None:
        if code in tank.raised and code != "variance":
            return  # raised once per episode; the alarm row counts nothing more for a tank condition
        tank.raised.add(code)
        severity, words = ALARM_WORDS.get(code, ("warning", code.replace("_", " ")))
        await self.alarm_sink.raise_alarm(
            f"tank:{tank.config.number}", alarm_code(code), severity, f"{tank.config.label}: {words}", details
        )

    async def _clear(self, tank: TankRuntime, code: str) -> None:
        if code not in tank.raised:
            return
        tank.raised.discard(code)
        await self.alarm_sink.clear(f"tank:{tank.config.number}", alarm_code(code))


def _nozzle_keys(cfg: TankConfig) -> list[tuple[str, int, int]]:
    return [(r.line, r.dispenser, r.nozzle) for r in cfg.nozzles]


async def compute_reconciliation(
    db: Database, cfg: TankConfig, start: dt.datetime, end: dt.datetime, settings: TanksConfig
) -> Reconciliation | None:
    """The reconciliation of one tank over [start, end); None without a measurement at both ends."""
    opening = await store.measurement_at_or_before(db, cfg.number, start)
    if opening is None:  # the period starts before the tank's first reading: open with that reading
        opening = await store.first_measurement_after(db, cfg.number, start)
    closing = await store.measurement_at_or_before(db, cfg.number, end)
    if opening is None or closing is None or closing.at <= opening.at:
        return None
    # A delivery belongs to the period its end reading falls in: (opening, closing]; a delivery that ended
    # at the opening reading is already in the opening volume.
    after_opening = opening.at + dt.timedelta(microseconds=1)
    ended_by = closing.at + dt.timedelta(microseconds=1)
    delivered = sum(d.delivered_l for d in await store.deliveries(db, cfg.number, after_opening, ended_by))
    sales = await store.metered_sales_cl(db, cfg.product, _nozzle_keys(cfg), opening.at, closing.at) / 100
    return reconcile(
        cfg.number,
        (opening.at.isoformat(), closing.at.isoformat()),
        opening.tc_volume_l,
        delivered,
        sales,
        closing.tc_volume_l,
        settings.variance_pct,
        settings.variance_min_l,
    )


def _figures(m: Measurement) -> dict[str, float]:
    return {
        "product_height_mm": round(m.product_height_mm, 1),
        "water_height_mm": round(m.water_height_mm, 1),
        "temperature_c": round(m.temperature_c, 2),
        "volume_l": round(m.volume_l, 2),
        "tc_volume_l": round(m.tc_volume_l, 2),
        "water_volume_l": round(m.water_volume_l, 2),
        "ullage_l": round(m.ullage_l, 2),
    }


def _level_fields(m: Measurement) -> dict[str, Any]:
    return {k: v for k, v in m.to_dict().items() if k not in ("tank", "at")}


def _delivery_fields(row: store.DeliveryRow) -> dict[str, Any]:
    return {k: v for k, v in row.to_dict().items() if k != "tank"}


def _shift_period(event: ShiftChanged) -> tuple[dt.datetime | None, dt.datetime | None]:
    return event.shift.opened_at, event.shift.closed_at


def _next_day_start(now_local: dt.datetime, day_start: dt.time) -> dt.datetime:
    candidate = dt.datetime.combine(now_local.date(), day_start)
    return candidate if candidate > now_local else candidate + dt.timedelta(days=1)
