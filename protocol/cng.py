"""The CNG card profile carried in IC_DATA of a 0x31 card-inserted sub-record. [project extension, B5]

Layer: protocol (pure). The Sinopec record has no field for CNG card data, so a dispenser that reads
a CNG card appends this profile to the card-inserted sub-record. A tag and a version byte come first
so the layout can evolve; a reader ignores IC_DATA that does not start with the tag.

    +-----+-----+-------+------+-------+---------------+---------+-------+---------+-------+---------+
    | TAG | VER | CLASS | MODE | LEVEL | CYL_VALID(4)  | PLEN(1) | PLATE | CAP(4)  | FPD   | DAYCAP  |
    | 'C' | 01  |   1   |  1   |   1   | BCD YYYYMMDD  |         | GBK   | BIN     | 1     | BIN (4) |
    +-----+-----+-------+------+-------+---------------+---------+-------+---------+-------+---------+

- CLASS: card class (0 private car, 1 taxi, 2 bus, 3 fleet, 4 other; the rules accept a configured set);
- MODE: consumption mode 0 prepaid amount, 1 prepaid volume, 2 credit amount, 3 credit volume;
- LEVEL: price level 0..2 (selects one of the nozzle's prices);
- CYL_VALID: cylinder inspection valid-until date; 00000000 = no date on the card (not registered);
- PLATE: vehicle plate, GBK, PLEN bytes (0..16);
- CAP: per-fill cap in the mode's unit (fen for amount modes, 0.01 m³/kg for volume modes), 0 = none;
- FPD: fills per day, 0 = no limit;  DAYCAP: amount per day in fen, 0 = no limit.
"""

from __future__ import annotations

import datetime as dt
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import construct as c

from protocol.errors import EncodeError, PayloadError
from protocol.fields import Bcd

CNG_TAG = 0x43  # 'C'
CNG_VERSION = 1
MAX_PLATE_BYTES = 16


class ConsumptionMode(IntEnum):
    PREPAID_AMOUNT = 0
    PREPAID_VOLUME = 1
    CREDIT_AMOUNT = 2
    CREDIT_VOLUME = 3


class CardClass(IntEnum):
    PRIVATE = 0
    TAXI = 1
    BUS = 2
    FLEET = 3
    OTHER = 4


CNG_PROFILE = c.Struct(
    "tag" / c.Const(bytes((CNG_TAG,))),
    "ver" / c.Int8ub,
    "card_class" / c.Int8ub,
    "mode" / c.Int8ub,
    "price_level" / c.Int8ub,
    "cylinder_valid_until" / Bcd(4),
    "plate" / c.PascalString(c.Int8ub, "gbk"),
    "per_fill_cap" / c.Int32ub,
    "fills_per_day" / c.Int8ub,
    "amount_per_day" / c.Int32ub,
    c.Terminated,
).compile()


@dataclass(frozen=True, slots=True)
class CngProfile:
    """What a CNG card tells the controller about the vehicle and its limits."""

    card_class: int
    mode: ConsumptionMode
    price_level: int
    cylinder_valid_until: dt.date | None
    plate: str = ""
    per_fill_cap: int = 0
    fills_per_day: int = 0
    amount_per_day: int = 0

    def build(self) -> bytes:
        plate = self.plate.encode("gbk", errors="strict")
        if len(plate) > MAX_PLATE_BYTES:
            raise EncodeError(f"plate {self.plate!r} is longer than {MAX_PLATE_BYTES} bytes")
        date = self.cylinder_valid_until
        fields: dict[str, Any] = {
            "ver": CNG_VERSION,
            "card_class": self.card_class,
            "mode": int(self.mode),
            "price_level": self.price_level,
            "cylinder_valid_until": "00000000"
            if date is None
            else f"{date.year:04d}{date.month:02d}{date.day:02d}",
            "plate": self.plate,
            "per_fill_cap": self.per_fill_cap,
            "fills_per_day": self.fills_per_day,
            "amount_per_day": self.amount_per_day,
        }
        try:
            return CNG_PROFILE.build(fields)  # type: ignore[no-any-return]
        except (c.ConstructError, struct.error, ValueError, TypeError, OverflowError) as exc:
            raise EncodeError(f"CNG profile: {exc}") from exc


def is_cng_profile(ic_data: bytes) -> bool:
    return len(ic_data) >= 2 and ic_data[0] == CNG_TAG


def parse_cng_profile(ic_data: bytes) -> CngProfile:
    """Parse IC_DATA as a CNG profile; `PayloadError` when it is not one or is damaged."""
    try:
        obj = CNG_PROFILE.parse(ic_data)
    except (c.ConstructError, struct.error, UnicodeDecodeError) as exc:
        # struct.error: the compiled struct unpacks a short profile with the bare `struct` module.
        raise PayloadError(f"IC_DATA is not a CNG profile: {exc}", ic_data) from exc
    if obj.ver != CNG_VERSION:
        raise PayloadError(f"CNG profile version {obj.ver} is not supported", ic_data)
    try:
        mode = ConsumptionMode(obj.mode)
    except ValueError as exc:
        raise PayloadError(f"CNG profile: unknown consumption mode {obj.mode}", ic_data) from exc
    digits = obj.cylinder_valid_until
    try:
        date = None if digits == "00000000" else dt.datetime.strptime(digits, "%Y%m%d").date()
    except ValueError as exc:
        raise PayloadError(f"CNG profile: cylinder date {digits} is not a date", ic_data) from exc
    return CngProfile(
        card_class=obj.card_class,
        mode=mode,
        price_level=obj.price_level,
        cylinder_valid_until=date,
        plate=obj.plate,
        per_fill_cap=obj.per_fill_cap,
        fills_per_day=obj.fills_per_day,
        amount_per_day=obj.amount_per_day,
    )
