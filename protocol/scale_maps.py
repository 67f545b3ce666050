"""Filling-scale register maps: the documented default and one vendor-style map, as data.

Layer: protocol (pure). A scale is one Modbus unit. Every map yields the same named figures, so the
fill flow never knows which scale model it drives:

    gross_kg   the weight on the platform, kg
    status     bit 0 = stable, bit 1 = overload, bit 2 = filling valve open

and names the holding register its commands go to, with the code of each command (tare, zero, start,
stop). A new scale model is a new `ScaleMap` (or a `[lpg.scale_maps.NAME]` table), not code.

Default map `station-scale-v1` (input registers from 0, integers; commands: holding register 100):

    off  type  scale  field
    0    u16   1      status
    1    s32   0.01   gross_kg   (10 g steps, high word first)
    3..7              reserved (0)
    command register 100: 1 = tare, 2 = zero, 3 = start fill, 4 = stop fill

Vendor-style map `float-swapped` (input registers from 0x10, IEEE-754 float low word first — "CD AB";
commands: holding register 0x40):

    off  type  field
    0    f32   gross_kg
    2    u16   status
    command register 0x40: 0x0A = tare, 0x0B = zero, 0x01 = start fill, 0x02 = stop fill
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntFlag, StrEnum
from typing import Any

from protocol.modbus_map import (
    RegisterField,
    RegisterMap,
    RegisterMapError,
    RegisterTable,
    ValueType,
    WordOrder,
)

__all__ = [
    "DEFAULT_SCALE_MAP",
    "REQUIRED_FIGURES",
    "SCALE_MAPS",
    "VENDOR_SCALE_MAP",
    "ScaleCommand",
    "ScaleMap",
    "ScaleStatus",
    "scale_map_from_table",
]

REQUIRED_FIGURES = ("gross_kg", "status")


class ScaleStatus(IntFlag):
    STABLE = 0x01
    OVERLOAD = 0x02
    VALVE_OPEN = 0x04


class ScaleCommand(StrEnum):
    TARE = "tare"
    ZERO = "zero"
    START = "start"
    STOP = "stop"


@dataclass(frozen=True, slots=True)
class ScaleMap:
    """How one scale model lays out its readings and takes its commands."""

    readings: RegisterMap
    command_register: int
    commands: Mapping[ScaleCommand, int]
    resolution_kg: float
    """The weight step the scale shows (what "within the scale's resolution" means)."""

    def __post_init__(self) -> None:
        problems = list(self.readings.problems())
        names = {f.name for f in self.readings.fields}
        problems += [f"has no field {n!r}" for n in REQUIRED_FIGURES if n not in names]
        if not 0 <= self.command_register <= 0xFFFF:
            problems.append(f"command register {self.command_register} outside 0..65535")
        missing = [c.value for c in ScaleCommand if c not in self.commands]
        if missing:
            problems.append("has no code for command(s) " + ", ".join(missing))
        codes = list(self.commands.values())
        if any(not 0 <= c <= 0xFFFF for c in codes) or len(set(codes)) != len(codes):
            problems.append("command codes must be distinct and within 0..65535")
        if not self.resolution_kg > 0:
            problems.append(f"resolution {self.resolution_kg} kg is not positive")
        if problems:
            raise RegisterMapError(f"scale map {self.readings.name!r}: " + "; ".join(problems))

    @property
    def name(self) -> str:
        return self.readings.name

    def code(self, command: ScaleCommand) -> int:
        return self.commands[command]

    def command_of(self, code: int) -> ScaleCommand | None:
        """The command a written code stands for (the device side)."""
        for command, value in self.commands.items():
            if value == code:
                return command
        return None


DEFAULT_SCALE_MAP = ScaleMap(
    readings=RegisterMap(
        name="station-scale-v1",
        start=0,
        stride=8,
        table=RegisterTable.INPUT,
        fields=(
            RegisterField("status", 0, ValueType.U16),
            RegisterField("gross_kg", 1, ValueType.S32, 0.01),
        ),
    ),
    command_register=100,
    commands={ScaleCommand.TARE: 1, ScaleCommand.ZERO: 2, ScaleCommand.START: 3, ScaleCommand.STOP: 4},
    resolution_kg=0.01,
)

VENDOR_SCALE_MAP = ScaleMap(
    readings=RegisterMap(
        name="float-swapped",
        start=0x10,
        stride=4,
        table=RegisterTable.INPUT,
        fields=(
            RegisterField("gross_kg", 0, ValueType.F32, 1.0, WordOrder.SWAPPED),
            RegisterField("status", 2, ValueType.U16),
        ),
    ),
    command_register=0x40,
    commands={
        ScaleCommand.TARE: 0x0A,
        ScaleCommand.ZERO: 0x0B,
        ScaleCommand.START: 0x01,
        ScaleCommand.STOP: 0x02,
    },
    resolution_kg=0.02,
)

SCALE_MAPS: dict[str, ScaleMap] = {m.name: m for m in (DEFAULT_SCALE_MAP, VENDOR_SCALE_MAP)}


def scale_map_from_table(name: str, table: Mapping[str, Any]) -> ScaleMap:
    """A scale map from configuration: `start`, `stride`, `table`, `fields` ([{name, offset, type, scale,
    word_order}]), `command_register`, `commands` ({tare, zero, start, stop}), `resolution_kg`.
    Raises `RegisterMapError` naming every problem."""
    try:
        fields = tuple(
            RegisterField(
                str(f["name"]),
                int(f["offset"]),
                ValueType(f.get("type", "u16")),
                float(f.get("scale", 1.0)),
                WordOrder(f.get("word_order", "big")),
            )
            for f in table.get("fields", ())
        )
        readings = RegisterMap(
            name=name,
            fields=fields,
            start=int(table.get("start", 0)),
            stride=int(table.get("stride", 0)),
            table=RegisterTable(table.get("table", "input")),
        )
        commands = {ScaleCommand(k): int(v) for k, v in dict(table.get("commands", {})).items()}
        return ScaleMap(
            readings=readings,
            command_register=int(table["command_register"]),
            commands=commands,
            resolution_kg=float(table.get("resolution_kg", 0.01)),
        )
    except RegisterMapError:
        raise
    except (KeyError, TypeError, ValueError) as exc:
        raise RegisterMapError(f"scale map {name!r}: {exc}") from exc
