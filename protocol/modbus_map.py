"""Modbus register maps as data: how a field device lays its figures out in 16-bit registers.

Layer: protocol (pure). A tank console or a filling scale answers "read input/holding registers" with
a run of 16-bit words; which word holds what differs by vendor. A `RegisterMap` describes one unit's
block (a tank of a console, a scale) as a table of fields, so a new device model is a table, not code:

    unit i occupies registers  start + i*stride  ..  start + i*stride + size - 1

    field      offset  type   words  word order        physical value
    ---------  ------  -----  -----  ----------------  ---------------------------
    u16 / s16  n       1      [n]    -                 raw * scale
    u32 / s32  n       2      [n,n+1] "big"  = AB CD   raw * scale   (high word first)
    f32        n       2      [n,n+1] "swapped" = CD AB (low word first, "word-swapped")

Bytes inside a word are always big-endian (Modbus). A float that is NaN or infinite, a register that is
not 0..65535 or a block that is too short is a `RegisterValueError`: such a reading is rejected, never
stored as a measurement.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from protocol.errors import ProtocolError

__all__ = [
    "RegisterField",
    "RegisterMap",
    "RegisterMapError",
    "RegisterTable",
    "RegisterValueError",
    "ValueType",
    "WordOrder",
]


class RegisterMapError(ProtocolError):
    """A register map (from configuration) is not usable: overlapping or out-of-block fields, bad stride."""


class RegisterValueError(ProtocolError):
    """A block of registers read from a device does not decode to valid figures."""

    def __init__(self, message: str, registers: Sequence[int] = ()) -> None:
        super().__init__(message)
        self.registers = tuple(registers)


class ValueType(StrEnum):
    U16 = "u16"
    S16 = "s16"
    U32 = "u32"
    S32 = "s32"
    F32 = "f32"

    @property
    def words(self) -> int:
        return 1 if self in (ValueType.U16, ValueType.S16) else 2


class WordOrder(StrEnum):
    BIG = "big"
    """High word first (AB CD)."""
    SWAPPED = "swapped"
    """Low word first (CD AB), as many consoles send 32-bit values."""


class RegisterTable(StrEnum):
    INPUT = "input"
    HOLDING = "holding"


_PACK = {
    ValueType.U16: ">H",
    ValueType.S16: ">h",
    ValueType.U32: ">I",
    ValueType.S32: ">i",
    ValueType.F32: ">f",
}


@dataclass(frozen=True, slots=True)
class RegisterField:
    """One figure in a unit's block."""

    name: str
    offset: int
    """Register offset inside the unit's block."""
    type: ValueType = ValueType.U16
    scale: float = 1.0
    """Physical value = raw value × scale."""
    word_order: WordOrder = WordOrder.BIG

    def decode(self, words: Sequence[int]) -> float:
        """The physical value of this field from its own words (1 or 2 of them)."""
        raw = _words_to_bytes(words[: self.type.words], self.word_order)
        (value,) = struct.unpack(_PACK[self.type], raw)
        if isinstance(value, float) and not math.isfinite(value):
            raise RegisterValueError(f"field {self.name!r} is not a finite number ({value})", words)
        return float(value) * self.scale

    def encode(self, value: float) -> list[int]:
        """Words carrying `value` (the device side: simulators and tests)."""
        if not math.isfinite(value):
            raise RegisterValueError(f"field {self.name!r}: cannot encode {value}")
        raw_value: float | int = value / self.scale
        if self.type is not ValueType.F32:
            raw_value = round(raw_value)
        try:
            raw = struct.pack(_PACK[self.type], raw_value)
        except struct.error as exc:
            raise RegisterValueError(f"field {self.name!r}: {value} does not fit {self.type}") from exc
        words = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]
        if self.word_order is WordOrder.SWAPPED:
            words.reverse()
        return words


def _words_to_bytes(words: Sequence[int], order: WordOrder) -> bytes:
    if any(not 0 <= w <= 0xFFFF for w in words):
        raise RegisterValueError("a register is outside 0..65535", words)
    ordered = list(reversed(words)) if order is WordOrder.SWAPPED and len(words) == 2 else list(words)
    return b"".join(w.to_bytes(2, "big") for w in ordered)


@dataclass(frozen=True, slots=True)
class RegisterMap:
    """The register layout of one device model: a block per unit (tank, scale), fields inside it."""

    name: str
    fields: tuple[RegisterField, ...]
    start: int = 0
    """Address of unit 0's block."""
    stride: int = 0
    """Registers between two units' blocks; 0 = the block size."""
    table: RegisterTable = RegisterTable.INPUT

    def __post_init__(self) -> None:
        problems = self.problems()
        if problems:
            raise RegisterMapError(f"register map {self.name!r}: " + "; ".join(problems))

    def problems(self) -> list[str]:
        """Every reason this map cannot be used (empty when it can)."""
        out: list[str] = []
        if not self.fields:
            out.append("has no fields")
        if self.start < 0 or self.start > 0xFFFF:
            out.append(f"start {self.start} outside 0..65535")
        taken: dict[int, str] = {}
        names: set[str] = set()
        for f in self.fields:
            if f.name in names:
                out.append(f"field {f.name!r} appears twice")
            names.add(f.name)
            if f.offset < 0:
                out.append(f"field {f.name!r} has a negative offset")
            if f.scale == 0 or not math.isfinite(f.scale):
                out.append(f"field {f.name!r} has scale {f.scale}")
            for reg in range(f.offset, f.offset + f.type.words):
                if reg in taken:
                    out.append(f"fields {taken[reg]!r} and {f.name!r} overlap at offset {reg}")
                taken[reg] = f.name
        if self.stride and self.fields and self.stride < self.size:
            out.append(f"stride {self.stride} is smaller than the block ({self.size} registers)")
        return out

    @property
    def size(self) -> int:
        """Registers in one unit's block (up to the last word of the last field)."""
        return max((f.offset + f.type.words for f in self.fields), default=0)

    def address(self, unit: int) -> int:
        """First register of unit `unit` (0-based)."""
        if unit < 0:
            raise RegisterMapError(f"unit {unit} is negative")
        addr = self.start + unit * (self.stride or self.size)
        if addr + self.size - 1 > 0xFFFF:
            raise RegisterMapError(f"unit {unit} of {self.name!r} lies beyond register 65535")
        return addr

    def decode(self, registers: Sequence[int]) -> dict[str, float]:
        """Every field's physical value from one unit's block; raises `RegisterValueError`."""
        if len(registers) < self.size:
            raise RegisterValueError(
                f"{self.name}: {len(registers)} registers, the block needs {self.size}", registers
            )
        return {f.name: f.decode(registers[f.offset : f.offset + f.type.words]) for f in self.fields}

    def encode(self, values: Mapping[str, float]) -> list[int]:
        """One unit's block carrying `values` (missing fields are 0): the device side."""
        block = [0] * self.size
        for f in self.fields:
            words = f.encode(values.get(f.name, 0.0))
            block[f.offset : f.offset + len(words)] = words
        return block

    def field(self, name: str) -> RegisterField:
        for f in self.fields:
            if f.name == name:
                return f
        raise RegisterMapError(f"register map {self.name!r} has no field {name!r}")
