"""Simulated tanks and their consoles: levels that fall with the simulated dispensers' sales.

Layer: firmware-sim. Each tank of the station's `[tanks]` table is a `SimTank` (product and water in
litres, a temperature); each console is a Modbus unit that lays its tanks out with the console's register
map (the same `protocol.tank_maps` table the controller reads). The tanks live in the same simulator run
as the dispensers: every sale record a simulated dispenser produces takes its volume out of the tank of
that nozzle (`nozzles` of the tank, or else the first tank of the sale's product).

Physics, advanced lazily whenever a console is read or a sale is taken:
- a delivery adds `rate_l_min` until its volume is in;
- a leak takes `rate_l_h` out, water ingress adds `rate_l_h` of water;
- a sudden loss takes a volume out at once;
- a probe that is out reports probe status 1 and the PROBE_OUT bit; a console that is offline does not
  answer at all (see `station_sim.modbus.UnitFaults`); noise adds ± `noise_mm` to the product height.

Heights come from the tank's strapping table (the physical tank the controller's table describes).
Every delivery that completes, and every tank's totals at the stop, go to the ledger.
"""

from __future__ import annotations

import bisect
import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from edge.config import Config
from edge.devices.tanks.config import TankConfig, TanksConfig, parse_tanks
from edge.devices.tanks.errors import BadTankConfig
from protocol.modbus_map import ValueType, WordOrder
from protocol.tank_maps import ConsoleAlarm
from station_sim.modbus import ModbusLink, Unit, UnitFaults
from station_sim.records import record_from_bytes

log = logging.getLogger(__name__)

BEYOND_ANY_TANK_MM = 60000.0
NAN_WORDS = [0x7FC0, 0x0000]
"""A quiet NaN as two registers, high word first."""

SALE_T_TYPES = frozenset({0, 1, 7})
"""Record kinds (T_TYPE low nibble) in which fuel left the nozzle: sale, grey (card pulled), cash."""


def _interpolate(xs: Sequence[float], ys: Sequence[float], x: float) -> float:
    x = min(max(x, xs[0]), xs[-1])
    i = bisect.bisect_right(xs, x)
    if i >= len(xs):
        return ys[-1]
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


@dataclass
class SimTank:
    config: TankConfig
    volume_l: float
    water_l: float = 0.0
    temperature_c: float = 18.0
    noise_mm: float = 0.0
    leak_l_per_s: float = 0.0
    water_l_per_s: float = 0.0
    delivery_left_l: float = 0.0
    delivery_l_per_s: float = 0.0
    delivery_volume_l: float = 0.0
    probe_out: bool = False
    bad_reading: bool = False
    """Report an impossible reading (NaN floats, or a height beyond the tank) instead of the level."""
    sold_l: float = 0.0
    delivered_l: float = 0.0
    leaked_l: float = 0.0
    lost_l: float = 0.0
    spilled_l: float = 0.0
    last: float = field(default_factory=time.monotonic)

    @property
    def capacity_l(self) -> float:
        return self.config.geometry.strapping.capacity_l

    def advance(self, now: float, on_delivered: Callable[[SimTank, float], None] | None = None) -> None:
        dt_s = max(0.0, now - self.last)
        self.last = now
        if self.delivery_left_l > 0:
            add = min(self.delivery_left_l, self.delivery_l_per_s * dt_s)
            self.delivery_left_l -= add
            self._add(add)
            self.delivered_l += add
            if self.delivery_left_l <= 1e-9:
                self.delivery_left_l = 0.0
                if on_delivered is not None:
                    on_delivered(self, self.delivery_volume_l)
        if self.leak_l_per_s:
            out = min(self.volume_l, self.leak_l_per_s * dt_s)
            self.volume_l -= out
            self.leaked_l += out
        if self.water_l_per_s:
            self.water_l += self.water_l_per_s * dt_s

    def _add(self, litres: float) -> None:
        room = self.capacity_l - self.volume_l - self.water_l
        taken = min(room, litres)
        self.volume_l += taken
        self.spilled_l += litres - taken

    def sell(self, litres: float) -> None:
        taken = min(self.volume_l, litres)
        self.volume_l -= taken
        self.sold_l += taken

    def lose(self, litres: float) -> None:
        taken = min(self.volume_l, litres)
        self.volume_l -= taken
        self.lost_l += taken

    def figures(self, rng: random.Random) -> dict[str, float]:
        table = self.config.geometry.strapping
        h, v = table.heights_mm, table.volumes_l
        total = min(self.volume_l + self.water_l, self.capacity_l)
        height = _interpolate(v, h, total)
        if self.noise_mm:
            height = min(max(h[0], height + rng.uniform(-self.noise_mm, self.noise_mm)), h[-1])
        water_h = _interpolate(v, h, min(self.water_l, self.capacity_l)) if self.water_l > 0 else 0.0
        return {
            "product_height_mm": height,
            "water_height_mm": min(water_h, height),
            "temperature_c": self.temperature_c,
            "alarm_bits": float(ConsoleAlarm.PROBE_OUT if self.probe_out else 0),
            "probe_status": 1.0 if self.probe_out else 0.0,
            "volume_l": self.volume_l,
            "tc_volume_l": self.volume_l,
            "ullage_l": self.capacity_l - total,
            "water_volume_l": self.water_l,
        }

    def summary(self) -> dict[str, Any]:
        return {
            "tank": self.config.number,
            "volume_l": round(self.volume_l, 3),
            "water_l": round(self.water_l, 3),
            "sold_l": round(self.sold_l, 3),
            "delivered_l": round(self.delivered_l, 3),
            "leaked_l": round(self.leaked_l, 3),
            "lost_l": round(self.lost_l, 3),
            "spilled_l": round(self.spilled_l, 3),
        }


