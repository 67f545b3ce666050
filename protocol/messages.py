"""Typed, frozen messages: one dataclass per command and direction.

Layer: protocol (pure). Field names follow the spec in lower case; amounts, volumes and prices are
integers in the wire's units; BCD identifiers (ASN, G_CODE, PROV …) are digit strings; times are
naive datetimes in station local time. `COMMAND` and `DIRECTION` are class-level constants; the
codec's table (`protocol.codec`) maps each class to its construct struct.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import Enum, StrEnum
from typing import ClassVar

from protocol.record import TransactionRecord


class Direction(StrEnum):
    """Who sent a frame: P = dispenser (pump) → controller, H = controller (host) → dispenser."""

    P = "P"
    H = "H"


class Content(int, Enum):
    """CONTENT of 0x33 / 0x34: which downloadable file."""

    BASE_BLACKLIST = 0
    ADDED_BLACKLIST = 1
    DELETED_BLACKLIST = 2
    WHITE_LIST = 3
    PRICE_TABLE = 4
    STATION_INFO = 5
    PRIVATE_DATA = 6
    PROGRAM = 7


# --- 0x30 -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Poll:
    """0x30 P: the dispenser's poll / handshake."""

    COMMAND: ClassVar[int] = 0x30
    DIRECTION: ClassVar[Direction] = Direction.P


@dataclass(frozen=True, slots=True)
class PollReply:
    """0x30 H: controller time and the versions of everything a dispenser may download."""

    COMMAND: ClassVar[int] = 0x30
    DIRECTION: ClassVar[Direction] = Direction.H
    pc_time: dt.datetime
    bl_ver: int = 0
    add_bl_ver: int = 0
    del_bl_ver: int = 0
    wh_ver: int = 0
    prc_ver: int = 0
    sta_ver: int = 0
    self_d_ver: int = 0
    soft_flag: int = 0


# --- 0x31 -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CardInserted:
    """0x31 sub-record ST=1: a card is in the nozzle's reader."""

    ST: ClassVar[int] = 1
    nzn: int
    asn: str
    card_st: int
    bal: int
    ic_data: bytes = b""


@dataclass(frozen=True, slots=True)
class Fuelling:
    """0x31 sub-record ST=2: nozzle up or fuelling, with the running figures."""

    ST: ClassVar[int] = 2
    nzn: int
    p_unit: int
    amn: int
    vol: int
    prc: int


NozzleEntry = CardInserted | Fuelling


@dataclass(frozen=True, slots=True)
class NozzleInfo:
    """0x31 P: real-time nozzle information; no entries means nothing to report (idle)."""

    COMMAND: ClassVar[int] = 0x31
    DIRECTION: ClassVar[Direction] = Direction.P
    entries: tuple[NozzleEntry, ...] = ()


# --- 0x32 -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordUpload:
    """0x32 P: one transaction record (95 bytes)."""

    COMMAND: ClassVar[int] = 0x32
    DIRECTION: ClassVar[Direction] = Direction.P
    record: TransactionRecord


ACK_ACCEPTED = 0
ACK_TMAC_ERROR = 1


@dataclass(frozen=True, slots=True)
class RecordAck:
    """0x32 H: the only acknowledgement of a record; RESULT b0 = 1 reports a T_MAC error."""

    COMMAND: ClassVar[int] = 0x32
    DIRECTION: ClassVar[Direction] = Direction.H
    result: int = ACK_ACCEPTED


# --- 0x33 / 0x34 downloads ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DownloadStart:
    """0x33 P: the dispenser starts downloading CONTENT; IBL_VER is the version it wants."""

    COMMAND: ClassVar[int] = 0x33
    DIRECTION: ClassVar[Direction] = Direction.P
    content: int
    ibl_ver: int


@dataclass(frozen=True, slots=True)
class DownloadInfo:
    """0x33 H: the total length of CONTENT (0 = valid and empty)."""

    COMMAND: ClassVar[int] = 0x33
    DIRECTION: ClassVar[Direction] = Direction.H
    total_len: int
    content: int


@dataclass(frozen=True, slots=True)
class SegmentRequest:
    """0x34 P: SEG 16-byte segments of CONTENT wanted from S_OFFSET (in segments)."""

    COMMAND: ClassVar[int] = 0x34
    DIRECTION: ClassVar[Direction] = Direction.P
    content: int
    s_offset: int
    seg: int


@dataclass(frozen=True, slots=True)
class SegmentData:
    """0x34 H: the segments; DATA is shorter than SEG × 16 only at the end of the file."""

    COMMAND: ClassVar[int] = 0x34
    DIRECTION: ClassVar[Direction] = Direction.H
    content: int
    s_offset: int
    seg: int
    data: bytes = b""


