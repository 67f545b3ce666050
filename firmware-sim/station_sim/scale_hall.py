"""The station's filling scales played by the simulator: `[[lpg.scales]]` of the station config, with a
scenario's `[[scales]]` scripting the cylinders put on each scale and their faults.

Layer: firmware-sim. One simulated Modbus link per `url` of `[[lpg.scales]]` (a pty null modem for a
serial path, a TCP server for `tcp://` / `socket://`), a `SimScale` per scale laid out with its map. A
scenario section per scale (docs/simulator.md):

    [[scales]]
    name = "S1"
    rate_kg_s = 2.0          # fill speed; overshoot_kg, noise_kg, settle_s as in SimScale
    overshoot_kg = 0.05      # how late the valve closes after the stop command (kg that still flow)
    unstable = false         # faults from the start: unstable, frozen, offline, exception, garbage
    cylinders = [16.2, { gross_kg = 16.0, overshoot_kg = 0.9 }, { gross_kg = 15.9, fault = "offline", after_s = 0.5 }]

The first cylinder stands on the scale from the start; at each start command the next one of the list
is the one filled (its gross before the fill), with its own overshoot and a fault switched on `after_s`
into the fill. Every start, stop (the scale's fill: start and final gross) and fault goes to the ledger
(`scale_start`, `scale_fill`, `scale_fault`).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from edge.devices.lpg.errors import BadLpgConfig
from edge.devices.lpg.specs import LpgSettings, ScaleSettings, parse_settings
from protocol.scale_maps import ScaleCommand
from station_sim.modbus import ModbusLink, Unit, UnitFaults
from station_sim.scales import SimScale

__all__ = ["FAULTS", "Cylinder", "ScaleHall", "ScaleScript", "ScriptedScale", "parse_scale_section"]

log = logging.getLogger(__name__)

FAULTS = ("unstable", "frozen", "offline", "exception", "garbage")
SCRIPT_KEYS = {"name", "rate_kg_s", "overshoot_kg", "noise_kg", "settle_s", "cylinders", *FAULTS}
CYLINDER_KEYS = {"gross_kg", "overshoot_kg", "fault", "after_s"}

Write = Callable[[dict[str, Any]], None]


@dataclass(frozen=True, slots=True)
class Cylinder:
    gross_kg: float
    overshoot_kg: float | None = None
    fault: str = ""
    after_s: float = 0.0


@dataclass(frozen=True, slots=True)
class ScaleScript:
    name: str
    rate_kg_s: float = 2.0
    overshoot_kg: float = 0.05
    noise_kg: float = 0.02
    settle_s: float = 0.3
    faults: frozenset[str] = frozenset()
    cylinders: tuple[Cylinder, ...] = ()


@dataclass
class ScriptedScale(SimScale):
    """A `SimScale` whose next cylinder is put on at each start command, its fills in the ledger."""

    script: ScaleScript = field(default_factory=lambda: ScaleScript(""))
    unit_faults: UnitFaults = field(default_factory=UnitFaults)
    write: Write = lambda event: None
    queue: list[Cylinder] = field(default_factory=list)

    def start_script(self) -> None:
        self.queue = list(self.script.cylinders)
        for fault in self.script.faults:
            self.set_fault(fault, True)
        if self.queue:
            self.place(self.queue[0].gross_kg)

    def set_fault(self, fault: str, on: bool) -> None:
        if fault in ("unstable", "frozen"):
            setattr(self, fault, on)
            self._frozen_block = None if not on else self._frozen_block
        else:
            setattr(self.unit_faults, fault, on)
        self.write({"event": "scale_fault", "scale": self.name, "fault": fault, "on": on})

    def write_registers(self, address: int, values: Sequence[int]) -> None:
        command = self.map.command_of(int(values[0])) if values and address == self.map.command_register else None
        if command is ScaleCommand.START and self._filling_since is None:
            self._start_next()
        fills = len(self.ledger)
        super().write_registers(address, values)
        if len(self.ledger) > fills:
            done = self.ledger[-1]
            self.write({"event": "scale_fill", "scale": self.name, "start_gross_kg": done.start_gross_kg,
                        "final_gross_kg": done.final_gross_kg, "commands": list(done.commands)})  # fmt: skip
            self.overshoot_kg = self.script.overshoot_kg

    def _start_next(self) -> None:
        cylinder = self.queue.pop(0) if self.queue else None
        if cylinder is not None:
            self.place(cylinder.gross_kg)
            if cylinder.overshoot_kg is not None:
                self.overshoot_kg = cylinder.overshoot_kg
            if cylinder.fault:
                loop = asyncio.get_running_loop()
                loop.call_later(cylinder.after_s, self.set_fault, cylinder.fault, True)
        self.write({"event": "scale_start", "scale": self.name, "gross_kg": self.gross_kg})


def _number(p: list[str], where: str, raw: Any, default: float, *, zero_ok: bool = True) -> float:
    if raw is None:
        return default
    if isinstance(raw, bool) or not isinstance(raw, int | float) or raw < 0 or (raw == 0 and not zero_ok):
        p.append(f"{where}: must be a number {'≥' if zero_ok else '>'} 0, not {raw!r}")
        return default
    return float(raw)


def parse_scale_section(source: str, raw: Any, names: Sequence[str]) -> tuple[list[ScaleScript], list[str]]:
    """A scenario's `[[scales]]` (scripts for the station's scales `names`) and every problem by key."""
    p: list[str] = []
    if not isinstance(raw, list):
        return [], [f"{source}: scales: must be an array of tables ([[scales]])"]
    out: list[ScaleScript] = []
    for i, s in enumerate(raw):
        where = f"{source}: scales[{i}]"
        if not isinstance(s, dict):
            p.append(f"{where}: must be a table")
            continue
        p += [f"{where}.{k}: unknown key" for k in s if k not in SCRIPT_KEYS]
        name = s.get("name")
        if name not in names:
            p.append(f"{where}.name: {name!r} is not a scale of [[lpg.scales]] (scales: {', '.join(names) or 'none'})")
        faults = set()
        for fault in FAULTS:
            v = s.get(fault, False)
            if not isinstance(v, bool):
                p.append(f"{where}.{fault}: must be true or false")
            elif v:
                faults.add(fault)
        cylinders: list[Cylinder] = []
        raw_cyl = s.get("cylinders", [])
        if not isinstance(raw_cyl, list):
            p.append(f"{where}.cylinders: must be a list of weights or tables")
            raw_cyl = []
        for j, c in enumerate(raw_cyl):
            cw = f"{where}.cylinders[{j}]"
            if not isinstance(c, dict):
                c = {"gross_kg": c}
            p += [f"{cw}.{k}: unknown key" for k in c if k not in CYLINDER_KEYS]
            fault = c.get("fault", "")
            if fault not in ("", *FAULTS):
                p.append(f"{cw}.fault: {fault!r} is not one of {', '.join(FAULTS)}")
                fault = ""
            overshoot = c.get("overshoot_kg")
            cylinders.append(Cylinder(
                _number(p, f"{cw}.gross_kg", c.get("gross_kg", "missing"), 0.0),
                None if overshoot is None else _number(p, f"{cw}.overshoot_kg", overshoot, 0.0),
                str(fault), _number(p, f"{cw}.after_s", c.get("after_s"), 0.0)))  # fmt: skip
        out.append(ScaleScript(
            str(name), _number(p, f"{where}.rate_kg_s", s.get("rate_kg_s"), 2.0, zero_ok=False),
            _number(p, f"{where}.overshoot_kg", s.get("overshoot_kg"), 0.05),
            _number(p, f"{where}.noise_kg", s.get("noise_kg"), 0.02),
            _number(p, f"{where}.settle_s", s.get("settle_s"), 0.3), frozenset(faults), tuple(cylinders)))  # fmt: skip
    seen = [s.name for s in out]
    p += [f"{source}: scales: {n!r} is scripted twice" for n in sorted({n for n in seen if seen.count(n) > 1})]
    return out, p


class ScaleHall:
    """Every scale of `[[lpg.scales]]` on its simulated link."""

    def __init__(
        self, settings: LpgSettings, write: Write, scripts: Sequence[ScaleScript] = (), *, wire_time: bool = False,
        seed: int = 1,
    ) -> None:  # fmt: skip
        by_name = {s.name: s for s in scripts}
        rng = random.Random(seed)
        self.scales: dict[str, ScriptedScale] = {}
        by_url: dict[str, list[tuple[ScaleSettings, ScriptedScale]]] = {}
        for cfg in settings.scales:
            script = by_name.get(cfg.name, ScaleScript(cfg.name))
            scale = ScriptedScale(cfg.name, settings.scale_maps[cfg.map], rate_kg_s=script.rate_kg_s,
                                  overshoot_kg=script.overshoot_kg, noise_kg=script.noise_kg,
                                  settle_s=script.settle_s, seed=rng.randrange(2**31), script=script,
                                  write=write)  # fmt: skip
            self.scales[cfg.name] = scale
            by_url.setdefault(cfg.url, []).append((cfg, scale))
        self.links = [
            ModbusLink(
                url,
                [Unit(cfg.device_id, scale, scale.unit_faults) for cfg, scale in members],
                baud=members[0][0].baud,
                wire_time=wire_time,
            )
            for url, members in by_url.items()
        ]

    async def start(self) -> None:
        for scale in self.scales.values():
            scale.start_script()
        for link in self.links:
            await link.start()

    async def stop(self) -> None:
        for link in self.links:
            await link.stop()


def scale_settings(config: Any) -> LpgSettings | None:
    """The station's `[lpg]` settings (read by the daemon's reader) when it has at least one scale
    (None: no scale to play); raises `BadLpgConfig` naming every problem."""
    table = config.extra.get("lpg")
    if table is None:
        return None
    if not isinstance(table, dict):
        raise BadLpgConfig([f"{config.path.name}: lpg: must be a table"])
    settings = parse_settings(table)
    return settings if settings.scales else None