class SimConsole:
    """One console (a Modbus unit): its tanks laid out with its register map."""

    def __init__(self, farm: TankFarm, name: str, tanks: dict[int, SimTank]) -> None:
        self.farm = farm
        self.name = name
        self.config = next(c for c in farm.config.consoles if c.name == name)
        self.tanks = tanks
        """By unit index."""
        self.faults = UnitFaults()

    def read_registers(self, address: int, count: int) -> list[int]:
        rmap = self.config.register_map
        now = time.monotonic()
        out = [0] * count
        for unit, tank in self.tanks.items():
            tank.advance(now, self.farm.delivered)
            base = rmap.address(unit)
            if base >= address + count or base + rmap.size <= address:
                continue
            figures = tank.figures(self.farm.rng)
            if tank.bad_reading:
                figures = {**figures, "product_height_mm": BEYOND_ANY_TANK_MM}
            block = rmap.encode({k: v for k, v in figures.items() if _has(rmap, k)})
            height = rmap.field("product_height_mm")
            if tank.bad_reading and height.type is ValueType.F32:
                nan = NAN_WORDS if height.word_order is WordOrder.BIG else NAN_WORDS[::-1]
                block[height.offset : height.offset + 2] = nan
            for i, word in enumerate(block):
                if address <= base + i < address + count:
                    out[base + i - address] = word
        return out

    def write_registers(self, address: int, values: Sequence[int]) -> None:
        log.info("console %s: write %s at %d ignored (read-only console)", self.name, list(values), address)


def _has(rmap: Any, name: str) -> bool:
    return any(f.name == name for f in rmap.fields)


@dataclass(frozen=True, slots=True)
class TankStart:
    """A tank's state at the start of a run (scenario `[[tanks]]`)."""

    number: int
    volume_l: float | None = None
    water_l: float = 0.0
    temperature_c: float = 18.0
    noise_mm: float = 0.0


