"""File layouts of the fuel / CNG card: issuer, holder, vehicle, limits, credit, log records, grey status.

Layer: protocol (pure). Each file is a frozen dataclass with `parse(raw)` (a `CardFileError` for bytes
that do not fit) and `encode()` (exactly the file's size). Money in fen, volume in 0.01 m³ / kg, dates
packed BCD YYYYMMDD (00000000 = none), text GBK padded with 00.

EF15 issuer file, SFI 0x15, 30 bytes::

    0 issuer id (8) | 8 app type | 9 app version | 10 ASN (10, BCD) | 20 valid from | 24 valid until
    | 28 issue state (00 blank, 01 issued) [P] | 29 card version

EF16 holder file, SFI 0x16, 41 bytes (CNG cards 44: the price level and the discount appended)::

    0 holder type (00 personal, 01 company, 02 anonymous) | 1 staff flag | 2 name (20, GBK)
    | 22 id number (18, ASCII) | 40 id type (00 ID card ...) || 41 price level | 42 discount (2, 0.01 %)

EF0D CNG vehicle file, SFI 0x0D, 40 bytes [P past offset 20]::

    0 cylinder valid until (BCD) | 4 plate (16, GBK) | 20 cylinder id (16, ASCII)
    | 36 vehicle class (0 private, 1 taxi, 2 bus, 3 fleet, 4 other) | 37 consumption mode | 38 RFU (2)

EF1C limits file, SFI 0x1C, 32 bytes [P]::

    0 product code (2, BCD, 0000 any) | 2 province (00 any) | 3 plate (16, GBK, empty any)
    | 19 fixed station id (4, 0 any) | 23 fills per day (0 none) | 24 max per sale (4) | 28 max per day (4)

EF1B credit file, SFI 0x1B, 16 bytes [P] (credit consumption modes)::

    0 credit line (4) | 4 last clearing date (BCD) | 8 last clearing amount (4) | 12 RFU (4)

EF18 log record, SFI 0x18, 23 bytes (PBOC), newest first::

    0 counter (2) | 2 overdraft limit (3) | 5 amount (4) | 9 type | 10 terminal id (6) | 16 date | 20 time

Grey status, the answer of E0 CA 00 00, 30 bytes (positions 0, 9..14 and 26..29 fixed by the spec, the
rest [P])::

    0 status (00 normal, 01 grey, 10 TAC unread) | 1 type | 2 balance at lock (4) | 6 offline counter
    at lock (2) | 8 key index | 9 locking terminal (6) | 15 terminal serial (4) | 19 date (4) | 23 time (3)
    | 26 GTAC (4)
"""

from __future__ import annotations

import datetime as dt
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import ClassVar, Self, TypeVar

from protocol.card.errors import CardFileError

ASN_LEN = 10
TERMINAL_LEN = 6
MAX_MONEY = 0xFFFFFFFF
_E = TypeVar("_E", bound=IntEnum)


class TxType(IntEnum):
    """Transaction types of the log and the MACs (PBOC, fuel-card grey types [P])."""

    ED_LOAD = 0x01
    EP_LOAD = 0x02
    ED_PURCHASE = 0x05
    EP_PURCHASE = 0x06
    GREY_LOCK = 0x91
    GREY_UNLOCK = 0x92
    ONLINE_UNLOCK = 0x93


class GreyState(IntEnum):
    NORMAL = 0x00
    GREY = 0x01
    TAC_UNREAD = 0x10


class IssueState(IntEnum):
    BLANK = 0x00
    ISSUED = 0x01


# ----------------------------------------------------------------------------------- field helpers


