"""What the customer asked for at the nozzle, carried in IC_DATA of a 0x31 card-inserted sub-record.
[project extension, B5/B7]

Layer: protocol (pure). The card rules that depend on the sale (a preset above the card's per-fill cap,
a card bound to another vehicle's plate) can only refuse a card before fuel flows if the controller
knows the preset and the vehicle when it decides. A dispenser that takes the preset (keypad) and the
vehicle plate (plate reader or keypad) before the card is authorised appends this block to IC_DATA,
after the CNG profile when there is one::

    IC_DATA = [ CNG profile ('C', protocol.cng) ] [ sale request ('R') ]

    +-----+-----+-------+-----------+------+-------+
    | TAG | VER | PKIND | PRESET(4) | PLEN | PLATE |
    | 'R' | 01  |   1   | BIN       |  1   | GBK   |
    +-----+-----+-------+-----------+------+-------+

- PKIND: 0 no preset, 1 amount (fen), 2 volume (0.01 units);  PRESET: the preset, 0 when PKIND is 0;
- PLATE: the plate of the vehicle at the nozzle, GBK, PLEN bytes (0..16; 0 = not known).

`split_ic_data` cuts IC_DATA into its blocks; a reader ignores IC_DATA that starts with neither tag.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

import construct as c

from protocol.cng import CNG_TAG, MAX_PLATE_BYTES
from protocol.errors import EncodeError, PayloadError

REQUEST_TAG = 0x52  # 'R'
REQUEST_VERSION = 1
_CNG_PLEN_OFFSET = 9
"""Offset of PLEN in a CNG profile (TAG VER CLASS MODE LEVEL CYL_VALID(4)); the profile is 19 + PLEN bytes."""
_CNG_FIXED_LEN = 19


class PresetKind(IntEnum):
    NONE = 0
    AMOUNT = 1
    VOLUME = 2


SALE_REQUEST = c.Struct(
    "tag" / c.Const(bytes((REQUEST_TAG,))),
    "ver" / c.Int8ub,
    "preset_kind" / c.Int8ub,
    "preset" / c.Int32ub,
    "plate" / c.PascalString(c.Int8ub, "gbk"),
    c.Terminated,
).compile()


@dataclass(frozen=True, slots=True)
class SaleRequest:
    """The preset and the vehicle plate a dispenser knew when it reported the card."""

    preset_amount: int | None = None
    """Money preset (fen); None = no money preset."""
    preset_volume: int | None = None
    """Volume preset (0.01 units); None = no volume preset."""
    plate: str = ""
    """The plate of the vehicle at the nozzle; empty = not known."""

    def build(self) -> bytes:
        if self.preset_amount is not None and self.preset_volume is not None:
            raise EncodeError("a sale request has one preset: amount or volume")
        kind, preset = PresetKind.NONE, 0
        if self.preset_amount is not None:
            kind, preset = PresetKind.AMOUNT, self.preset_amount
        elif self.preset_volume is not None:
            kind, preset = PresetKind.VOLUME, self.preset_volume
        try:
            plate = self.plate.encode("gbk", errors="strict")
        except UnicodeError as exc:
            raise EncodeError(f"plate {self.plate!r} is not GBK") from exc
        if len(plate) > MAX_PLATE_BYTES:
            raise EncodeError(f"plate {self.plate!r} is longer than {MAX_PLATE_BYTES} bytes")
        try:
            return SALE_REQUEST.build(  # type: ignore[no-any-return]
                {"ver": REQUEST_VERSION, "preset_kind": int(kind), "preset": preset, "plate": self.plate}
            )
        except (c.ConstructError, struct.error, ValueError, TypeError, OverflowError) as exc:
            raise EncodeError(f"sale request: {exc}") from exc


def parse_sale_request(block: bytes) -> SaleRequest:
    """Parse a sale-request block; `PayloadError` when it is damaged or of an unknown version."""
    try:
        obj = SALE_REQUEST.parse(block)
    except (c.ConstructError, struct.error, UnicodeDecodeError) as exc:
        raise PayloadError(f"IC_DATA sale request: {exc}", block) from exc
    if obj.ver != REQUEST_VERSION:
        raise PayloadError(f"sale request version {obj.ver} is not supported", block)
    match obj.preset_kind:
        case PresetKind.NONE:
            return SaleRequest(plate=obj.plate)
        case PresetKind.AMOUNT:
            return SaleRequest(preset_amount=obj.preset, plate=obj.plate)
        case PresetKind.VOLUME:
            return SaleRequest(preset_volume=obj.preset, plate=obj.plate)
        case _:
            raise PayloadError(f"sale request: unknown preset kind {obj.preset_kind}", block)


class IcDataParts(NamedTuple):
    """IC_DATA cut into its blocks (empty bytes: the block is absent)."""

    profile: bytes
    request: bytes


def split_ic_data(ic_data: bytes) -> IcDataParts:
    """Cut IC_DATA into the CNG profile and the sale request; `PayloadError` when the blocks do not fit.

    IC_DATA starting with neither tag is vendor data: both parts come back empty."""
    rest = ic_data
    profile = b""
    if rest[:1] == bytes((CNG_TAG,)):
        if len(rest) <= _CNG_PLEN_OFFSET:
            raise PayloadError("IC_DATA: CNG profile cut short", ic_data)
        size = _CNG_FIXED_LEN + rest[_CNG_PLEN_OFFSET]
        if len(rest) < size:
            raise PayloadError("IC_DATA: CNG profile cut short", ic_data)
        profile, rest = rest[:size], rest[size:]
    if not rest:
        return IcDataParts(profile, b"")
    if rest[:1] == bytes((REQUEST_TAG,)):
        return IcDataParts(profile, rest)
    if profile:
        raise PayloadError("IC_DATA: unknown bytes after the CNG profile", ic_data)
    return IcDataParts(b"", b"")


def join_ic_data(profile: bytes, request: SaleRequest | None) -> bytes:
    """IC_DATA of a card: its profile bytes (or none), then the sale request when there is one."""
    return profile + (request.build() if request is not None else b"")
