"""Downloadable byte streams (spec A6): list files, the price table and station info.

Layer: protocol (pure; no I/O, no asyncio). A dispenser downloads each CONTENT as one byte stream,
announced by 0x33 (total length) and fetched with 0x34 in 16-byte segments (`segment`). The codecs here
turn those streams into typed, frozen dataclasses and back; construct ends at this module's border.

List file (CONTENT 0 base blacklist, 1 added blacklist, 2 deleted blacklist, 3 white list)::

    0        2              6            10     12        16
    +--------+--------------+------------+------+---------+--------------------------------+
    | VER(2) | VALID_FROM   | VALID_TO   | AREA | COUNT   | COUNT x ASN(10, packed BCD)    |
    |  bin   | BCD YYYYMMDD | BCD        | bin  | bin (4) | strictly ascending, no repeats |
    +--------+--------------+------------+------+---------+--------------------------------+

  Ten-byte packed BCD numbers of equal width sort the same as bytes and as digit strings, so the
  entries stay one packed `bytes` blob (about 10 MB per million cards) and are searched in place
  (`list_stream_contains`); there is no per-entry Python object. The 0x30 poll reply carries the full
  VER of the base list and only the low byte of the others (`ListKind.wire_version`).

Price table (CONTENT 4)::

    VER(1) | EFFECTIVE(6, BCD YYYYMMDDhhmm) | N(1) | N current records | N new records
    record = NZN(1) | G_CODE(2 BCD) | DENSITY(4) | PRC_N(1) | PRC_N x PRICE(2, fen per unit)

Station info (CONTENT 5)::

    VER(1) | PROV(1 BCD) | CITY(1 BCD) | SUPERIOR(4 BCD) | S_ID(4 BCD) | POS_P(1) | GUN_N(1) | GUN_N x NZN(1)

Integers are big-endian unsigned. AREA and DENSITY have no encoding in the public material: they are
kept as the raw unsigned integers.

Segments: S_OFFSET in 0x34 is two bytes counting 16-byte segments, so only the first
`MAX_SEGMENTED_LEN` bytes (1 MiB, about 104 800 list entries) of a stream are addressable on the wire.
"""

from __future__ import annotations

import datetime as dt
import operator
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import IntEnum
from itertools import islice
from typing import Any, Final

import construct as c

from protocol.errors import EncodeError, ProtocolError
from protocol.fields import Bcd, Date4, Stamp6
from protocol.messages import Content

__all__ = [
    "ASN_DIGITS",
    "ASN_LEN",
    "LIST_HEADER",
    "LIST_HEADER_LEN",
    "LIST_HEADER_STRUCT",
    "MAX_SEGMENTED_LEN",
    "MAX_SEGMENTS_PER_REQUEST",
    "MAX_SEGMENT_OFFSET",
    "PRICE_RECORD_STRUCT",
    "PRICE_TABLE",
    "PRICE_TABLE_STRUCT",
    "SEGMENT_LEN",
    "STATION_INFO",
    "STATION_INFO_STRUCT",
    "DownloadError",
    "DownloadFormatError",
    "DownloadValueError",
    "InvalidAsnError",
    "ListCountError",
    "ListDateError",
    "ListDuplicateError",
    "ListFile",
    "ListHeader",
    "ListKind",
    "ListOrderError",
    "PriceRecord",
    "PriceTable",
    "SegmentRequestError",
    "StationInfo",
    "list_stream_contains",
    "looks_like_list_stream",
    "pack_asn",
    "segment",
    "unpack_asn",
    "validate_list_stream",
]

ASN_LEN: Final = 10
ASN_DIGITS: Final = 2 * ASN_LEN
LIST_HEADER_LEN: Final = 16
SEGMENT_LEN: Final = 16
MAX_SEGMENT_OFFSET: Final = 0xFFFF
MAX_SEGMENTS_PER_REQUEST: Final = 255
MAX_SEGMENTED_LEN: Final = (MAX_SEGMENT_OFFSET + 1) * SEGMENT_LEN
"""Bytes of a stream reachable through 0x34 (S_OFFSET is 2 bytes, in segments)."""

_CHECK_CHUNK_ENTRIES: Final = 1 << 16
"""Entries validated per chunk: bounds the transient memory of checking a million-entry list."""


# --- errors ----------------------------------------------------------------------------------------


