"""Shared material for the protocol tests: the spec's Part C vectors and hypothesis strategies.

Strategies exist for every message class in `protocol.codec.COMMANDS` (`MESSAGES`); a test checks that
the two sets agree, so a new command cannot be added without its round-trip property.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from protocol.codec import DEFAULT_CONTROLLER_ADDRESS, decode_message, encode_message, guess_direction
from protocol.errors import FrameError
from protocol.fields import digits_to_datetime
from protocol.frame import SOF, Frame
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
    NoRecord,
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
from protocol.reader import FrameReader
from protocol.record import TransactionRecord

SPEC = Path(__file__).resolve().parent / "vectors" / "dispenser-protocol-part-c.md"
"""Part C of the protocol specification, copied into the repository (its source is noted at its top)."""


def _hex(text: str) -> bytes:
    return bytes.fromhex(text)


# Part C, copied from the spec (a test checks they appear verbatim in the copy of Part C, `SPEC`).
VECTOR_TEXT: dict[int, str] = {
    1: "FA C0 00 31 00 01 30 78 1E",
    2: "FA E0 FF 00 00 01 30 F0 03",
    3: "FA 00 00 44 00 06 33 00 00 00 58 04 C3 5A",
    4: "FA E2 FF 18 00 04 33 04 12 34 93 B5",
    5: "FA E2 FF 18 00 05 34 04 12 34 24 BD E6",
    6: "FA E2 FF 4B 00 06 33 00 00 00 00 04 7B 49",
    7: "FA E2 FF 4B 00 17 34 04 FF FD 63 01 02 03 04 05 06 07 08 09 0A 0B 0C DF 8D",
    9: "FA E2 FF 18 00 88 31 04 01 12 16 12 34 56 78 90 12 34 56 78 90 44 55 99 22 11 33 96 54 32 11 "
    "22 33 02 08 01 22 33 44 55 66 77 89 07 01 12 16 12 34 56 78 90 12 34 56 78 90 44 55 99 22 11 33 "
    "96 54 32 11 22 33 01 12 16 12 34 56 78 90 12 34 56 78 90 44 55 99 22 11 33 96 54 32 11 22 33 E0 A9",
    10: "FA E2 FF 1A 00 96 32 12 34 56 78 00 20 17 02 23 00 00 00 98 76 54 32 10 98 76 54 32 10 56 77 "
    "88 90 01 22 33 95 87 44 44 88 88 55 55 11 11 66 66 22 22 01 23 45 67 89 01 23 45 67 89 12 34 56 "
    "12 34 56 22 33 33 11 00 00 00 12 09 01 02 01 02 03 02 02 09 12 34 88 99 00 00 00 00 00 00 00 00 "
    "00 00 00 12 34 56 78 37 55",
    11: "FA 00 E0 48 00 17 30 20 13 11 17 07 06 00 01 F4 58 4D 42 37 2C 00 00 8A 5F",
    12: "FA 00 E0 2A 00 02 32 00 06 BB",
    13: "FA E0 00 05 00 02 31 00 9E 99",
}
# Vector 8 is given in words: a head, 24 ASN entries ending in BCD 13..36, and the CRC.
VECTOR_8_HEAD = "FA 00 00 47 02 45 34 03 00 3D 0F"
VECTOR_8_ENTRY = "01 00 04 11 10 01 00 00 01"
VECTOR_8_CRC = "C3 D1"
VECTOR_8_ASNS = tuple(f"010004111001000001{n:02d}" for n in range(13, 37))

VECTORS: dict[int, bytes] = {n: _hex(text) for n, text in VECTOR_TEXT.items()}
VECTORS[8] = _hex(VECTOR_8_HEAD) + b"".join(bytes.fromhex(asn) for asn in VECTOR_8_ASNS) + _hex(VECTOR_8_CRC)


def read_all(
    stream: bytes,
    chunks: Iterable[int] | None = None,
    on_error: Callable[[FrameError], None] | None = None,
) -> tuple[list[Frame], FrameReader]:
    """Feed `stream` to a fresh reader (whole, or in chunks of the given sizes) and collect frames."""
    reader = FrameReader(on_error)
    frames: list[Frame] = []
    pos = 0
    for size in chunks or ():
        frames.extend(reader.feed(stream[pos : pos + size]))
        pos += size
    frames.extend(reader.feed(stream[pos:]))
    return frames, reader


def decode_vector(number: int) -> tuple[Frame, Any, str]:
    """Read vector `number` through `FrameReader`, guess its direction and decode it."""
    frames, reader = read_all(VECTORS[number])
    assert len(frames) == 1, frames
    assert reader.pending == 0
    direction, rule = guess_direction(frames[0], DEFAULT_CONTROLLER_ADDRESS)
    return frames[0], decode_message(frames[0].data, direction), rule


# --- strategies -----------------------------------------------------------------------------------

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u24 = st.integers(0, 0xFFFFFF)
u32 = st.integers(0, 0xFFFFFFFF)
header_byte = st.integers(0, 0xFF).filter(lambda b: b != SOF)

times = st.datetimes(min_value=dt.datetime(1000, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59, 59)).map(
    lambda t: t.replace(microsecond=0)
)


def digits(n_bytes: int) -> st.SearchStrategy[str]:
    """A BCD field of `n_bytes` bytes: 2 * n_bytes decimal digits."""
    return st.text("0123456789", min_size=2 * n_bytes, max_size=2 * n_bytes)


def lenient_digits(n_bytes: int) -> st.SearchStrategy[str]:
    """A lenient BCD field: mostly decimal digits, sometimes filler nibbles (upper-case hex)."""
    return st.one_of(digits(n_bytes), st.text("0123456789ABCDEF", min_size=2 * n_bytes, max_size=2 * n_bytes))


def _not_a_time(text: str) -> bool:
    try:
        digits_to_datetime(text)
    except ValueError:
        return True
    return False


# A record keeps a TIME that is not a valid time as its 14 raw digits.
record_times = st.one_of(times, st.text("0123456789ABCDEF", min_size=14, max_size=14).filter(_not_a_time))


def raw(n: int) -> st.SearchStrategy[bytes]:
    return st.binary(min_size=n, max_size=n)


records = st.builds(
    TransactionRecord,
    pos_ttc=u32,
    t_type=u8,
    time=record_times,
    asn=lenient_digits(10),
    bal=u32,
    amn=u24,
    ctc=u16,
    tac=u32,
    gmac=u32,
    psam_tac=u32,
    psam_asn=lenient_digits(10),
    psam_tid=raw(6),
    psam_ttc=u32,
    ds=u8,
    unit=u8,
    c_type=u8,
    ver=u8,
    nzn=u8,
    g_code=lenient_digits(2),
    vol=u24,
    prc=u16,
    emp=u8,
    v_tot=u32,
    rfu=raw(11),
    t_mac=u32,
)

card_inserted = st.builds(
    CardInserted,
    nzn=u8,
    asn=lenient_digits(10),
    card_st=u16,
    bal=u32,
    ic_data=st.binary(max_size=255 - 16),
)
fuelling = st.builds(Fuelling, nzn=u8, p_unit=u8, amn=u24, vol=u24, prc=u16)


def _gbk_fits(text: str) -> bool:
    return len(text.encode("gbk")) <= 12


# M_INFO is vendor text padded with spaces to 12 GBK bytes; decoding strips the padding.
m_info = (
    st.text(st.sampled_from("ABCXYZabc0129-_./ 中石化加油机"), max_size=12)
    .filter(_gbk_fits)
    .filter(lambda text: not text.endswith(" "))
)

MESSAGES: dict[type, st.SearchStrategy[Any]] = {
    Poll: st.just(Poll()),
    PollReply: st.builds(
        PollReply,
        pc_time=times,
        bl_ver=u16,
        add_bl_ver=u8,
        del_bl_ver=u8,
        wh_ver=u8,
        prc_ver=u8,
        sta_ver=u8,
        self_d_ver=u8,
        soft_flag=u8,
    ),
    NozzleInfo: st.builds(
        NozzleInfo, entries=st.lists(st.one_of(card_inserted, fuelling), max_size=8).map(tuple)
    ),
    RecordUpload: st.builds(RecordUpload, record=records),
    RecordAck: st.builds(RecordAck, result=u8),
    DownloadStart: st.builds(DownloadStart, content=u8, ibl_ver=u16),
    DownloadInfo: st.builds(DownloadInfo, total_len=u32, content=u8),
    SegmentRequest: st.builds(SegmentRequest, content=u8, s_offset=u16, seg=u8),
    SegmentData: st.builds(SegmentData, content=u8, s_offset=u16, seg=u8, data=st.binary(max_size=600)),
    GreyQuery: st.builds(GreyQuery, asn=lenient_digits(10), bal=u32, ctc=u16, ds=u8, time=times),
    GreyReply: st.builds(
        GreyReply,
        m_flag=u8,
        asn=lenient_digits(10),
        bal=u32,
        amn=u24,
        ctc=u16,
        ds=u8,
        time=times,
        gmac=u32,
        psam_tid=raw(6),
        psam_ttc=u32,
    ),
    ListQuery: st.builds(ListQuery, asn=lenient_digits(10)),
    ListReply: st.builds(ListReply, m_flag=u8, asn=lenient_digits(10)),
    TotalsRead: st.just(TotalsRead()),
    Totals: st.builds(
        Totals, totals=st.lists(st.builds(NozzleTotal, nzn=u8, v_tot=u32), max_size=16).map(tuple)
    ),
    InfoRead: st.just(InfoRead()),
    DispenserInfo: st.builds(
        DispenserInfo,
        m_info=m_info,
        prov=digits(1),
        city=digits(1),
        superior=digits(4),
        s_id=digits(4),
        time=times,
        nozzles=st.lists(u8, max_size=16).map(tuple),
        bl_ver=u16,
        add_bl_ver=u8,
        del_bl_ver=u8,
        wh_ver=u8,
        prc_ver=u8,
        sta_ver=u8,
        m_data=st.binary(max_size=64),
    ),
    ErrorInfo: st.builds(ErrorInfo, info_type=u8, data=st.binary(max_size=64)),
    ErrorAck: st.builds(ErrorAck, command=u8, flag=u8),
    RecordRead: st.builds(RecordRead, pos_ttc=u32),
    NoRecord: st.builds(NoRecord, pos_ttc=u32),
}

any_message = st.one_of(*MESSAGES.values())


@st.composite
def frames(draw: st.DrawFn, messages: st.SearchStrategy[Any] = any_message) -> Frame:
    """A frame with any sendable header carrying the DATA of a drawn message."""
    msg = draw(messages)
    return Frame(draw(header_byte), draw(header_byte), draw(header_byte), encode_message(msg))
