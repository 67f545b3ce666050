"""Message codec: DATA bytes <-> typed messages, through one declarative command table.

Layer: protocol (pure). `decode_message(data, direction)` and `encode_message(msg)` are the only
entry points; construct ends at this module's border. Every struct is compiled once at import.

Direction of a frame (`guess_direction`), used by `station decode` where the bytes alone are
ambiguous (0x30, 0x32, 0x33, 0x34, 0x35, 0x36):
1. a command defined in one direction only decides it ("command");
2. else CTRL b6 = 1 means the controller sent it ("ctrl_b6");
3. else SRC equal to the controller address (default 0xE0) means the controller ("src_address");
4. else the dispenser ("default");
and if the payload length fits only the other direction, that direction wins ("length"): fixed lengths
must match exactly, variable ones their minimum and step (`_VARIABLE_LENGTHS`).
"""

from __future__ import annotations

import dataclasses
import operator
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import construct as c

from protocol.errors import EncodeError, PayloadError, UnknownCommandError
from protocol.fields import Bcd, FixedBytes, Int24ub, LenientBcd, Time7
from protocol.frame import Frame
from protocol.messages import (
    CardInserted,
    DispenserInfo,
    DownloadInfo,
    DownloadStart,
    ErrorAck,
    ErrorInfo,
    Fuelling,
    GreyQuery,
    GreyReply,
    InfoRead,
    ListQuery,
    ListReply,
    Message,
    NoRecord,
    NozzleEntry,
    NozzleInfo,
    NozzleTotal,
    Poll,
    PollReply,
    RecordAck,
    RecordRead,
    RecordUpload,
    SegmentData,
    SegmentRequest,
    Totals,
    TotalsRead,
)
from protocol.messages import Direction as Direction
from protocol.record import RECORD_FIELDS, RECORD_LAYOUT, RECORD_LEN, RECORD_STRUCT, TransactionRecord

DEFAULT_CONTROLLER_ADDRESS = 0xE0
CARD_INSERTED_FIXED_LEN = 16  # ASN(10) + CARD_ST(2) + BAL(4), before IC_DATA

_EMPTY = c.Struct()

POLL_REPLY = c.Struct(
    "pc_time" / Time7,
    "bl_ver" / c.Int16ub,
    "add_bl_ver" / c.Int8ub,
    "del_bl_ver" / c.Int8ub,
    "wh_ver" / c.Int8ub,
    "prc_ver" / c.Int8ub,
    "sta_ver" / c.Int8ub,
    "self_d_ver" / c.Int8ub,
    "soft_flag" / c.Int8ub,
)

CARD_INSERTED = c.Struct(
    "nzn" / c.Int8ub,
    "length" / c.Int8ub,
    c.Check(c.this.length >= CARD_INSERTED_FIXED_LEN),
    "asn" / LenientBcd(10),
    "card_st" / c.Int16ub,
    "bal" / c.Int32ub,
    "ic_data" / FixedBytes(c.this.length - CARD_INSERTED_FIXED_LEN),
)
FUELLING = c.Struct(
    "nzn" / c.Int8ub,
    "p_unit" / c.Int8ub,
    "amn" / Int24ub,
    "vol" / Int24ub,
    "prc" / c.Int16ub,
)
NOZZLE_INFO = c.Struct(
    "n" / c.Int8ub,
    "entries"
    / c.Array(
        c.this.n,
        c.Struct(
            "st" / c.Int8ub,
            "body" / c.Switch(c.this.st, {1: CARD_INSERTED, 2: FUELLING}, default=c.Error),
        ),
    ),
)