class DownloadError(ProtocolError):
    """Root of the errors of the download codecs."""


class DownloadFormatError(DownloadError):
    """The bytes do not fit the layout (truncated, trailing bytes, bad BCD, impossible date)."""

    def __init__(self, message: str, data: bytes = b"") -> None:
        super().__init__(message)
        self.data = data


class ListCountError(DownloadFormatError):
    """COUNT in a list header disagrees with the number of bytes that follow it."""

    def __init__(self, count: int, body_len: int) -> None:
        super().__init__(
            f"list header says COUNT {count} ({count * ASN_LEN} bytes) but {body_len} bytes follow it"
        )
        self.count = count
        self.body_len = body_len


class DownloadValueError(DownloadError, EncodeError):
    """A field of a download dataclass is out of range for its wire encoding."""

    def __init__(self, field: str, value: object, reason: str) -> None:
        super().__init__(f"{field} = {value!r}: {reason}")
        self.field = field
        self.value = value


class InvalidAsnError(DownloadError):
    """Not a card number: a text ASN that is not 20 decimal digits, or a packed one with A-F nibbles.

    `index` is the entry's position in a list file (None for a single number)."""

    def __init__(self, value: str, index: int | None = None) -> None:
        where = "" if index is None else f"entry {index}: "
        super().__init__(f"{where}not a {ASN_DIGITS}-digit card number: {value!r}")
        self.value = value
        self.index = index


class ListOrderError(DownloadError):
    """Entry `index` is not greater than the one before it (lists are strictly ascending)."""

    def __init__(self, index: int, asn: str, previous: str) -> None:
        super().__init__(
            f"entry {index}: {asn} is not above the previous entry {previous} (lists are sorted)"
        )
        self.index = index
        self.asn = asn
        self.previous = previous


class ListDuplicateError(ListOrderError):
    """Entry `index` repeats the entry before it."""

    def __init__(self, index: int, asn: str, previous: str) -> None:
        DownloadError.__init__(self, f"entry {index}: {asn} is listed twice")
        self.index = index
        self.asn = asn
        self.previous = previous


class ListDateError(DownloadError):
    """VALID_TO is before VALID_FROM."""

    def __init__(self, valid_from: dt.date, valid_to: dt.date) -> None:
        super().__init__(f"valid_to {valid_to.isoformat()} is before valid_from {valid_from.isoformat()}")
        self.valid_from = valid_from
        self.valid_to = valid_to


class SegmentRequestError(DownloadError):
    """A 0x34 request asks for an offset or a segment count outside the protocol's ranges."""

    def __init__(self, offset_segments: int, count: int) -> None:
        super().__init__(
            f"segment request offset {offset_segments}, count {count}: offset must be 0..{MAX_SEGMENT_OFFSET}"
            f" and count 1..{MAX_SEGMENTS_PER_REQUEST}"
        )
        self.offset_segments = offset_segments
        self.count = count


# --- field checks ----------------------------------------------------------------------------------


