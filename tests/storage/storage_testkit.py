"""Helpers shared by the storage tests and the crash-test child process (no pytest imports)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

from protocol.record import RECORD_STRUCT, TransactionRecord

TEMPLATE = TransactionRecord(
    pos_ttc=1,
    t_type=0x10,
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
    emp=255,
    v_tot=1_000_000,
)

RECEIVED = dt.datetime(2024, 5, 1, 0, 31, 0, tzinfo=dt.UTC)

MakeRecord = Callable[..., tuple[TransactionRecord, bytes]]


def make_record(pos_ttc: int, **changes: object) -> tuple[TransactionRecord, bytes]:
    """A record with this POS_TTC (and any field changed) and its 95 wire bytes."""
    record = dataclasses.replace(TEMPLATE, pos_ttc=pos_ttc, **changes)  # type: ignore[arg-type]
    return record, RECORD_STRUCT.build(record.to_dict())


class FakeClock:
    """An injected clock: returns `now`, which tests move explicitly."""

    def __init__(self, now: dt.datetime = RECEIVED) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now