def bcd_date(raw: bytes, file: str, what: str) -> dt.date | None:
    digits = raw.hex()
    if digits == "00000000":
        return None
    if not digits.isdigit():
        raise CardFileError(file, f"{what} is not BCD", raw)
    try:
        return dt.date(int(digits[0:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError as exc:
        raise CardFileError(file, f"{what} {digits} is not a date", raw) from exc


def date_bcd(value: dt.date | None) -> bytes:
    if value is None:
        return bytes(4)
    return bytes.fromhex(f"{value.year:04d}{value.month:02d}{value.day:02d}")


def bcd_time(raw: bytes, file: str) -> dt.time | None:
    digits = raw.hex()
    if not digits.isdigit():
        raise CardFileError(file, "time is not BCD", raw)
    try:
        return dt.time(int(digits[0:2]), int(digits[2:4]), int(digits[4:6]))
    except ValueError as exc:
        raise CardFileError(file, f"time {digits} is not a time", raw) from exc


def time_bcd(value: dt.time) -> bytes:
    return bytes.fromhex(f"{value.hour:02d}{value.minute:02d}{value.second:02d}")


def stamp_bcd(when: dt.datetime) -> bytes:
    """Date (4) || time (3), packed BCD: the 7 bytes every MAC and log record carries."""
    return date_bcd(when.date()) + time_bcd(when.time())


def asn_digits(raw: bytes, file: str = "ASN") -> str:
    digits = raw.hex()
    if len(raw) != ASN_LEN or not digits.isdigit():
        raise CardFileError(file, "ASN is not 10 bytes of BCD", raw)
    return digits


def asn_bytes(asn: str) -> bytes:
    if len(asn) != 2 * ASN_LEN or not asn.isascii() or not asn.isdigit():
        raise ValueError(f"ASN must be {2 * ASN_LEN} digits, got {asn!r}")
    return bytes.fromhex(asn)


def gbk_text(raw: bytes, file: str, what: str) -> str:
    try:
        return raw.rstrip(b"\x00").decode("gbk").rstrip()
    except UnicodeDecodeError as exc:
        raise CardFileError(file, f"{what} is not GBK text", raw) from exc


def text_gbk(text: str, size: int, what: str) -> bytes:
    raw = text.encode("gbk")
    if len(raw) > size:
        raise ValueError(f"{what} {text!r} is longer than {size} bytes in GBK")
    return raw + bytes(size - len(raw))


def ascii_text(raw: bytes, file: str, what: str) -> str:
    body = raw.rstrip(b"\x00").rstrip(b" ")
    if not all(0x20 <= b < 0x7F for b in body):
        raise CardFileError(file, f"{what} is not printable ASCII", raw)
    return body.decode("ascii")


def text_ascii(text: str, size: int, what: str) -> bytes:
    if not text.isascii() or not text.isprintable():
        raise ValueError(f"{what} {text!r} is not printable ASCII")
    raw = text.encode("ascii")
    if len(raw) > size:
        raise ValueError(f"{what} {text!r} is longer than {size} bytes")
    return raw + bytes(size - len(raw))


def _need(file: str, raw: bytes, sizes: tuple[int, ...]) -> None:
    if len(raw) not in sizes:
        wanted = " or ".join(str(s) for s in sizes)
        raise CardFileError(file, f"{len(raw)} bytes, expected {wanted}", raw)


def _enum(cls: type[_E], value: int, file: str, what: str, raw: bytes) -> _E:
    try:
        return cls(value)
    except ValueError as exc:
        raise CardFileError(file, f"unknown {what} {value:02X}", raw) from exc


# ----------------------------------------------------------------------------------------- files


class _Layout:
    """`parse` of every file: a field's error re-raised with the whole file's bytes attached."""

    __slots__ = ()
    NAME: ClassVar[str]

    @classmethod
    def _parse(cls, raw: bytes) -> Self:
        raise NotImplementedError

    @classmethod
    def parse(cls, raw: bytes) -> Self:
        try:
            return cls._parse(raw)
        except CardFileError as exc:
            if exc.raw == raw:
                raise
            raise CardFileError(cls.NAME, exc.detail, raw) from exc


@dataclass(frozen=True, slots=True)
class IssuerFile(_Layout):
    """EF15: who issued the card, its number (ASN) and validity."""

    asn: str
    valid_from: dt.date | None
    valid_until: dt.date | None
    issuer_id: bytes = bytes(8)
    app_type: int = 0x03
    app_version: int = 0x01
    issue_state: IssueState = IssueState.ISSUED
    card_version: int = 0x01

    SFI = 0x15
    SIZE = 30
    NAME = "EF15"

    @property
    def kind_code(self) -> str:
        """ASN byte 2 as two digits: 01 user, 04 employee, 05 maintenance, 06 pump verification."""
        return self.asn[4:6]

    @property
    def province(self) -> int:
        raw = bytes.fromhex(self.asn)
        return ((raw[3] & 0x0F) << 4) | (raw[4] >> 4)

    @classmethod
    def _parse(cls, raw: bytes) -> IssuerFile:
        _need(cls.NAME, raw, (cls.SIZE,))
        return cls(
            issuer_id=raw[0:8],
            app_type=raw[8],
            app_version=raw[9],
            asn=asn_digits(raw[10:20], cls.NAME),
            valid_from=bcd_date(raw[20:24], cls.NAME, "valid-from date"),
            valid_until=bcd_date(raw[24:28], cls.NAME, "valid-until date"),
            issue_state=_enum(IssueState, raw[28], cls.NAME, "issue state", raw),
            card_version=raw[29],
        )

    def encode(self) -> bytes:
        if len(self.issuer_id) != 8:
            raise ValueError("issuer id must be 8 bytes")
        return (
            self.issuer_id
            + bytes((self.app_type, self.app_version))
            + asn_bytes(self.asn)
            + date_bcd(self.valid_from)
            + date_bcd(self.valid_until)
            + bytes((int(self.issue_state), self.card_version))
        )


@dataclass(frozen=True, slots=True)
class HolderFile(_Layout):
    """EF16: the holder; CNG cards carry the price level and the discount too."""

    name: str = ""
    id_number: str = ""
    holder_type: int = 0
    staff: bool = False
    id_type: int = 0
    price_level: int | None = None
    discount_bp: int = 0  # discount in 0.01 %, CNG cards only

    SFI = 0x16
    SIZE = 41
    CNG_SIZE = 44
    NAME = "EF16"

    @classmethod
    def _parse(cls, raw: bytes) -> HolderFile:
        _need(cls.NAME, raw, (cls.SIZE, cls.CNG_SIZE))
        level: int | None = None
        discount = 0
        if len(raw) == cls.CNG_SIZE:
            level = raw[41]
            if level > 2:
                raise CardFileError(cls.NAME, f"price level {level} is not 0..2", raw)
            discount = int.from_bytes(raw[42:44], "big")
            if discount > 10000:
                raise CardFileError(cls.NAME, f"discount {discount} is over 100 %", raw)
        return cls(
            holder_type=raw[0],
            staff=raw[1] == 1,
            name=gbk_text(raw[2:22], cls.NAME, "holder name"),
            id_number=ascii_text(raw[22:40], cls.NAME, "id number"),
            id_type=raw[40],
            price_level=level,
            discount_bp=discount,
        )

    def encode(self) -> bytes:
        body = (
            bytes((self.holder_type, 1 if self.staff else 0))
            + text_gbk(self.name, 20, "holder name")
            + text_ascii(self.id_number, 18, "id number")
            + bytes((self.id_type,))
        )
        if self.price_level is None:
            return body
        if not 0 <= self.price_level <= 2 or not 0 <= self.discount_bp <= 10000:
            raise ValueError("price level 0..2 and discount 0..10000 (0.01 %)")
        return body + bytes((self.price_level,)) + self.discount_bp.to_bytes(2, "big")


@dataclass(frozen=True, slots=True)
class VehicleFile(_Layout):
    """EF0D: the CNG vehicle: cylinder inspection valid-until, plate, cylinder, class, consumption mode."""

    cylinder_valid_until: dt.date | None
    plate: str = ""
    cylinder_id: str = ""
    vehicle_class: int = 0
    consumption_mode: int = 0  # protocol.cng.ConsumptionMode values

    SFI = 0x0D
    SIZE = 40
    NAME = "EF0D"

    @classmethod
    def _parse(cls, raw: bytes) -> VehicleFile:
        _need(cls.NAME, raw, (cls.SIZE,))
        if raw[36] > 4:
            raise CardFileError(cls.NAME, f"vehicle class {raw[36]} is not 0..4", raw)
        if raw[37] > 3:
            raise CardFileError(cls.NAME, f"consumption mode {raw[37]} is not 0..3", raw)
        return cls(
            cylinder_valid_until=bcd_date(raw[0:4], cls.NAME, "cylinder valid-until date"),
            plate=gbk_text(raw[4:20], cls.NAME, "plate"),
            cylinder_id=ascii_text(raw[20:36], cls.NAME, "cylinder id"),
            vehicle_class=raw[36],
            consumption_mode=raw[37],
        )

    def encode(self) -> bytes:
        if not 0 <= self.vehicle_class <= 4 or not 0 <= self.consumption_mode <= 3:
            raise ValueError("vehicle class 0..4, consumption mode 0..3")
        return (
            date_bcd(self.cylinder_valid_until)
            + text_gbk(self.plate, 16, "plate")
            + text_ascii(self.cylinder_id, 16, "cylinder id")
            + bytes((self.vehicle_class, self.consumption_mode, 0, 0))
        )


@dataclass(frozen=True, slots=True)
class LimitsFile(_Layout):
    """EF1C: restrictions and caps (0 / empty = none)."""

    product_code: str = "0000"
    province: int = 0
    plate: str = ""
    fixed_station: int = 0
    fills_per_day: int = 0
    max_per_sale: int = 0
    max_per_day: int = 0

    SFI = 0x1C
    SIZE = 32
    NAME = "EF1C"

    @classmethod
    def _parse(cls, raw: bytes) -> LimitsFile:
        _need(cls.NAME, raw, (cls.SIZE,))
        product = raw[0:2].hex()
        if not product.isdigit():
            raise CardFileError(cls.NAME, "product code is not BCD", raw)
        station, per_sale, per_day = struct.unpack(">III", raw[19:23] + raw[24:32])
        return cls(
            product_code=product,
            province=raw[2],
            plate=gbk_text(raw[3:19], cls.NAME, "restricted plate"),
            fixed_station=station,
            fills_per_day=raw[23],
            max_per_sale=per_sale,
            max_per_day=per_day,
        )

    def encode(self) -> bytes:
        if len(self.product_code) != 4 or not self.product_code.isdigit():
            raise ValueError(f"product code must be 4 digits, got {self.product_code!r}")
        return (
            bytes.fromhex(self.product_code)
            + bytes((self.province,))
            + text_gbk(self.plate, 16, "restricted plate")
            + struct.pack(">IB", self.fixed_station, self.fills_per_day)
            + struct.pack(">II", self.max_per_sale, self.max_per_day)
        )


@dataclass(frozen=True, slots=True)
class CreditFile(_Layout):
    """EF1B: the credit line of a credit-mode card and its last clearing."""

    credit_line: int = 0
    last_cleared: dt.date | None = None
    last_cleared_amount: int = 0

    SFI = 0x1B
    SIZE = 16
    NAME = "EF1B"

    @classmethod
    def _parse(cls, raw: bytes) -> CreditFile:
        _need(cls.NAME, raw, (cls.SIZE,))
        return cls(
            credit_line=int.from_bytes(raw[0:4], "big"),
            last_cleared=bcd_date(raw[4:8], cls.NAME, "clearing date"),
            last_cleared_amount=int.from_bytes(raw[8:12], "big"),
        )

    def encode(self) -> bytes:
        return (
            self.credit_line.to_bytes(4, "big")
            + date_bcd(self.last_cleared)
            + self.last_cleared_amount.to_bytes(4, "big")
            + bytes(4)
        )


@dataclass(frozen=True, slots=True)
class LogRecord(_Layout):
    """One EF18 record: a transaction the card made."""

    counter: int
    amount: int
    tx_type: int
    terminal_id: bytes
    when: dt.datetime
    overdraft_limit: int = 0

    SFI = 0x18
    SIZE = 23
    NAME = "EF18"
    RECORDS = 10

    @classmethod
    def _parse(cls, raw: bytes) -> LogRecord:
        _need(cls.NAME, raw, (cls.SIZE,))
        date = bcd_date(raw[16:20], cls.NAME, "date")
        time = bcd_time(raw[20:23], cls.NAME)
        if date is None or time is None:
            raise CardFileError(cls.NAME, "record without a date", raw)
        return cls(
            counter=int.from_bytes(raw[0:2], "big"),
            overdraft_limit=int.from_bytes(raw[2:5], "big"),
            amount=int.from_bytes(raw[5:9], "big"),
            tx_type=raw[9],
            terminal_id=raw[10:16],
            when=dt.datetime.combine(date, time),
        )

    def encode(self) -> bytes:
        return (
            self.counter.to_bytes(2, "big")
            + self.overdraft_limit.to_bytes(3, "big")
            + self.amount.to_bytes(4, "big")
            + bytes((self.tx_type,))
            + self.terminal_id
            + stamp_bcd(self.when)
        )

    @staticmethod
    def is_empty(raw: bytes) -> bool:
        """An unused record slot (all 00 or all FF)."""
        return raw in (bytes(len(raw)), b"\xff" * len(raw))


@dataclass(frozen=True, slots=True)
class GreyStatus(_Layout):
    """The card's grey-lock state (E0 CA): where and when it was locked, and the lock's GTAC."""

    state: GreyState
    tx_type: int = 0
    balance: int = 0
    offline_counter: int = 0
    key_index: int = 0
    terminal_id: bytes = bytes(TERMINAL_LEN)
    terminal_serial: int = 0
    locked_at: dt.datetime | None = None
    gtac: bytes = bytes(4)

    SIZE = 30
    NAME = "grey status"

    @property
    def is_grey(self) -> bool:
        return self.state is GreyState.GREY

    @classmethod
    def _parse(cls, raw: bytes) -> GreyStatus:
        _need(cls.NAME, raw, (cls.SIZE,))
        state = _enum(GreyState, raw[0], cls.NAME, "grey state", raw)
        locked_at: dt.datetime | None = None
        if raw[19:26] != bytes(7):
            date = bcd_date(raw[19:23], cls.NAME, "lock date")
            time = bcd_time(raw[23:26], cls.NAME)
            if date is None or time is None:
                raise CardFileError(cls.NAME, "lock time without a date", raw)
            locked_at = dt.datetime.combine(date, time)
        if state is GreyState.GREY and locked_at is None:
            raise CardFileError(cls.NAME, "grey without a lock time", raw)
        return cls(
            state=state,
            tx_type=raw[1],
            balance=int.from_bytes(raw[2:6], "big"),
            offline_counter=int.from_bytes(raw[6:8], "big"),
            key_index=raw[8],
            terminal_id=raw[9:15],
            terminal_serial=int.from_bytes(raw[15:19], "big"),
            locked_at=locked_at,
            gtac=raw[26:30],
        )

    def encode(self) -> bytes:
        stamp = bytes(7) if self.locked_at is None else stamp_bcd(self.locked_at)
        return (
            bytes((int(self.state), self.tx_type))
            + self.balance.to_bytes(4, "big")
            + self.offline_counter.to_bytes(2, "big")
            + bytes((self.key_index,))
            + self.terminal_id
            + self.terminal_serial.to_bytes(4, "big")
            + stamp
            + self.gtac
        )