def _check_uint(field: str, value: object, bits: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < (1 << bits):
        raise DownloadValueError(field, value, f"must be an integer 0..{(1 << bits) - 1}")


def _check_digits(field: str, value: object, width: int) -> None:
    if not isinstance(value, str) or len(value) != width or not (value.isascii() and value.isdigit()):
        raise DownloadValueError(field, value, f"must be {width} decimal digits")


def _check_date(field: str, value: object) -> None:
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise DownloadValueError(field, value, "must be a datetime.date")


def _check_minute(field: str, value: object) -> None:
    if not isinstance(value, dt.datetime) or value.tzinfo is not None:
        raise DownloadValueError(field, value, "must be a naive datetime (station local time)")
    if value.second or value.microsecond:
        raise DownloadValueError(field, value, "has no seconds on the wire (BCD YYYYMMDDhhmm)")


def _parse(compiled: c.Construct, plain: c.Construct, data: bytes, what: str) -> Any:
    """Parse with the compiled struct; on failure, parse again with the plain one for an error message
    that names the field (compiled parsers report no path, and raise struct.error when truncated)."""
    try:
        return compiled.parse(data)
    except (c.ConstructError, struct.error):
        pass
    try:
        plain.parse(data)
    except c.ConstructError as exc:
        raise DownloadFormatError(f"{what}: {_construct_message(exc)}", bytes(data)) from exc
    raise DownloadFormatError(f"{what}: does not fit the layout", bytes(data))  # pragma: no cover


def _construct_message(exc: c.ConstructError) -> str:
    return " ".join(str(exc).replace("Error in path", "at").split())


def _build(compiled: c.Construct, obj: dict[str, Any], what: str) -> bytes:
    try:
        return bytes(compiled.build(obj))
    except (c.ConstructError, struct.error) as exc:
        raise DownloadValueError(what, obj, str(exc)) from exc


# --- card numbers ----------------------------------------------------------------------------------


def pack_asn(asn: str) -> bytes:
    """A 20-digit card number as its 10 packed BCD bytes; `InvalidAsnError` otherwise."""
    if not isinstance(asn, str) or len(asn) != ASN_DIGITS or not (asn.isascii() and asn.isdigit()):
        raise InvalidAsnError(str(asn))
    return bytes.fromhex(asn)


def unpack_asn(packed: bytes) -> str:
    """10 packed BCD bytes as the 20-digit card number; `InvalidAsnError` for A-F nibbles."""
    digits = bytes(packed).hex()
    if len(packed) != ASN_LEN or not digits.isdigit():
        raise InvalidAsnError(digits.upper())
    return digits


# --- list files ------------------------------------------------------------------------------------


class ListKind(IntEnum):
    """The four list files; the value is their CONTENT code in 0x33 / 0x34."""

    BASE = 0
    ADDED = 1
    DELETED = 2
    WHITE = 3

    @property
    def label(self) -> str:
        """Lower-case name used in text files, file names and the manifest ("base", "added", ...)."""
        return self.name.lower()

    @property
    def content(self) -> Content:
        return Content(self.value)

    def wire_version(self, version: int) -> int:
        """The version a dispenser compares (0x30): all 16 bits for the base list, the low byte otherwise."""
        return version if self is ListKind.BASE else version & 0xFF

    @classmethod
    def from_label(cls, label: str) -> ListKind:
        """Parse "base" / "added" / "deleted" / "white" (or the CONTENT digit 0..3); ValueError otherwise."""
        text = label.strip().lower()
        for kind in cls:
            if text in (kind.label, str(kind.value)):
                return kind
        raise ValueError(f"unknown list kind {label!r}: expected one of base, added, deleted, white")


LIST_HEADER_STRUCT = c.Struct(
    "version" / c.Int16ub,
    "valid_from" / Date4,
    "valid_to" / Date4,
    "area" / c.Int16ub,
    "count" / c.Int32ub,
)
LIST_HEADER = LIST_HEADER_STRUCT.compile()


@dataclass(frozen=True, slots=True)
class ListHeader:
    """The 16-byte header of a list file."""

    version: int
    valid_from: dt.date
    valid_to: dt.date
    area: int
    count: int

    def __post_init__(self) -> None:
        _check_uint("version", self.version, 16)
        _check_date("valid_from", self.valid_from)
        _check_date("valid_to", self.valid_to)
        _check_uint("area", self.area, 16)
        _check_uint("count", self.count, 32)
        if self.valid_to < self.valid_from:
            raise ListDateError(self.valid_from, self.valid_to)

    def valid_on(self, day: dt.date) -> bool:
        """True when `day` lies within VALID_FROM..VALID_TO (both inclusive)."""
        return self.valid_from <= day <= self.valid_to

    def build(self) -> bytes:
        return _build(
            LIST_HEADER,
            {
                "version": self.version,
                "valid_from": self.valid_from,
                "valid_to": self.valid_to,
                "area": self.area,
                "count": self.count,
            },
            "list header",
        )

    @classmethod
    def parse(cls, data: bytes) -> ListHeader:
        """Parse exactly the 16 header bytes (the entries are not looked at)."""
        if len(data) != LIST_HEADER_LEN:
            raise DownloadFormatError(f"list header is {LIST_HEADER_LEN} bytes, got {len(data)}", bytes(data))
        for name, start in (("valid_from", 2), ("valid_to", 6)):
            try:
                Date4.parse(data[start : start + 4])
            except c.ConstructError as exc:
                raise DownloadFormatError(f"list header {name}: {exc}", bytes(data)) from exc
        raw = _parse(LIST_HEADER, LIST_HEADER_STRUCT, data, "list header")
        return cls(raw.version, raw.valid_from, raw.valid_to, raw.area, raw.count)


# One byte of a packed BCD number maps to 0, anything with an A-F nibble to 1.
_NOT_BCD: Final = bytes(0 if (b >> 4) < 10 and (b & 0x0F) < 10 else 1 for b in range(256))


def _check_entries(data: bytes, offset: int, count: int) -> None:
    """Check `count` 10-byte entries at `offset`: packed BCD, strictly ascending.

    Works a chunk at a time with C-level passes (translate/find, map(operator.lt)); only the failing
    chunk is walked entry by entry, to name the offending index."""
    previous = b""
    for first in range(0, count, _CHECK_CHUNK_ENTRIES):
        n = min(_CHECK_CHUNK_ENTRIES, count - first)
        start = offset + first * ASN_LEN
        chunk = data[start : start + n * ASN_LEN]
        bad = chunk.translate(_NOT_BCD).find(1)
        if bad >= 0:
            at = bad - bad % ASN_LEN
            raise InvalidAsnError(chunk[at : at + ASN_LEN].hex().upper(), first + at // ASN_LEN)
        items = [chunk[i : i + ASN_LEN] for i in range(0, n * ASN_LEN, ASN_LEN)]
        if not (previous < items[0] and all(map(operator.lt, items, islice(items, 1, None)))):
            last = previous
            for j, item in enumerate(items):
                if item <= last:
                    error = ListDuplicateError if item == last else ListOrderError
                    raise error(first + j, item.hex(), last.hex())
                last = item
        previous = items[-1]


def validate_list_stream(data: bytes) -> ListHeader:
    """Check a whole list download stream without copying it; return its header.

    Raises `DownloadFormatError` (header, `ListCountError`), `ListDateError`, `InvalidAsnError`,
    `ListOrderError` / `ListDuplicateError` (each naming the entry index)."""
    if len(data) < LIST_HEADER_LEN:
        raise DownloadFormatError(
            f"a list file is at least {LIST_HEADER_LEN} bytes, got {len(data)}", bytes(data[:64])
        )
    header = ListHeader.parse(data[:LIST_HEADER_LEN])
    body_len = len(data) - LIST_HEADER_LEN
    if body_len != header.count * ASN_LEN:
        raise ListCountError(header.count, body_len)
    _check_entries(data, LIST_HEADER_LEN, header.count)
    return header


def looks_like_list_stream(head: bytes, size: int) -> bool:
    """True when the first bytes of a file of `size` bytes read as a list download stream.

    The dates are packed BCD and COUNT must account for the exact size; text list files (which start
    with ASCII key names) never pass both tests."""
    if size < LIST_HEADER_LEN or len(head) < LIST_HEADER_LEN:
        return False
    if head[2:10].translate(_NOT_BCD).count(1):
        return False
    count = int.from_bytes(head[12:16], "big")
    return size == LIST_HEADER_LEN + count * ASN_LEN


def _bisect(blob: bytes, offset: int, count: int, key: bytes) -> bool:
    lo = 0
    hi = count
    while lo < hi:
        mid = (lo + hi) >> 1
        at = offset + mid * ASN_LEN
        probe = blob[at : at + ASN_LEN]
        if probe < key:
            lo = mid + 1
        elif probe > key:
            hi = mid
        else:
            return True
    return False


def list_stream_contains(stream: bytes, key: bytes) -> bool:
    """Binary search for the packed ASN `key` in a validated list stream (header + sorted entries).

    About 20 probes of 10-byte slices for a million entries; no per-entry objects."""
    return _bisect(stream, LIST_HEADER_LEN, (len(stream) - LIST_HEADER_LEN) // ASN_LEN, key)


@dataclass(frozen=True, slots=True, repr=False)
class ListFile:
    """One list (black base/added/deleted or white): header fields and the packed, sorted entries.

    `entries` is COUNT x 10 bytes of packed BCD, strictly ascending; it is checked on construction.
    Use `from_asns` to build one from digit strings."""

    version: int
    valid_from: dt.date
    valid_to: dt.date
    area: int
    entries: bytes = b""

    def __post_init__(self) -> None:
        if isinstance(self.entries, bytearray | memoryview):
            object.__setattr__(self, "entries", bytes(self.entries))
        if not isinstance(self.entries, bytes) or len(self.entries) % ASN_LEN:
            raise DownloadValueError(
                "entries", type(self.entries).__name__, f"must be bytes, a multiple of {ASN_LEN} long"
            )
        ListHeader(self.version, self.valid_from, self.valid_to, self.area, self.count)
        _check_entries(self.entries, 0, self.count)

    @classmethod
    def from_asns(
        cls, version: int, valid_from: dt.date, valid_to: dt.date, area: int, asns: Iterable[str]
    ) -> ListFile:
        """Build from 20-digit card numbers, which must already be in ascending order."""
        packed = []
        for index, asn in enumerate(asns):
            try:
                packed.append(pack_asn(asn))
            except InvalidAsnError:
                raise InvalidAsnError(str(asn), index) from None
        return cls(version, valid_from, valid_to, area, b"".join(packed))

    @property
    def count(self) -> int:
        return len(self.entries) // ASN_LEN

    @property
    def header(self) -> ListHeader:
        return ListHeader(self.version, self.valid_from, self.valid_to, self.area, self.count)

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[str]:
        entries = self.entries
        for at in range(0, len(entries), ASN_LEN):
            yield entries[at : at + ASN_LEN].hex()

    def __contains__(self, asn: object) -> bool:
        if not isinstance(asn, str):
            return False
        return _bisect(self.entries, 0, self.count, pack_asn(asn))

    def asn_at(self, index: int) -> str:
        if not -self.count <= index < self.count:
            raise IndexError(index)
        at = (index % self.count) * ASN_LEN
        return self.entries[at : at + ASN_LEN].hex()

    def __repr__(self) -> str:
        return (
            f"ListFile(version={self.version}, valid_from={self.valid_from}, valid_to={self.valid_to},"
            f" area={self.area}, count={self.count})"
        )

    def build(self) -> bytes:
        return self.header.build() + self.entries

    @classmethod
    def parse(cls, data: bytes) -> ListFile:
        header = validate_list_stream(data)
        obj = object.__new__(cls)
        # Checked by validate_list_stream already: skip the second pass of __post_init__.
        for name, value in (
            ("version", header.version),
            ("valid_from", header.valid_from),
            ("valid_to", header.valid_to),
            ("area", header.area),
            ("entries", bytes(data[LIST_HEADER_LEN:])),
        ):
            object.__setattr__(obj, name, value)
        return obj


# --- price table -----------------------------------------------------------------------------------

PRICE_RECORD_STRUCT = c.Struct(
    "nzn" / c.Int8ub,
    "g_code" / Bcd(2),
    "density" / c.Int32ub,
    "prices" / c.PrefixedArray(c.Int8ub, c.Int16ub),
)

PRICE_TABLE_STRUCT = c.Struct(
    "version" / c.Int8ub,
    "effective" / Stamp6,
    "n" / c.Rebuild(c.Int8ub, c.len_(c.this.current)),
    "current" / c.Array(c.this.n, PRICE_RECORD_STRUCT),
    "new" / c.Array(c.this.n, PRICE_RECORD_STRUCT),
    c.Terminated,
)
PRICE_TABLE = PRICE_TABLE_STRUCT.compile()


@dataclass(frozen=True, slots=True)
class PriceRecord:
    """Prices of one nozzle: `prices` are the price levels in fen per unit (level 0 first)."""

    nzn: int
    g_code: str
    density: int
    prices: tuple[int, ...]

    def __post_init__(self) -> None:
        _check_uint("nzn", self.nzn, 8)
        _check_digits("g_code", self.g_code, 4)
        _check_uint("density", self.density, 32)
        if not isinstance(self.prices, tuple) or len(self.prices) > 0xFF:
            raise DownloadValueError("prices", self.prices, "must be a tuple of at most 255 prices")
        for price in self.prices:
            _check_uint("prices", price, 16)

    def _to_obj(self) -> dict[str, Any]:
        return {"nzn": self.nzn, "g_code": self.g_code, "density": self.density, "prices": list(self.prices)}

    @classmethod
    def _from_obj(cls, raw: Any) -> PriceRecord:
        return cls(raw.nzn, raw.g_code, raw.density, tuple(raw.prices))


@dataclass(frozen=True, slots=True)
class PriceTable:
    """CONTENT 4: the prices in force (`current`) and those taking effect at `effective` (`new`).

    The wire has one N for both halves, so they hold the same number of records."""

    version: int
    effective: dt.datetime
    current: tuple[PriceRecord, ...]
    new: tuple[PriceRecord, ...]

    def __post_init__(self) -> None:
        _check_uint("version", self.version, 8)
        _check_minute("effective", self.effective)
        for name in ("current", "new"):
            records = getattr(self, name)
            if not isinstance(records, tuple) or not all(isinstance(r, PriceRecord) for r in records):
                raise DownloadValueError(name, records, "must be a tuple of PriceRecord")
        if len(self.current) != len(self.new):
            raise DownloadValueError(
                "new", len(self.new), f"must hold as many records as current ({len(self.current)}): one N"
            )
        if len(self.current) > 0xFF:
            raise DownloadValueError("current", len(self.current), "at most 255 records")

    def build(self) -> bytes:
        return _build(
            PRICE_TABLE,
            {
                "version": self.version,
                "effective": self.effective,
                "current": [r._to_obj() for r in self.current],
                "new": [r._to_obj() for r in self.new],
            },
            "price table",
        )

    @classmethod
    def parse(cls, data: bytes) -> PriceTable:
        raw = _parse(PRICE_TABLE, PRICE_TABLE_STRUCT, data, "price table")
        return cls(
            raw.version,
            raw.effective,
            tuple(PriceRecord._from_obj(r) for r in raw.current),
            tuple(PriceRecord._from_obj(r) for r in raw.new),
        )


# --- station info ----------------------------------------------------------------------------------

STATION_INFO_STRUCT = c.Struct(
    "version" / c.Int8ub,
    "prov" / Bcd(1),
    "city" / Bcd(1),
    "superior" / Bcd(4),
    "s_id" / Bcd(4),
    "pos_p" / c.Int8ub,
    "nozzles" / c.PrefixedArray(c.Int8ub, c.Int8ub),
    c.Terminated,
)
STATION_INFO = STATION_INFO_STRUCT.compile()


@dataclass(frozen=True, slots=True)
class StationInfo:
    """CONTENT 5: who the station is and which logical nozzles (NZN) a dispenser at POS_P owns.

    BCD identifiers are digit strings, as in `protocol.messages.DispenserInfo`."""

    version: int
    prov: str
    city: str
    superior: str
    s_id: str
    pos_p: int
    nozzles: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        _check_uint("version", self.version, 8)
        _check_digits("prov", self.prov, 2)
        _check_digits("city", self.city, 2)
        _check_digits("superior", self.superior, 8)
        _check_digits("s_id", self.s_id, 8)
        _check_uint("pos_p", self.pos_p, 8)
        if not isinstance(self.nozzles, tuple) or len(self.nozzles) > 0xFF:
            raise DownloadValueError("nozzles", self.nozzles, "must be a tuple of at most 255 NZN")
        for nzn in self.nozzles:
            _check_uint("nozzles", nzn, 8)

    @property
    def province_code(self) -> int:
        """PROV as the raw byte (0x11 Beijing), the form the card's ASN carries it in."""
        return int(self.prov, 16)

    def build(self) -> bytes:
        return _build(
            STATION_INFO,
            {
                "version": self.version,
                "prov": self.prov,
                "city": self.city,
                "superior": self.superior,
                "s_id": self.s_id,
                "pos_p": self.pos_p,
                "nozzles": list(self.nozzles),
            },
            "station info",
        )

    @classmethod
    def parse(cls, data: bytes) -> StationInfo:
        raw = _parse(STATION_INFO, STATION_INFO_STRUCT, data, "station info")
        return cls(raw.version, raw.prov, raw.city, raw.superior, raw.s_id, raw.pos_p, tuple(raw.nozzles))


# --- segments --------------------------------------------------------------------------------------


def segment(data: bytes, offset_segments: int, count: int) -> bytes:
    """The DATA of a 0x34 answer: `count` 16-byte segments of `data` from segment `offset_segments`.

    Shorter at the end of the stream, empty past it. Raises `SegmentRequestError` when the request is
    outside S_OFFSET 0..0xFFFF or SEG 1..255."""
    if not (0 <= offset_segments <= MAX_SEGMENT_OFFSET and 1 <= count <= MAX_SEGMENTS_PER_REQUEST):
        raise SegmentRequestError(offset_segments, count)
    start = offset_segments * SEGMENT_LEN
    return bytes(data[start : start + count * SEGMENT_LEN])
