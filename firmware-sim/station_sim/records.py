"""Builders of the transaction records a simulated dispenser produces (spec A5).

Layer: firmware-sim (pure). Each builder returns a `protocol.record.TransactionRecord`; its 95 raw bytes
are `RECORD_STRUCT.build` of it (`record_bytes`). Cryptograms (TAC, GTAC, GMAC, PSAM_TAC, T_MAC) are
random non-zero values from the dispenser's generator; the PSAM identity (PSAM_ASN, PSAM_TID, key VER) is
fixed per dispenser and PSAM_TTC advances by one per signed record.

T_TYPE values produced:

    0x10 normal card sale (debit signature valid)     0x01 grey record (card pulled while grey-locked)
    0x13 grey unlock / supplementary debit (signed)   0x05 / 0x06 employee on / off duty
    0x07 cash sale (no card)                          0x08 price-table receipt
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from protocol.record import EMP_NONE, RECORD_STRUCT, T_TYPE_SIGNATURE_VALID, TransactionRecord, TxKind

NO_CARD_ASN = "0" * 20
NO_PRODUCT = "0000"
RFU = bytes(11)


@dataclass(frozen=True, slots=True)
class Psam:
    """The dispenser's fixed PSAM identity."""

    asn: str
    tid: bytes
    ver: int

    @classmethod
    def generate(cls, rng: random.Random) -> Psam:
        asn = "".join(str(rng.randint(0, 9)) for _ in range(20))
        return cls(asn=asn, tid=bytes(rng.randint(0, 255) for _ in range(6)), ver=rng.randint(0x10, 0xFF))


@dataclass(frozen=True, slots=True)
class SaleFigures:
    """Where and what was dispensed."""

    nzn: int
    g_code: str
    vol: int
    prc: int
    amn: int
    emp: int
    v_tot: int


def nonzero32(rng: random.Random) -> int:
    return rng.randint(1, 0xFFFFFFFF)


def record_bytes(record: TransactionRecord) -> bytes:
    """The 95 raw bytes of `record`."""
    return bytes(RECORD_STRUCT.build(record.to_dict()))


def record_from_bytes(raw: bytes) -> TransactionRecord:
    obj = RECORD_STRUCT.parse(raw)
    return TransactionRecord(**{name: obj[name] for name in TransactionRecord.__dataclass_fields__})


def _base(
    *,
    pos_ttc: int,
    t_type: int,
    time: dt.datetime,
    asn: str,
    bal: int,
    ctc: int,
    figures: SaleFigures,
    psam: Psam,
    psam_ttc: int,
    rng: random.Random,
    tac: int = 0,
    gmac: int = 0,
    psam_tac: int = 0,
    unit: int = 0,
) -> TransactionRecord:
    return TransactionRecord(
        pos_ttc=pos_ttc,
        t_type=t_type,
        time=time.replace(microsecond=0),
        asn=asn,
        bal=bal,
        amn=figures.amn,
        ctc=ctc,
        tac=tac,
        gmac=gmac,
        psam_tac=psam_tac,
        psam_asn=psam.asn,
        psam_tid=psam.tid,
        psam_ttc=psam_ttc,
        ds=0,
        unit=unit,
        c_type=0,
        ver=psam.ver,
        nzn=figures.nzn,
        g_code=figures.g_code,
        vol=figures.vol,
        prc=figures.prc,
        emp=figures.emp,
        v_tot=figures.v_tot,
        rfu=RFU,
        t_mac=nonzero32(rng),
    )


def sale(
    pos_ttc: int,
    time: dt.datetime,
    asn: str,
    bal_after: int,
    ctc: int,
    figures: SaleFigures,
    psam: Psam,
    psam_ttc: int,
    rng: random.Random,
) -> TransactionRecord:
    """T_TYPE 0x10: a card sale, debit signature valid."""
    return _base(
        pos_ttc=pos_ttc,
        t_type=T_TYPE_SIGNATURE_VALID | TxKind.SALE,
        time=time,
        asn=asn,
        bal=bal_after,
        ctc=ctc,
        figures=figures,
        psam=psam,
        psam_ttc=psam_ttc,
        rng=rng,
        tac=nonzero32(rng),
        gmac=nonzero32(rng),
        psam_tac=nonzero32(rng),
        unit=0x10,
    )


