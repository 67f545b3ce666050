"""The 95-byte transaction record (the DATA of a dispenser's 0x32 after the command byte).

Layer: protocol (pure). Decoding is lenient where a real dispenser may send odd values (filler
nibbles in BCD numbers, an invalid TIME): a record is never refused for its content, because refusing
it means never acknowledging it. Building the parsed record gives back the same 95 bytes.

     0 POS_TTC(4)  4 T_TYPE  5 TIME(7)  12 ASN(10 BCD)  22 BAL(4)  26 AMN(3)  29 CTC(2)  31 TAC(4)
    35 GMAC(4)    39 PSAM_TAC(4)  43 PSAM_ASN(10 BCD)  53 PSAM_TID(6)  59 PSAM_TTC(4)  63 DS  64 UNIT
    65 C_TYPE  66 VER  67 NZN  68 G_CODE(2 BCD)  70 VOL(3)  73 PRC(2)  75 EMP  76 V_TOT(4)  80 RFU(11)
    91 T_MAC(4)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields, replace
from enum import IntEnum
from typing import Any

import construct as c

from protocol.fields import FixedBytes, Int24ub, LenientBcd, LenientTime7
from protocol.words import EMP_NONE as EMP_NONE

RECORD_LEN = 95


class TxKind(IntEnum):
    """T_TYPE b3..b0."""

    SALE = 0
    GREY = 1
    WRONG_CARD = 2
    GREY_UNLOCK = 3
    SUPPLEMENTARY = 4
    ON_DUTY = 5
    OFF_DUTY = 6
    CASH = 7
    PRICE_RECEIPT = 8
    CARD_ERROR = 9


T_TYPE_CARD_ERROR = 0x80
T_TYPE_OWN_LISTS = 0x40
T_TYPE_SIGNATURE_VALID = 0x10


RECORD_LAYOUT = c.Struct(
    "pos_ttc" / c.Int32ub,
    "t_type" / c.Int8ub,
    "time" / LenientTime7,
    "asn" / LenientBcd(10),
    "bal" / c.Int32ub,
    "amn" / Int24ub,
    "ctc" / c.Int16ub,
    "tac" / c.Int32ub,
    "gmac" / c.Int32ub,
    "psam_tac" / c.Int32ub,
    "psam_asn" / LenientBcd(10),
    "psam_tid" / FixedBytes(6),
    "psam_ttc" / c.Int32ub,
    "ds" / c.Int8ub,
    "unit" / c.Int8ub,
    "c_type" / c.Int8ub,
    "ver" / c.Int8ub,
    "nzn" / c.Int8ub,
    "g_code" / LenientBcd(2),
    "vol" / Int24ub,
    "prc" / c.Int16ub,
    "emp" / c.Int8ub,
    "v_tot" / c.Int32ub,
    "rfu" / FixedBytes(11),
    "t_mac" / c.Int32ub,
)
RECORD_STRUCT = RECORD_LAYOUT.compile()


@dataclass(frozen=True, slots=True)
class TransactionRecord:
    """One transaction record, fields in the wire's units (fen, 0.01 L, fen/L)."""

    pos_ttc: int
    t_type: int
    time: dt.datetime | str
    asn: str
    bal: int
    amn: int
    ctc: int
    tac: int
    gmac: int
    psam_tac: int
    psam_asn: str
    psam_tid: bytes
    psam_ttc: int
    ds: int
    unit: int
    c_type: int
    ver: int
    nzn: int
    g_code: str
    vol: int
    prc: int
    emp: int
    v_tot: int
    rfu: bytes = bytes(11)
    t_mac: int = 0

    @property
    def kind(self) -> TxKind | int:
        """T_TYPE b3..b0 as a `TxKind` (an int for values the spec does not name)."""
        low = self.t_type & 0x0F
        try:
            return TxKind(low)
        except ValueError:
            return low

    @property
    def card_error(self) -> bool:
        return bool(self.t_type & T_TYPE_CARD_ERROR)

    def to_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


RECORD_FIELDS = tuple(f.name for f in fields(TransactionRecord))


SAMPLE_SALE = TransactionRecord(
    pos_ttc=1,
    t_type=T_TYPE_SIGNATURE_VALID | TxKind.SALE,
    time=dt.datetime(2024, 5, 1, 8, 30, 0),
    asn="10000101000000012345",
    bal=100_000,
    amn=25_000,
    ctc=7,
    tac=0x11223344,
    gmac=0,
    psam_tac=0,
    psam_asn="10000000000000000001",
    psam_tid=bytes.fromhex("010203040506"),
    psam_ttc=1,
    ds=0,
    unit=0,
    c_type=0,
    ver=0x11,
    nzn=1,
    g_code="0102",
    vol=3_333,
    prc=750,
    emp=EMP_NONE,
    v_tot=1_000_000,
)
"""A representative normal sale (¥250.00, 33.33 L at ¥7.50/L) for benchmarks, tests and the docs."""


def sample_record(**changes: Any) -> TransactionRecord:
    """`SAMPLE_SALE` with some fields changed."""
    return replace(SAMPLE_SALE, **changes)
