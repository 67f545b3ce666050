"""The tank part of a scenario file: tanks' starting state and a timeline of tank events.

Layer: firmware-sim (parsing is pure; `play` drives the simulated tanks). Shape::

    [[tanks]]                       number (the station's [[tanks.tank]] number), volume_l, water_l,
    number = 1                      temperature_c, noise_mm
    volume_l = 12000

    [[tank_events]]
    at_s = 20                       seconds from the start (tank events run beside the main timeline)
    tank = 1
    action = "delivery"             delivery volume_l= rate_l_min= | leak rate_l_h= | water rate_l_h= |
    volume_l = 8000                 sudden_loss volume_l= | probe_out for_s= | bad_reading for_s= | console_offline for_s= |
    rate_l_min = 600                console_exception for_s= | console_garbage for_s= | noise mm=

`for_s = 0` keeps a fault on until the run ends. Every event goes to the ledger as `tank_event`.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from station_sim.tanks import TankFarm, TankStart

TANK_ACTIONS: dict[str, frozenset[str]] = {
    "delivery": frozenset({"volume_l", "rate_l_min"}),
    "leak": frozenset({"rate_l_h"}),
    "water": frozenset({"rate_l_h"}),
    "sudden_loss": frozenset({"volume_l"}),
    "probe_out": frozenset(),
    "bad_reading": frozenset(),
    "console_offline": frozenset(),
    "console_exception": frozenset(),
    "console_garbage": frozenset(),
    "noise": frozenset({"mm"}),
}
EVENT_KEYS = frozenset({"at_s", "tank", "action", "volume_l", "rate_l_min", "rate_l_h", "for_s", "mm"})
START_KEYS = frozenset({"number", "volume_l", "water_l", "temperature_c", "noise_mm"})


@dataclass(frozen=True, slots=True)
class TankEvent:
    index: int
    at_s: float
    tank: int
    action: str
    volume_l: float = 0.0
    rate_l_min: float = 0.0
    rate_l_h: float = 0.0
    for_s: float = 0.0
    mm: float = 0.0

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "index": self.index,
            "tank": self.tank,
            "action": self.action,
            "at_s": self.at_s,
        }
        for name in ("volume_l", "rate_l_min", "rate_l_h", "for_s", "mm"):
            if getattr(self, name):
                out[name] = getattr(self, name)
        return out


def _number(problems: list[str], doc: dict[str, Any], key: str, path: str, default: float = 0.0) -> float:
    value = doc.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
        problems.append(f"{path}.{key}: must be a non-negative number, got {value!r}")
        return default
    return float(value)


def parse_tank_section(
    source: str, raw_starts: Any, raw_events: Any, tanks: set[int]
) -> tuple[list[TankStart], list[TankEvent], list[str]]:
    """`[[tanks]]` and `[[tank_events]]` of a scenario; the third value lists every problem."""
    problems: list[str] = []
    starts: list[TankStart] = []
    if not isinstance(raw_starts, list):
        problems.append(f"{source}: tanks: must be an array of tables ([[tanks]])")
        raw_starts = []
    for i, doc in enumerate(raw_starts):
        path = f"{source}: tanks[{i}]"
        if not isinstance(doc, dict):
            problems.append(f"{path}: must be a table")
            continue
        problems.extend(f"{path}.{k}: unknown key" for k in doc if k not in START_KEYS)
        number = doc.get("number")
        if number not in tanks:
            problems.append(f"{path}.number: no tank {number!r} in the station's [tanks] table")
            continue
        starts.append(
            TankStart(
                number=number,
                volume_l=_number(problems, doc, "volume_l", path) if "volume_l" in doc else None,
                water_l=_number(problems, doc, "water_l", path),
                temperature_c=float(doc.get("temperature_c", 18.0)),
                noise_mm=_number(problems, doc, "noise_mm", path),
            )
        )
    events: list[TankEvent] = []
    if not isinstance(raw_events, list):
        problems.append(f"{source}: tank_events: must be an array of tables ([[tank_events]])")
        raw_events = []
    for i, doc in enumerate(raw_events):
        path = f"{source}: tank_events[{i}]"
        if not isinstance(doc, dict):
            problems.append(f"{path}: must be a table")
            continue
        problems.extend(f"{path}.{k}: unknown key" for k in doc if k not in EVENT_KEYS)
        action = doc.get("action")
        if action not in TANK_ACTIONS:
            problems.append(f"{path}.action: must be one of {', '.join(TANK_ACTIONS)}, got {action!r}")
            continue
        problems.extend(
            f"{path}.{k}: missing (needed by {action})" for k in sorted(TANK_ACTIONS[action] - set(doc))
        )
        tank = doc.get("tank")
        if tank not in tanks:
            problems.append(f"{path}.tank: no tank {tank!r} in the station's [tanks] table")
            continue
        events.append(
            TankEvent(
                index=i,
                at_s=_number(problems, doc, "at_s", path),
                tank=tank,
                action=action,
                volume_l=_number(problems, doc, "volume_l", path),
                rate_l_min=_number(problems, doc, "rate_l_min", path),
                rate_l_h=_number(problems, doc, "rate_l_h", path),
                for_s=_number(problems, doc, "for_s", path),
                mm=_number(problems, doc, "mm", path),
            )
        )
    return starts, events, problems


async def play(farm: TankFarm, events: list[TankEvent], emit_event: Any) -> None:
    """Play the tank timeline (each event at its `at_s` from now)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    async with asyncio.TaskGroup() as tg:
        for ev in sorted(events, key=lambda e: (e.at_s, e.index)):
            delay = start + ev.at_s - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            _apply(farm, ev, tg)
            emit_event("tank_event", **ev.describe())


def _apply(farm: TankFarm, ev: TankEvent, tg: asyncio.TaskGroup) -> None:
    tank = farm.tanks[ev.tank]
    console = farm.console_of(ev.tank)
    match ev.action:
        case "delivery":
            farm.deliver(ev.tank, ev.volume_l, ev.rate_l_min)
        case "leak":
            farm.leak(ev.tank, ev.rate_l_h)
        case "water":
            farm.water(ev.tank, ev.rate_l_h)
        case "sudden_loss":
            farm.sudden_loss(ev.tank, ev.volume_l)
        case "noise":
            tank.noise_mm = ev.mm
        case "probe_out" | "bad_reading":
            setattr(tank, ev.action, True)
            if ev.for_s:
                tg.create_task(_later(ev.for_s, lambda: setattr(tank, ev.action, False)))
        case "console_offline" | "console_exception" | "console_garbage":
            attr = ev.action.removeprefix("console_")
            setattr(console.faults, attr, True)
            if ev.for_s:
                tg.create_task(_later(ev.for_s, lambda: setattr(console.faults, attr, False)))
        case _:
            raise ValueError(f"unknown tank action {ev.action!r}")


async def _later(delay_s: float, action: Any) -> None:
    await asyncio.sleep(delay_s)
    action()