RECORD_ACK = c.Struct("result" / c.Int8ub)
DOWNLOAD_START = c.Struct("content" / c.Int8ub, "ibl_ver" / c.Int16ub)
DOWNLOAD_INFO = c.Struct("total_len" / c.Int32ub, "content" / c.Int8ub)
SEGMENT_REQUEST = c.Struct("content" / c.Int8ub, "s_offset" / c.Int16ub, "seg" / c.Int8ub)
SEGMENT_DATA = c.Struct(
    "content" / c.Int8ub, "s_offset" / c.Int16ub, "seg" / c.Int8ub, "data" / c.GreedyBytes
)
GREY_QUERY = c.Struct(
    "asn" / LenientBcd(10), "bal" / c.Int32ub, "ctc" / c.Int16ub, "ds" / c.Int8ub, "time" / Time7
)
GREY_REPLY = c.Struct(
    "m_flag" / c.Int8ub,
    "asn" / LenientBcd(10),
    "bal" / c.Int32ub,
    "amn" / Int24ub,
    "ctc" / c.Int16ub,
    "ds" / c.Int8ub,
    "time" / Time7,
    "gmac" / c.Int32ub,
    "psam_tid" / FixedBytes(6),
    "psam_ttc" / c.Int32ub,
)
LIST_QUERY = c.Struct("asn" / LenientBcd(10))
LIST_REPLY = c.Struct("m_flag" / c.Int8ub, "asn" / LenientBcd(10))
TOTALS = c.Struct(
    "n" / c.Int8ub,
    "totals" / c.Array(c.this.n, c.Struct("nzn" / c.Int8ub, "v_tot" / c.Int32ub)),
)
DISPENSER_INFO = c.Struct(
    "m_info" / FixedBytes(12),
    "prov" / Bcd(1),
    "city" / Bcd(1),
    "superior" / Bcd(4),
    "s_id" / Bcd(4),
    "time" / Time7,
    "gun_n" / c.Int8ub,
    "nozzles" / c.Array(c.this.gun_n, c.Int8ub),
    "bl_ver" / c.Int16ub,
    "add_bl_ver" / c.Int8ub,
    "del_bl_ver" / c.Int8ub,
    "wh_ver" / c.Int8ub,
    "prc_ver" / c.Int8ub,
    "sta_ver" / c.Int8ub,
    "m_data" / c.GreedyBytes,
)
ERROR_INFO = c.Struct("info_type" / c.Int8ub, "data" / c.GreedyBytes)
ERROR_ACK = c.Struct("command" / c.Int8ub, "flag" / c.Int8ub)
POS_TTC = c.Struct("pos_ttc" / c.Int32ub)


def _plain(cls: type) -> tuple[Callable[[Any], Any], Callable[[Any], dict[str, Any]]]:
    names = tuple(f.name for f in dataclasses.fields(cls))

    def to_msg(obj: Any) -> Any:
        return cls(**{name: obj[name] for name in names})

    def to_dict(msg: Any) -> dict[str, Any]:
        return {name: getattr(msg, name) for name in names}

    return to_msg, to_dict


_record_values = operator.itemgetter(*RECORD_FIELDS)  # parsed Container -> tuple in field order
_record_attrs = operator.attrgetter(*RECORD_FIELDS)  # TransactionRecord -> tuple in field order


def _record_to_msg(obj: Any) -> RecordUpload:
    return RecordUpload(TransactionRecord(*_record_values(obj)))


def decode_record(raw: bytes) -> TransactionRecord:
    """A record's 95 bytes (as stored, as the centre sends them) → `TransactionRecord`; `PayloadError`."""
    if len(raw) != RECORD_LEN:
        raise PayloadError(f"a record is {RECORD_LEN} bytes, got {len(raw)}", raw)
    try:
        return TransactionRecord(*_record_values(RECORD_STRUCT.parse(raw)))
    except (c.ConstructError, struct.error, ValueError, TypeError, OverflowError) as exc:
        raise PayloadError(str(exc), raw) from exc


def _record_to_dict(msg: RecordUpload) -> dict[str, Any]:
    return dict(zip(RECORD_FIELDS, _record_attrs(msg.record), strict=True))


def _nozzle_to_msg(obj: Any) -> NozzleInfo:
    entries: list[NozzleEntry] = []
    for entry in obj.entries:
        body = entry.body
        if entry.st == CardInserted.ST:
            entries.append(CardInserted(body.nzn, body.asn, body.card_st, body.bal, body.ic_data))
        else:
            entries.append(Fuelling(body.nzn, body.p_unit, body.amn, body.vol, body.prc))
    return NozzleInfo(tuple(entries))