def grey(
    pos_ttc: int,
    time: dt.datetime,
    asn: str,
    bal_before: int,
    ctc: int,
    figures: SaleFigures,
    psam: Psam,
    psam_ttc: int,
    rng: random.Random,
    gtac: int,
    gmac: int,
) -> TransactionRecord:
    """T_TYPE 0x01: the card was pulled while grey-locked; AMN is owed, TAC holds GTAC."""
    return _base(
        pos_ttc=pos_ttc,
        t_type=TxKind.GREY,
        time=time,
        asn=asn,
        bal=bal_before,
        ctc=ctc,
        figures=figures,
        psam=psam,
        psam_ttc=psam_ttc,
        rng=rng,
        tac=gtac,
        gmac=gmac,
        psam_tac=nonzero32(rng),
        unit=0x10,
    )


def grey_unlock(
    pos_ttc: int,
    time: dt.datetime,
    asn: str,
    bal_after: int,
    ctc: int,
    figures: SaleFigures,
    psam: Psam,
    psam_ttc: int,
    rng: random.Random,
    gmac: int,
) -> TransactionRecord:
    """T_TYPE 0x13: the supplementary debit that unlocks a grey card (GMAC from the 0x35 answer)."""
    return _base(
        pos_ttc=pos_ttc,
        t_type=T_TYPE_SIGNATURE_VALID | TxKind.GREY_UNLOCK,
        time=time,
        asn=asn,
        bal=bal_after,
        ctc=ctc,
        figures=figures,
        psam=psam,
        psam_ttc=psam_ttc,
        rng=rng,
        tac=nonzero32(rng),
        gmac=gmac,
        psam_tac=nonzero32(rng),
        unit=0x10,
    )


def duty(
    pos_ttc: int,
    time: dt.datetime,
    asn: str,
    on: bool,
    figures: SaleFigures,
    psam: Psam,
    psam_ttc: int,
    rng: random.Random,
    bal: int = 0,
    ctc: int = 0,
) -> TransactionRecord:
    """T_TYPE 0x05 / 0x06: employee on / off duty at a nozzle; V_TOT is the shift reading."""
    kind = TxKind.ON_DUTY if on else TxKind.OFF_DUTY
    return _base(
        pos_ttc=pos_ttc,
        t_type=kind,
        time=time,
        asn=asn,
        bal=bal,
        ctc=ctc,
        figures=figures,
        psam=psam,
        psam_ttc=psam_ttc,
        rng=rng,
    )


def cash(
    pos_ttc: int, time: dt.datetime, figures: SaleFigures, psam: Psam, psam_ttc: int, rng: random.Random
) -> TransactionRecord:
    """T_TYPE 0x07: a sale not under card control; no card number (all zeros), UNIT b7-4 = 0 (cash)."""
    return _base(
        pos_ttc=pos_ttc,
        t_type=TxKind.CASH,
        time=time,
        asn=NO_CARD_ASN,
        bal=0,
        ctc=0,
        figures=figures,
        psam=psam,
        psam_ttc=psam_ttc,
        rng=rng,
    )


def price_receipt(
    pos_ttc: int, time: dt.datetime, price_version: int, psam: Psam, psam_ttc: int, rng: random.Random
) -> TransactionRecord:
    """T_TYPE 0x08: a new price table was received. Project choice: one record per dispenser and table;
    NZN 0, G_CODE 0000, no card; CTC carries the price table's VER."""
    figures = SaleFigures(nzn=0, g_code=NO_PRODUCT, vol=0, prc=0, amn=0, emp=EMP_NONE, v_tot=0)
    return _base(
        pos_ttc=pos_ttc,
        t_type=TxKind.PRICE_RECEIPT,
        time=time,
        asn=NO_CARD_ASN,
        bal=0,
        ctc=price_version,
        figures=figures,
        psam=psam,
        psam_ttc=psam_ttc,
        rng=rng,
    )