# --- 0x35 grey records ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GreyQuery:
    """0x35 P: "do you hold the grey record of this card?"."""

    COMMAND: ClassVar[int] = 0x35
    DIRECTION: ClassVar[Direction] = Direction.P
    asn: str
    bal: int
    ctc: int
    ds: int
    time: dt.datetime


GREY_FOUND = 0
GREY_NOT_FOUND = 1


@dataclass(frozen=True, slots=True)
class GreyReply:
    """0x35 H: the grey record's amount and cryptograms (M_FLAG b0: 0 found, 1 not found)."""

    COMMAND: ClassVar[int] = 0x35
    DIRECTION: ClassVar[Direction] = Direction.H
    m_flag: int
    asn: str
    bal: int
    amn: int
    ctc: int
    ds: int
    time: dt.datetime
    gmac: int = 0
    psam_tid: bytes = bytes(6)
    psam_ttc: int = 0


# --- 0x36 list query ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ListQuery:
    """0x36 P: is this card on the black (user card) or white (internal card) list?"""

    COMMAND: ClassVar[int] = 0x36
    DIRECTION: ClassVar[Direction] = Direction.P
    asn: str


@dataclass(frozen=True, slots=True)
class ListReply:
    """0x36 H: M_FLAG b0 0 = matched, 1 = not matched; b7..b1 a project reason code (B6)."""

    COMMAND: ClassVar[int] = 0x36
    DIRECTION: ClassVar[Direction] = Direction.H
    m_flag: int
    asn: str


# --- 0x38 totals ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TotalsRead:
    """0x38 H: read the nozzle volume totals."""

    COMMAND: ClassVar[int] = 0x38
    DIRECTION: ClassVar[Direction] = Direction.H


@dataclass(frozen=True, slots=True)
class NozzleTotal:
    nzn: int
    v_tot: int


@dataclass(frozen=True, slots=True)
class Totals:
    """0x38 P: volume total per nozzle, 0.01 L."""

    COMMAND: ClassVar[int] = 0x38
    DIRECTION: ClassVar[Direction] = Direction.P
    totals: tuple[NozzleTotal, ...] = ()


# --- 0x3A dispenser info --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InfoRead:
    """0x3A H: read the dispenser's information."""

    COMMAND: ClassVar[int] = 0x3A
    DIRECTION: ClassVar[Direction] = Direction.H


@dataclass(frozen=True, slots=True)
class DispenserInfo:
    """0x3A P: vendor text, station identity, nozzles and the versions the dispenser holds."""

    COMMAND: ClassVar[int] = 0x3A
    DIRECTION: ClassVar[Direction] = Direction.P
    m_info: str
    prov: str
    city: str
    superior: str
    s_id: str
    time: dt.datetime
    nozzles: tuple[int, ...] = ()
    bl_ver: int = 0
    add_bl_ver: int = 0
    del_bl_ver: int = 0
    wh_ver: int = 0
    prc_ver: int = 0
    sta_ver: int = 0
    m_data: bytes = b""


# --- 0x3B / 0x3C errors ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """0x3B P: internal error information (INFO_TYPE b0: 0 text, 1 coded)."""

    COMMAND: ClassVar[int] = 0x3B
    DIRECTION: ClassVar[Direction] = Direction.P
    info_type: int
    data: bytes = b""

    @property
    def text(self) -> str:
        return self.data.decode("gbk", errors="replace").rstrip("\x00 ")


@dataclass(frozen=True, slots=True)
class ErrorAck:
    """0x3C H: acknowledges a 0x3B (FLAG b0: 0 ok)."""

    COMMAND: ClassVar[int] = 0x3C
    DIRECTION: ClassVar[Direction] = Direction.H
    command: int = 0x3B
    flag: int = 0


# --- 0x3E / 0x3F record read ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RecordRead:
    """0x3E H: send me the record with this POS_TTC (answered by 0x32 P or 0x3F P)."""

    COMMAND: ClassVar[int] = 0x3E
    DIRECTION: ClassVar[Direction] = Direction.H
    pos_ttc: int


@dataclass(frozen=True, slots=True)
class NoRecord:
    """0x3F P: the dispenser holds no record with that POS_TTC."""

    COMMAND: ClassVar[int] = 0x3F
    DIRECTION: ClassVar[Direction] = Direction.P
    pos_ttc: int


Message = (
    Poll
    | PollReply
    | NozzleInfo
    | RecordUpload
    | RecordAck
    | DownloadStart
    | DownloadInfo
    | SegmentRequest
    | SegmentData
    | GreyQuery
    | GreyReply
    | ListQuery
    | ListReply
    | TotalsRead
    | Totals
    | InfoRead
    | DispenserInfo
    | ErrorInfo
    | ErrorAck
    | RecordRead
    | NoRecord
)

__all__ = ["Message", "NozzleEntry"]