def _nozzle_to_dict(msg: NozzleInfo) -> dict[str, Any]:
    entries = []
    for entry in msg.entries:
        if isinstance(entry, CardInserted):
            body: dict[str, Any] = {
                "nzn": entry.nzn,
                "length": CARD_INSERTED_FIXED_LEN + len(entry.ic_data),
                "asn": entry.asn,
                "card_st": entry.card_st,
                "bal": entry.bal,
                "ic_data": entry.ic_data,
            }
        else:
            body = {
                "nzn": entry.nzn,
                "p_unit": entry.p_unit,
                "amn": entry.amn,
                "vol": entry.vol,
                "prc": entry.prc,
            }
        entries.append({"st": entry.ST, "body": body})
    return {"n": len(entries), "entries": entries}


def _totals_to_msg(obj: Any) -> Totals:
    return Totals(tuple(NozzleTotal(t.nzn, t.v_tot) for t in obj.totals))


def _totals_to_dict(msg: Totals) -> dict[str, Any]:
    return {"n": len(msg.totals), "totals": [{"nzn": t.nzn, "v_tot": t.v_tot} for t in msg.totals]}


def _info_to_msg(obj: Any) -> DispenserInfo:
    raw = obj.m_info
    try:
        text = raw.decode("gbk")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    names = [f.name for f in dataclasses.fields(DispenserInfo) if f.name not in ("m_info", "nozzles")]
    return DispenserInfo(m_info=text.rstrip(" "), nozzles=tuple(obj.nozzles), **{n: obj[n] for n in names})


def _info_to_dict(msg: DispenserInfo) -> dict[str, Any]:
    try:
        raw = msg.m_info.encode("gbk")
    except UnicodeEncodeError as exc:
        raise EncodeError(f"M_INFO {msg.m_info!r} is not GBK text") from exc
    if len(raw) > 12:
        raise EncodeError(f"M_INFO {msg.m_info!r} is longer than 12 bytes")
    out = {f.name: getattr(msg, f.name) for f in dataclasses.fields(DispenserInfo)}
    out.update(m_info=raw.ljust(12, b" "), gun_n=len(msg.nozzles), nozzles=list(msg.nozzles))
    return out


@dataclass(frozen=True, slots=True)
class CommandSpec:
    """One row of the command table."""

    cls: type
    struct: c.Construct
    to_msg: Callable[[Any], Any]
    to_dict: Callable[[Any], dict[str, Any]]
    length: int | None  # LEN of DATA (command byte included) when fixed


def _row(cls: type, struct: c.Construct, length: int | None, custom: Any = None) -> CommandSpec:
    to_msg, to_dict = custom if custom is not None else _plain(cls)
    compiled = c.Struct(*struct.subcons, c.Terminated).compile()
    return CommandSpec(cls, compiled, to_msg, to_dict, length)


COMMANDS: tuple[CommandSpec, ...] = (
    _row(Poll, _EMPTY, 1),
    _row(PollReply, POLL_REPLY, 17),
    _row(NozzleInfo, NOZZLE_INFO, None, (_nozzle_to_msg, _nozzle_to_dict)),
    _row(RecordUpload, RECORD_LAYOUT, 1 + RECORD_LEN, (_record_to_msg, _record_to_dict)),
    _row(RecordAck, RECORD_ACK, 2),
    _row(DownloadStart, DOWNLOAD_START, 4),
    _row(DownloadInfo, DOWNLOAD_INFO, 6),
    _row(SegmentRequest, SEGMENT_REQUEST, 5),
    _row(SegmentData, SEGMENT_DATA, None),
    _row(GreyQuery, GREY_QUERY, 25),
    _row(GreyReply, GREY_REPLY, 43),
    _row(ListQuery, LIST_QUERY, 11),
    _row(ListReply, LIST_REPLY, 12),
    _row(TotalsRead, _EMPTY, 1),
    _row(Totals, TOTALS, None, (_totals_to_msg, _totals_to_dict)),
    _row(InfoRead, _EMPTY, 1),
    _row(DispenserInfo, DISPENSER_INFO, None, (_info_to_msg, _info_to_dict)),
    _row(ErrorInfo, ERROR_INFO, None),
    _row(ErrorAck, ERROR_ACK, 3),
    _row(RecordRead, POS_TTC, 5),
    _row(NoRecord, POS_TTC, 5),
)