class TankFarm:
    """Every simulated tank and console of a run."""

    def __init__(
        self,
        config: TanksConfig,
        emit: Callable[[dict[str, Any]], None],
        rng: random.Random,
        starts: Sequence[TankStart] = (),
        *,
        wire_time: bool = False,
    ) -> None:
        self.config = config
        self.emit = emit
        self.rng = rng
        self.wire_time = wire_time
        by_number = {s.number: s for s in starts}
        self.tanks: dict[int, SimTank] = {}
        for tc in config.tanks:
            start = by_number.get(tc.number, TankStart(tc.number))
            cap = tc.geometry.strapping.capacity_l
            self.tanks[tc.number] = SimTank(
                tc,
                volume_l=start.volume_l if start.volume_l is not None else round(cap * 0.6, 1),
                water_l=start.water_l,
                temperature_c=start.temperature_c,
                noise_mm=start.noise_mm,
            )
        self.consoles: dict[str, SimConsole] = {}
        for cc in config.consoles:
            units = {t.config.unit: t for t in self.tanks.values() if t.config.console == cc.name}
            self.consoles[cc.name] = SimConsole(self, cc.name, units)
        self.links: list[ModbusLink] = []

    async def start(self) -> None:
        by_url: dict[str, list[SimConsole]] = {}
        for console in self.consoles.values():
            by_url.setdefault(console.config.url, []).append(console)
        for url, consoles in by_url.items():
            units = [Unit(c.config.device_id, c, c.faults) for c in consoles]
            link = ModbusLink(url, units, baud=consoles[0].config.baud, wire_time=self.wire_time)
            await link.start()
            self.links.append(link)

    async def stop(self) -> None:
        for link in self.links:
            await link.stop()
        self.links.clear()
        now = time.monotonic()
        for tank in self.tanks.values():
            tank.advance(now, self.delivered)
            self.emit({"event": "tank_state", **tank.summary()})

    def console_of(self, number: int) -> SimConsole:
        tank = self.tanks[number]
        return self.consoles[tank.config.console]

    def delivered(self, tank: SimTank, volume_l: float) -> None:
        self.emit({"event": "tank_delivery", "tank": tank.config.number, "volume_l": round(volume_l, 3)})

    def tank_for(self, line: str, dispenser: int, nozzle: int, g_code: str) -> SimTank | None:
        for tank in self.tanks.values():
            refs = tank.config.nozzles
            if refs and any((r.line, r.dispenser, r.nozzle) == (line, dispenser, nozzle) for r in refs):
                return tank
        for tank in self.tanks.values():
            if not tank.config.nozzles and tank.config.product == g_code:
                return tank
        return None

    def on_event(self, event: dict[str, Any]) -> None:
        """Take every sale record's volume out of its tank."""
        if event.get("event") != "record" or "raw" not in event:
            return
        record = record_from_bytes(bytes.fromhex(event["raw"]))
        if (record.t_type & 0x0F) not in SALE_T_TYPES or record.vol <= 0:
            return
        tank = self.tank_for(
            str(event.get("line")), int(event.get("dispenser", -1)), record.nzn, record.g_code
        )
        if tank is None:
            return
        tank.advance(time.monotonic(), self.delivered)
        tank.sell(record.vol / 100)

    # --- scripted actions ---------------------------------------------------------------------

    def deliver(self, number: int, volume_l: float, rate_l_min: float) -> None:
        tank = self.tanks[number]
        tank.advance(time.monotonic(), self.delivered)
        tank.delivery_left_l = volume_l
        tank.delivery_volume_l = volume_l
        tank.delivery_l_per_s = rate_l_min / 60.0

    def leak(self, number: int, rate_l_h: float) -> None:
        tank = self.tanks[number]
        tank.advance(time.monotonic(), self.delivered)
        tank.leak_l_per_s = rate_l_h / 3600.0

    def water(self, number: int, rate_l_h: float) -> None:
        tank = self.tanks[number]
        tank.advance(time.monotonic(), self.delivered)
        tank.water_l_per_s = rate_l_h / 3600.0

    def sudden_loss(self, number: int, volume_l: float) -> None:
        tank = self.tanks[number]
        tank.advance(time.monotonic(), self.delivered)
        tank.lose(volume_l)


def tank_setup(config: Config) -> TanksConfig | None:
    """The station's `[tanks]` table (None when it has none); `BadTankConfig` lists every problem."""
    raw = config.extra.get("tanks")
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise BadTankConfig(f"{config.path.name}: tanks: must be a table")
    return parse_tanks(raw, config.path.name, frozenset(p.g_code for p in config.products))


def tank_numbers(config: Config) -> set[int]:
    """The tank numbers of the station's `[tanks]` table (for scenario checks)."""
    raw = config.extra.get("tanks")
    tanks = raw.get("tank", []) if isinstance(raw, dict) else []
    return {t["number"] for t in tanks if isinstance(t, dict) and isinstance(t.get("number"), int)}
