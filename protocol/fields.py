"""construct field types with the protocol's units and encodings built in.

Layer: protocol (pure). Scaling and encodings live here, in the structs, not in post-processing:

- `Bcd(n)`      n bytes of packed BCD  <-> str of 2n decimal digits ("0102")
- `BcdNum(n)`   n bytes of packed BCD  <-> int
- `Time7`       7 bytes BCD YYYYMMDDhhmmss <-> datetime (naive, station local time)
- `Date4`       4 bytes BCD YYYYMMDD <-> date
- `Stamp6`      6 bytes BCD YYYYMMDDhhmm <-> datetime
- `Int24ub`     3-byte big-endian unsigned (amounts, volumes)
- `FixedBytes(n)` exactly n raw bytes (`n` may be a `this` expression)
- `LenientBcd(n)`, `LenientTime7`: the record's forgiving variants (filler nibbles, invalid times kept)

Money is in fen (0.01 yuan), volume in 0.01 L (0.01 m³ or kg for CNG), price in fen per unit: all
integers in the wire's units.

Use `Int24ub` and `FixedBytes`, never construct's `BytesInteger(3)` and `Bytes(n)`, in structs that get
compiled: construct's compiled code for those reads with a bare `io.read(n)` and writes with a bare
`io.write`, so a short payload would parse without an error and a wrong-sized field would build a frame
of the wrong length. These emit the checked `stream_read` / `stream_write` instead. The BCD and time
types compile to a call of their conversion function on the checked raw bytes (`_Field`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import construct as c


class _FixedBytes(c.Bytes):  # type: ignore[misc]
    """`c.Bytes` whose compiled form checks the length on parse and build, like the plain form does."""

    def _emitparse(self, code: Any) -> str:
        return f"stream_read(io, {self.length}, '(compiled)')"

    def _emitbuild(self, code: Any) -> str:
        return f"(stream_write(io, obj, {self.length}, '(compiled)'), obj)[1]"


def FixedBytes(length: Any) -> c.Construct:
    """Exactly `length` raw bytes (an int or a `this` expression); short input is a `StreamError`."""
    return _FixedBytes(length)


class _Int24ub(c.BytesInteger):  # type: ignore[misc]
    """3-byte big-endian unsigned integer with checked compiled parse and build."""

    def __init__(self) -> None:
        super().__init__(3)

    def _emitparse(self, code: Any) -> str:
        return "int.from_bytes(stream_read(io, 3, '(compiled)'), 'big')"

    def _emitbuild(self, code: Any) -> str:
        return "(io.write(int.to_bytes(obj, 3, 'big')), obj)[1]"


Int24ub = _Int24ub()


class _Field(c.Adapter):  # type: ignore[misc]
    """An encoding over exactly `size` raw bytes, converted by two module-level functions of this module.

    Plain parsing calls them through the adapter; compiled structs call them inline on the checked raw
    bytes (no linked instance, no nested adapters), so both forms share one implementation. Both
    functions raise `c.ValidationError` for values they cannot convert.
    """

    def __init__(
        self, size: int, decode: Callable[[bytes], Any], encode: Callable[[Any, int], bytes]
    ) -> None:
        if decode.__module__ != __name__ or encode.__module__ != __name__:
            raise ValueError("compiled code imports the conversion functions from this module")
        super().__init__(c.Bytes(size))
        self.size = size
        self.decode_fn = decode
        self.encode_fn = encode

    def _decode(self, obj: bytes, context: Any, path: str) -> Any:
        return self.decode_fn(obj)

    def _encode(self, obj: Any, context: Any, path: str) -> bytes:
        return self.encode_fn(obj, self.size)

    def _emitparse(self, code: Any) -> str:
        name = self.decode_fn.__name__
        code.append(f"from {__name__} import {name}")
        return f"{name}(stream_read(io, {self.size}, '(compiled)'))"

    def _emitbuild(self, code: Any) -> str:
        name = self.encode_fn.__name__
        code.append(f"from {__name__} import {name}")
        return f"(stream_write(io, {name}(obj, {self.size}), {self.size}, '(compiled)'), obj)[1]"


def _bcd_decode(raw: bytes) -> str:
    digits = raw.hex()
    if not digits.isdigit():
        raise c.ValidationError(f"not packed BCD: {digits.upper()}")
    return digits


def _bcd_encode(obj: Any, size: int) -> bytes:
    if not isinstance(obj, str) or len(obj) != size * 2 or not obj.isascii() or not obj.isdigit():
        raise c.ValidationError(f"expected {size * 2} decimal digits, got {obj!r}")
    return bytes.fromhex(obj)


def Bcd(n: int) -> c.Construct:
    """`n` bytes of packed BCD as a digit string."""
    return _Field(n, _bcd_decode, _bcd_encode)


def _bcd_num_decode(raw: bytes) -> int:
    return int(_bcd_decode(raw))


def _bcd_num_encode(obj: Any, size: int) -> bytes:
    width = size * 2
    if not isinstance(obj, int) or obj < 0 or obj >= 10**width:
        raise c.ValidationError(f"{obj!r} does not fit {width} BCD digits")
    return bytes.fromhex(f"{obj:0{width}d}")


def BcdNum(n: int) -> c.Construct:
    """`n` bytes of packed BCD as an int."""
    return _Field(n, _bcd_num_decode, _bcd_num_encode)


def digits_to_datetime(digits: str) -> dt.datetime:
    """YYYYMMDDhhmmss (14 digits) or YYYYMMDDhhmm (12) as a datetime; `ValueError` if not a valid time.

    Same result as `strptime` with the fixed-width format, about ten times faster (the record hot path).
    """
    if len(digits) not in (12, 14) or not digits.isascii() or not digits.isdigit():
        raise ValueError(f"not a valid time: {digits}")
    return dt.datetime(
        int(digits[0:4]),
        int(digits[4:6]),
        int(digits[6:8]),
        int(digits[8:10]),
        int(digits[10:12]),
        int(digits[12:14] or 0),
    )


def _time_decode(raw: bytes) -> dt.datetime:
    digits = _bcd_decode(raw)
    try:
        return digits_to_datetime(digits)
    except ValueError as exc:
        raise c.ValidationError(f"not a valid time: {digits}") from exc


def _time_encode(obj: Any, size: int) -> bytes:
    if not isinstance(obj, dt.datetime):
        raise c.ValidationError(f"expected a datetime, got {obj!r}")
    text = f"{obj.year:04d}{obj.month:02d}{obj.day:02d}{obj.hour:02d}{obj.minute:02d}{obj.second:02d}"
    return bytes.fromhex(text[: size * 2])


def _date_decode(raw: bytes) -> dt.date:
    digits = _bcd_decode(raw)
    try:
        return dt.date(int(digits[0:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError as exc:
        raise c.ValidationError(f"not a valid date: {digits}") from exc


def _date_encode(obj: Any, size: int) -> bytes:
    if not isinstance(obj, dt.date):
        raise c.ValidationError(f"expected a date, got {obj!r}")
    return bytes.fromhex(f"{obj.year:04d}{obj.month:02d}{obj.day:02d}")


Time7 = _Field(7, _time_decode, _time_encode)
Stamp6 = _Field(6, _time_decode, _time_encode)
Date4 = _Field(4, _date_decode, _date_encode)


def _lenient_decode(raw: bytes) -> str:
    return raw.hex().upper()


def _lenient_encode(obj: Any, size: int) -> bytes:
    if not isinstance(obj, str) or len(obj) != size * 2:
        raise c.ValidationError(f"expected {size * 2} hex digits, got {obj!r}")
    try:
        raw = bytes.fromhex(obj)
    except ValueError as exc:
        raise c.ValidationError(f"not hex digits: {obj!r}") from exc
    if len(raw) != size:  # fromhex skips whitespace
        raise c.ValidationError(f"not hex digits: {obj!r}")
    return raw


def LenientBcd(n: int) -> c.Construct:
    """Packed BCD that tolerates filler nibbles (A-F): a record is never refused for its card number.

    `n` bytes as a digit string; non-decimal nibbles kept as upper-case hex.
    """
    return _Field(n, _lenient_decode, _lenient_encode)


def _lenient_time_decode(raw: bytes) -> dt.datetime | str:
    digits = raw.hex().upper()
    try:
        return digits_to_datetime(digits)
    except ValueError:
        return digits


def _lenient_time_encode(obj: Any, size: int) -> bytes:
    if isinstance(obj, str):
        return _lenient_encode(obj, size)
    return _time_encode(obj, size)


LenientTime7 = _Field(7, _lenient_time_decode, _lenient_time_encode)
"""TIME7 in stored records: a datetime, or the raw 14 digits (upper-case hex) when not a valid time."""