_BY_KEY: dict[tuple[int, Direction], CommandSpec] = {
    (spec.cls.COMMAND, spec.cls.DIRECTION): spec  # type: ignore[attr-defined]
    for spec in COMMANDS
}
_BY_CLASS: dict[type, CommandSpec] = {spec.cls: spec for spec in COMMANDS}


def known_directions(command: int) -> tuple[Direction, ...]:
    """The directions in which `command` is defined (empty for an unknown command)."""
    return tuple(d for d in (Direction.P, Direction.H) if (command, d) in _BY_KEY)


def decode_message(data: bytes, direction: Direction) -> Message:
    """Decode a frame's DATA (command byte first) sent in `direction`."""
    if not data:
        raise PayloadError("empty DATA", data)
    spec = _BY_KEY.get((data[0], direction))
    if spec is None:
        raise UnknownCommandError(
            f"command {data[0]:#04x} is not defined for direction {direction.value}", data
        )
    if spec.length is not None and len(data) != spec.length:
        raise PayloadError(
            f"command {data[0]:#04x} {direction.value} has LEN {spec.length}, frame carries {len(data)}", data
        )
    try:
        parsed = spec.struct.parse(data[1:]) if spec.length != 1 else None
        return spec.to_msg(parsed) if parsed is not None else spec.cls()  # type: ignore[no-any-return]
    except (c.ConstructError, struct.error, ValueError, TypeError, OverflowError) as exc:
        # struct.error: compiled FormatFields unpack short input with the bare `struct` module.
        raise PayloadError(f"command {data[0]:#04x} {direction.value}: {exc}", data) from exc


def encode_message(msg: Message) -> bytes:
    """DATA bytes of `msg`, command byte first."""
    spec = _BY_CLASS.get(type(msg))
    if spec is None:
        raise EncodeError(f"not a protocol message: {msg!r}")
    head = bytes((spec.cls.COMMAND,))  # type: ignore[attr-defined]
    if spec.length == 1:
        return head
    try:
        return head + spec.struct.build(spec.to_dict(msg))  # type: ignore[no-any-return]
    except (c.ConstructError, struct.error, ValueError, TypeError, OverflowError) as exc:
        # struct.error: compiled FormatFields pack out-of-range integers with the bare `struct` module.
        raise EncodeError(f"{type(msg).__name__}: {exc}") from exc


def guess_direction(
    frame: Frame, controller_address: int = DEFAULT_CONTROLLER_ADDRESS
) -> tuple[Direction, str]:
    """Which side sent `frame`, and the rule that decided it (see the module docstring)."""
    directions = known_directions(frame.command)
    if len(directions) == 1:
        return directions[0], "command"
    if frame.from_host:
        first, rule = Direction.H, "ctrl_b6"
    elif frame.src == controller_address:
        first, rule = Direction.H, "src_address"
    else:
        first, rule = Direction.P, "default"
    if directions:
        other = Direction.P if first is Direction.H else Direction.H
        fits_first = _length_fits(frame.command, first, len(frame.data))
        if not fits_first and _length_fits(frame.command, other, len(frame.data)):
            return other, "length"
    return first, rule


# LEN of the variable-length commands (command byte included): (minimum, step of the repeated part).
_VARIABLE_LENGTHS: dict[type, tuple[int, int]] = {
    NozzleInfo: (2, 1),  # 31 | N | sub-records of 11 or 19+ bytes
    SegmentData: (5, 1),  # 34 | CONTENT | S_OFFSET(2) | SEG | DATA
    Totals: (2, 5),  # 38 | N | N x (NZN | V_TOT(4))
    DispenserInfo: (38, 1),  # 3A | 37 fixed bytes with GUN_N = 0 | NZN x GUN_N | M_DATA
    ErrorInfo: (2, 1),  # 3B | INFO_TYPE | DATA
}


def _length_fits(command: int, direction: Direction, length: int) -> bool:
    spec = _BY_KEY.get((command, direction))
    if spec is None:
        return False
    if spec.length is not None:
        return spec.length == length
    minimum, step = _VARIABLE_LENGTHS[spec.cls]
    return length >= minimum and (length - minimum) % step == 0
