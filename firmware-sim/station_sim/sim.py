"""The supervisor: builds dispensers from the station config, opens the lines, runs everything.

Layer: firmware-sim (asyncio wiring). One `asyncio.TaskGroup` holds a runner per line, the random
traffic, the scenario, the periodic power cycles and the exit-when-acknowledged watcher. SIGUSR1 ends
production (no new activity starts; what is under way finishes and is still served). A stop
(SIGTERM/SIGINT, or everything acknowledged with `exit_when_acked`) cancels them all; every state file is
written, every transport closed (pty links removed) and a `stop` event ends the ledger.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from edge.config import Config, LineConfig, LineMode
from edge.devices.tanks.config import TanksConfig
from station_sim.cards import CardPool
from station_sim.device import DeviceSetup, Dispenser, NozzleSetup, StationIdentity
from station_sim.faults import Faults, FaultSettings
from station_sim.ledger import Ledger
from station_sim.multidrop import MultiDropRunner
from station_sim.p2p import PointToPointRunner
from station_sim.port import LineTiming, Port
from station_sim.scale_hall import ScaleHall
from station_sim.settings import Settings
from station_sim.slot import Slot
from station_sim.state import StateStore
from station_sim.tanks import TankFarm
from station_sim.traffic import Production, TrafficGenerator
from station_sim.transport import PtyTransport, Transport, open_transport

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
LATE_MARGIN_S = 0.1


class _Stop(Exception):
    """Raised inside the task group to end the run."""


@dataclass(slots=True)
class LineRun:
    config: LineConfig
    slots: dict[int, Slot]
    port: Port | None = None


class Simulator:
    def __init__(
        self,
        config: Config,
        settings: Settings,
        scenario: Any = None,
        *,
        tanks: TanksConfig | None = None,
        scales: Any = None,
    ) -> None:
        self.config = config
        self.settings = settings
        self.scenario = scenario
        self.seed = settings.seed if settings.seed is not None else random.SystemRandom().randrange(2**32)
        self.rng = random.Random(self.seed)
        self.ledger = Ledger(settings.ledger)
        self.store = StateStore(settings.state_dir)
        self.production = Production(max_records=settings.max_records)
        self.pool = CardPool(random.Random(self.seed + 1), config.station.province, dt.date.today())
        self.lines: list[LineRun] = []
        self.stop_event = asyncio.Event()
        self._acked = asyncio.Event()
        """Set at every acknowledgement and power-up (the exit-when-acked watcher waits on it)."""
        self.exit_code = EXIT_OK
        self._transports: list[Transport] = []
        starts = scenario.tank_starts if scenario is not None else []
        self.tanks = (
            TankFarm(
                tanks,
                self.ledger.write,
                random.Random(f"{self.seed}/tanks"),
                starts,
                wire_time=settings.wire_time,
            )
            if tanks is not None
            else None
        )
        # scales: the station's `[lpg]` settings with its [[lpg.scales]] (station_sim.scale_hall.scale_settings)
        scripts = scenario.scales if scenario is not None else []
        self.scales = (
            ScaleHall(scales, self.ledger.write, scripts, wire_time=settings.wire_time, seed=self.seed)
            if scales is not None
            else None
        )
        for line in config.lines:
            slots = {d.pos_p: Slot(self._load(line, d.pos_p)) for d in line.dispensers}
            self.lines.append(LineRun(line, slots))

    # --- dispensers -------------------------------------------------------------------------------

    def _setup(self, line: LineConfig, pos_p: int) -> DeviceSetup:
        disp = next(d for d in line.dispensers if d.pos_p == pos_p)
        nozzles = []
        for n in disp.nozzles:
            product = self.config.product(n.g_code)
            nozzles.append(
                NozzleSetup(
                    n.nzn, n.g_code, product.prices if product else (), product.unit if product else "L"
                )
            )
        st = self.config.station
        return DeviceSetup(
            line=line.name,
            pos_p=pos_p,
            nozzles=tuple(nozzles),
            station=StationIdentity(st.province, st.city, st.superior, st.s_id),
            fuel_speed=self.settings.fuel_speed,
            decides_everything_locally=self.settings.decides_locally(line.name, pos_p),
            card_answer_timeout_s=self.settings.card_answer_timeout_s,
        )

    def _load(self, line: LineConfig, pos_p: int) -> Dispenser:
        """A dispenser as it powers up: fresh, then reloaded from its state file if there is one."""
        dev = Dispenser(
            self._setup(line, pos_p),
            rng=random.Random(f"{self.seed}/{line.name}/{pos_p}/{time.monotonic_ns()}"),
            clock=lambda: dt.datetime.now().replace(microsecond=0),
            mono=time.monotonic,
            emit=self.emit,
            persist=self.store.save,
        )
        if not self.store.load(dev):
            self.store.save(dev)
        return dev

    def slots(self) -> list[Slot]:
        return [slot for run in self.lines for slot in run.slots.values()]

    def find_slot(self, line: str | None, pos_p: int | None) -> Slot:
        """The slot of (line, POS_P); either may be omitted when it is unambiguous."""
        runs = [r for r in self.lines if line is None or r.config.name == line]
        if not runs:
            raise KeyError(f"no line {line!r}")
        found = [s for r in runs for p, s in r.slots.items() if pos_p is None or p == pos_p]
        if len(found) != 1:
            raise KeyError(f"line {line!r} dispenser {pos_p!r} names {len(found)} dispensers")
        return found[0]

    def faults_of(self, line: str) -> Faults | None:
        run = next((r for r in self.lines if r.config.name == line), None)
        return run.port.faults if run is not None and run.port is not None else None

    def line_of(self, slot: Slot) -> LineRun:
        return next(r for r in self.lines if slot in r.slots.values())

    # --- events -----------------------------------------------------------------------------------

    def emit(self, event: dict[str, Any]) -> None:
        if event.get("event") == "record":
            self.production.records += 1
        elif event.get("event") == "ack":
            self._acked.set()
        self.ledger.write(event)
        if self.tanks is not None:
            self.tanks.on_event(event)

    # --- power ------------------------------------------------------------------------------------

    async def power_cycle(self, slot: Slot, off_s: float, cause: str) -> None:
        run = self.line_of(slot)
        dev = slot.dev
        slot.powered = False
        slot.generation += 1
        dev.release_cards()
        self.ledger.event(
            "power_cycle",
            line=run.config.name,
            dispenser=dev.pos_p,
            phase="off",
            off_s=off_s,
            cause=cause,
            pending=len(dev.pending),
        )
        await asyncio.sleep(off_s)
        fresh = self._load(run.config, dev.pos_p)
        slot.dev = fresh
        slot.powered = True
        self._acked.set()
        self.ledger.event(
            "power_cycle",
            line=run.config.name,
            dispenser=fresh.pos_p,
            phase="on",
            pending=len(fresh.pending),
            pos_ttc_next=fresh.pos_ttc_next,
        )

    async def _power_cycles(self) -> None:
        every = self.settings.power_cycle_every
        if every is None:
            return
        while True:
            await asyncio.sleep(every)
            slot = self.rng.choice(self.slots())
            if slot.powered:
                await self.power_cycle(slot, self.settings.power_off_s, "periodic")

    # --- run --------------------------------------------------------------------------------------

    async def _open_lines(self) -> None:
        s = self.settings
        for run in self.lines:
            line = run.config
            transport = await open_transport(
                line.url, baud=line.baud, parity=line.parity, stop_bits=line.stop_bits
            )
            self._transports.append(transport)
            faults = Faults(
                FaultSettings(s.corrupt_rate, s.drop_rate, s.late_rate, s.late_ms),
                random.Random(f"{self.seed}/faults/{line.name}"),
                self.ledger.write,
                line.name,
                time.monotonic,
                line.effective_reply_timeout_s() + LATE_MARGIN_S,
            )
            timing = LineTiming(
                line.baud, line.parity, line.stop_bits, line.inter_byte_timeout_ms, s.wire_time
            )
            run.port = Port(line.name, transport, timing, faults)

    def _runner(self, run: LineRun) -> Callable[[], Any]:
        assert run.port is not None
        line = run.config
        if line.mode is LineMode.MULTI_DROP:
            return MultiDropRunner(run.port, run.slots).run
        (slot,) = run.slots.values()
        return PointToPointRunner(
            run.port,
            slot,
            self.config.station.controller_address,
            self.settings.p2p_interval_ms / 1000,
            line.effective_reply_timeout_s(),
        ).run

    async def _produce(self) -> None:
        """Random traffic and the scenario; returns when both are finished."""
        s = self.settings
        loop = asyncio.get_running_loop()
        if s.duration is not None:
            self.production.deadline = loop.time() + s.duration
        traffic = TrafficGenerator(self.slots(), self.pool, self.rng, s.rate, dict(s.mix), self.production)
        async with asyncio.TaskGroup() as tg:
            tg.create_task(traffic.run())
            if self.scenario is not None:
                tg.create_task(self.scenario.run(self))
        log.info("production finished: %d records", self.production.records)
        self.ledger.event("production_done", records=self.production.records)

    async def _exit_when_acked(self) -> None:
        await self._produce()
        if not self.settings.exit_when_acked:
            return
        while not all(slot.powered and slot.dev.idle for slot in self.slots()):
            self._acked.clear()
            await self._acked.wait()
        log.info("every record is acknowledged: exiting")
        self.stop_event.set()

    def halt_production(self) -> None:
        """No new activity from now on (SIGUSR1); the lines keep answering the controller."""
        if not self.production.halted:
            self.production.halt()
            log.info("production halted: %d records", self.production.records)
            self.ledger.event("production_halted", records=self.production.records)

    async def _stopper(self) -> None:
        await self.stop_event.wait()
        raise _Stop

    def _start_event(self) -> None:
        lines = []
        for run, transport in zip(self.lines, self._transports, strict=True):
            entry: dict[str, Any] = {
                "name": run.config.name,
                "mode": run.config.mode.value,
                "url": run.config.url,
                "transport": transport.description,
                "dispensers": sorted(run.slots),
            }
            if isinstance(transport, PtyTransport):
                entry["pty"] = transport.slave_name
            lines.append(entry)
        s = self.settings
        self.ledger.event(
            "start",
            config=str(self.config.path),
            seed=self.seed,
            lines=lines,
            rate=s.rate,
            mix=dict(s.mix),
            max_records=s.max_records,
            duration=s.duration,
            scenario=str(s.scenario) if s.scenario else None,
            state={
                f"{r.config.name}/{p}": {"pos_ttc_next": sl.dev.pos_ttc_next, "pending": len(sl.dev.pending)}
                for r in self.lines
                for p, sl in r.slots.items()
            },
        )

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop_event.set)
        loop.add_signal_handler(signal.SIGUSR1, self.halt_production)
        try:
            await self._open_lines()
            if self.tanks is not None:
                await self.tanks.start()
            if self.scales is not None:
                await self.scales.start()
            self._start_event()
            try:
                async with asyncio.TaskGroup() as tg:
                    for run in self.lines:
                        tg.create_task(self._runner(run)())
                    tg.create_task(self._exit_when_acked())
                    tg.create_task(self._power_cycles())
                    tg.create_task(self._stopper())
            except* _Stop:
                pass
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGUSR1):
                loop.remove_signal_handler(sig)
            await self.shutdown()
        return self.exit_code

    async def shutdown(self) -> None:
        for slot in self.slots():
            if slot.powered:
                slot.dev.release_cards()
                self.store.save(slot.dev)
        for transport in self._transports:
            await transport.close()
        self._transports.clear()
        if self.tanks is not None:
            await self.tanks.stop()
        if self.scales is not None:
            await self.scales.stop()
        self.ledger.event(
            "stop",
            records=self.production.records,
            pending=sum(len(slot.dev.pending) for slot in self.slots()),
        )
        self.ledger.close()
