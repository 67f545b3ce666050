"""Simulated filling scales: a platform with a cylinder, a filling valve, a Modbus unit per scale.

Layer: firmware-sim. A `SimScale` is a `RegisterSource` for `station_sim.modbus.ModbusLink` that lays
its figures out with a `protocol.scale_maps.ScaleMap` (the same table the controller reads), so the
default and the vendor map are both played. Physics, computed on every read from a monotonic clock:

- `place(gross_kg)` puts a cylinder (its tare plus any residual gas) on the platform;
- the start command opens the valve: the weight ramps at `rate_kg_s`;
- the stop command closes the valve late: `overshoot_kg` more flows in (a worn valve overfills);
- after the stop the reading wobbles by ± `noise_kg` (status not stable) for `settle_s`, then shows the
  final weight, stable, quantised to the map's resolution;
- faults: `unstable` (never stable, always noisy), `frozen` (the reading stuck at its last value),
  and the link-level `UnitFaults` (offline, Modbus exception, garbage bytes).

Every fill the scale ends (stop command) goes to `ledger` with the weights the scale really has.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from protocol.scale_maps import ScaleCommand, ScaleMap, ScaleStatus
from station_sim.modbus import Unit, UnitFaults

__all__ = ["ScaleFill", "SimScale", "scale_unit"]


@dataclass(frozen=True, slots=True)
class ScaleFill:
    """One fill as the scale saw it (the simulator's ledger)."""

    scale: str
    start_gross_kg: float
    final_gross_kg: float
    commands: tuple[str, ...]


@dataclass
class SimScale:
    name: str
    map: ScaleMap
    rate_kg_s: float = 10.0
    overshoot_kg: float = 0.05
    noise_kg: float = 0.05
    settle_s: float = 0.2
    unstable: bool = False
    frozen: bool = False
    clock: Callable[[], float] = time.monotonic
    seed: int = 1
    ledger: list[ScaleFill] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    gross_kg: float = 0.0
    _filling_since: float | None = None
    _fill_start_kg: float = 0.0
    _settled_at: float = 0.0
    _frozen_block: list[int] | None = None

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def place(self, gross_kg: float) -> None:
        """A cylinder on the platform (replacing whatever was there)."""
        self._filling_since = None
        self.gross_kg = self._quantise(gross_kg)
        self._settled_at = self.clock()

    def _quantise(self, kg: float) -> float:
        step = self.map.resolution_kg
        return round(round(kg / step) * step, 6)

    def _now_gross(self) -> float:
        if self._filling_since is None:
            return self.gross_kg
        return self._fill_start_kg + self.rate_kg_s * (self.clock() - self._filling_since)

    def figures(self) -> tuple[float, int]:
        now = self.clock()
        gross = self._now_gross()
        status = 0
        if self._filling_since is not None:
            status |= ScaleStatus.VALVE_OPEN
            gross += self._rng.uniform(-self.noise_kg, self.noise_kg)
        elif self.unstable or now < self._settled_at:
            gross += self._rng.uniform(-self.noise_kg, self.noise_kg)
        else:
            status |= ScaleStatus.STABLE
        return gross, int(status)

    def read_registers(self, address: int, count: int) -> list[int]:
        m = self.map.readings
        base = m.address(0)
        if self.frozen and self._frozen_block is not None:
            block = self._frozen_block
        else:
            gross, status = self.figures()
            block = m.encode({"gross_kg": self._quantise(gross), "status": status})
            self._frozen_block = block
        out = []
        for reg in range(address, address + count):
            i = reg - base
            out.append(block[i] if 0 <= i < len(block) else 0)
        return out

    def write_registers(self, address: int, values: Sequence[int]) -> None:
        if address != self.map.command_register or not values:
            raise ValueError(f"register {address} is not the command register")
        command = self.map.command_of(int(values[0]))
        if command is None:
            raise ValueError(f"unknown command code {values[0]}")
        self.commands.append(command.value)
        now = self.clock()
        if command is ScaleCommand.START and self._filling_since is None:
            self._fill_start_kg = self.gross_kg
            self._filling_since = now
        elif command is ScaleCommand.STOP and self._filling_since is not None:
            self.gross_kg = self._quantise(self._now_gross() + self.overshoot_kg)
            self._filling_since = None
            self._settled_at = now + self.settle_s
            self.ledger.append(ScaleFill(self.name, self._fill_start_kg, self.gross_kg, tuple(self.commands)))
            self.commands.clear()
        elif command in (ScaleCommand.TARE, ScaleCommand.ZERO) and self._filling_since is None:
            self.gross_kg = 0.0


def scale_unit(device_id: int, scale: SimScale, faults: UnitFaults | None = None) -> Unit:
    return Unit(device_id, scale, faults or UnitFaults())
