"""construct field types with the protocol's units and encodings built in.

Layer: protocol (pure). Scaling and encodings live here, in the structs, not in post-processing:

- `Bcd(n)`      n bytes of packed BCD  <-> str of 2n decimal digits ("0102")
- `BcdNum(n)`   n bytes of packed BCD  <-> int
- `Time7`       7 bytes BCD YYYYMMDDhhmmss <-> datetime (naive, station local time)
- `Date4`       4 bytes BCD YYYYMMDD <-> date
- `Stamp6`      6 bytes BCD YYYYMMDDhhmm <-> datetime
- `Int24ub`     3-byte big-endian unsigned (amounts, volumes)
Money is in fen (0.01 yuan), volume in 0.01 L (0.01 m³ or kg for CNG), price in fen per unit: all
integers in the wire's units.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import construct as c

Int24ub = c.BytesInteger(3)


class _BcdDigits(c.Adapter):  # type: ignore[misc]
    def _decode(self, obj: bytes, context: Any, path: str) -> str:
        digits = obj.hex()
        if not digits.isdigit():
            raise c.ValidationError(f"not packed BCD: {digits.upper()}", path=path)
        return digits

    def _encode(self, obj: str, context: Any, path: str) -> bytes:
        if not isinstance(obj, str) or not obj.isdigit() or len(obj) != self.subcon.length * 2:
            raise c.ValidationError(
                f"expected {self.subcon.length * 2} decimal digits, got {obj!r}", path=path
            )
        return bytes.fromhex(obj)


def Bcd(n: int) -> c.Construct:
    """`n` bytes of packed BCD as a digit string."""
    return _BcdDigits(c.Bytes(n))


class _BcdNumber(c.Adapter):  # type: ignore[misc]
    def _decode(self, obj: str, context: Any, path: str) -> int:
        return int(obj)

    def _encode(self, obj: int, context: Any, path: str) -> str:
        width = self.subcon.subcon.length * 2
        if not isinstance(obj, int) or obj < 0 or obj >= 10**width:
            raise c.ValidationError(f"{obj!r} does not fit {width} BCD digits", path=path)
        return f"{obj:0{width}d}"


def BcdNum(n: int) -> c.Construct:
    """`n` bytes of packed BCD as an int."""
    return _BcdNumber(Bcd(n))


class _Time(c.Adapter):  # type: ignore[misc]
    def __init__(self, subcon: c.Construct, fmt: str) -> None:
        super().__init__(subcon)
        self.fmt = fmt

    def _decode(self, obj: str, context: Any, path: str) -> dt.datetime:
        try:
            return dt.datetime.strptime(obj, self.fmt)
        except ValueError as exc:
            raise c.ValidationError(f"not a valid time: {obj}", path=path) from exc

    def _encode(self, obj: dt.datetime, context: Any, path: str) -> str:
        if not isinstance(obj, dt.datetime):
            raise c.ValidationError(f"expected a datetime, got {obj!r}", path=path)
        text = f"{obj.year:04d}{obj.month:02d}{obj.day:02d}{obj.hour:02d}{obj.minute:02d}{obj.second:02d}"
        return text[: self.subcon.subcon.length * 2]


class _Date(c.Adapter):  # type: ignore[misc]
    def _decode(self, obj: str, context: Any, path: str) -> dt.date:
        try:
            return dt.datetime.strptime(obj, "%Y%m%d").date()
        except ValueError as exc:
            raise c.ValidationError(f"not a valid date: {obj}", path=path) from exc

    def _encode(self, obj: dt.date, context: Any, path: str) -> str:
        if not isinstance(obj, dt.date):
            raise c.ValidationError(f"expected a date, got {obj!r}", path=path)
        return f"{obj.year:04d}{obj.month:02d}{obj.day:02d}"


Time7 = _Time(Bcd(7), "%Y%m%d%H%M%S")
Stamp6 = _Time(Bcd(6), "%Y%m%d%H%M")
Date4 = _Date(Bcd(4))


class _LenientDigits(c.Adapter):  # type: ignore[misc]
    """Packed BCD that tolerates filler nibbles (A-F): a record is never refused for its card number."""

    def _decode(self, obj: bytes, context: Any, path: str) -> str:
        return obj.hex().upper()

    def _encode(self, obj: str, context: Any, path: str) -> bytes:
        if not isinstance(obj, str) or len(obj) != self.subcon.length * 2:
            raise c.ValidationError(f"expected {self.subcon.length * 2} hex digits, got {obj!r}", path=path)
        try:
            return bytes.fromhex(obj)
        except ValueError as exc:
            raise c.ValidationError(f"not hex digits: {obj!r}", path=path) from exc


def LenientBcd(n: int) -> c.Construct:
    """`n` bytes of packed BCD as a digit string; non-decimal nibbles kept as upper-case hex."""
    return _LenientDigits(c.Bytes(n))


class _LenientTime(c.Adapter):  # type: ignore[misc]
    """TIME7 in stored records: a datetime, or the raw 14 digits when they are not a valid time."""

    def _decode(self, obj: str, context: Any, path: str) -> dt.datetime | str:
        try:
            return dt.datetime.strptime(obj, "%Y%m%d%H%M%S")
        except ValueError:
            return obj

    def _encode(self, obj: dt.datetime | str, context: Any, path: str) -> str:
        if isinstance(obj, str):
            return obj
        return Time7._encode(obj, context, path)


LenientTime7 = _LenientTime(LenientBcd(7))
