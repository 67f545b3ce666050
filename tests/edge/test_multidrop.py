"""Multi-drop driver against a scripted in-memory dispenser: persist, then acknowledge."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from pathlib import Path

import pytest
from support.memline import MemoryEnd, memory_pair

from edge.config import DispenserConfig, LineConfig, LineMode, NozzleConfig
from edge.events import EventBus, SaleStored
from edge.framed import FramedLine
from edge.multidrop import MultiDropDriver
from edge.session import DispenserSession, Services, Versions
from protocol.codec import Direction, decode_message, encode_message
from protocol.frame import Frame, encode_frame
from protocol.messages import (
    DispenserInfo,
    InfoRead,
    NozzleInfo,
    NozzleTotal,
    PollReply,
    RecordAck,
    RecordUpload,
    Totals,
    TotalsRead,
)
from protocol.reader import FrameReader
from protocol.record import RECORD_STRUCT, TransactionRecord, sample_record
from storage.alarms import Alarms
from storage.db import Database
from storage.journal import Journal

T0 = dt.datetime(2026, 11, 21, 8, 0, 0)


def record(pos_ttc: int) -> TransactionRecord:
    return sample_record(
        pos_ttc=pos_ttc, time=T0, asn="10000111000000000001", bal=1000, amn=5000, ctc=1, tac=0xFAFAFAFA,
        psam_asn="0" * 20, psam_tid=bytes(6), psam_ttc=0, ver=0, g_code="0092", vol=667, v_tot=100 * pos_ttc,
    )  # fmt: skip


class FakeCatalog:
    def versions(self) -> Versions:
        return Versions()

    def content(self, content: int, pos_p: int) -> bytes | None:
        return None


class NoAuthority:
    async def list_query(self, where, query):  # type: ignore[no-untyped-def]
        raise AssertionError("not used")

    async def grey_query(self, where, query):  # type: ignore[no-untyped-def]
        raise AssertionError("not used")


async def scripted_dispenser(
    end: MemoryEnd, pos_p: int, pending: list[TransactionRecord], acks: list[int], all_acked: asyncio.Event
) -> None:
    """Answers each poll with its oldest unacknowledged record, else an idle 0x31."""
    reader = FrameReader()
    while True:
        for frame in reader.feed(await end.read()):
            if frame.dst != pos_p:
                continue
            msg = decode_message(frame.data, Direction.H)
            if isinstance(msg, RecordAck):
                acks.append(pending.pop(0).pos_ttc)
                if not pending:
                    all_acked.set()
                continue
            if isinstance(msg, TotalsRead):
                answer = Totals((NozzleTotal(1, 12345),))
            elif isinstance(msg, InfoRead):
                answer = DispenserInfo("SIM", "11", "01", "00000001", "00000042", T0, (1,))
            elif isinstance(msg, PollReply) and pending:
                answer = RecordUpload(pending[0])
            else:
                answer = NozzleInfo()
            out = Frame.make(0xE0, pos_p, frame.frame_no, False, encode_message(answer))
            await end.write(encode_frame(out))


@pytest.mark.parametrize("chunk", [0, 1], ids=["whole-frames", "byte-at-a-time"])
async def test_records_committed_before_ack_and_stored_once(tmp_path: Path, chunk: int) -> None:
    db_path = tmp_path / "station.db"
    db = await Database.open(db_path)
    journal = Journal(db)
    bus = EventBus()
    sub = bus.subscribe()
    services = Services(journal, Alarms(db), FakeCatalog(), NoAuthority(), bus)  # type: ignore[arg-type]
    ctrl_end, disp_end = memory_pair(chunk)
    committed_at_ack: list[int] = []

    def check_commit(data: bytes) -> None:
        for frame in FrameReader().feed(data):
            if isinstance(decode_message(frame.data, Direction.H), RecordAck):
                with sqlite3.connect(db_path) as conn:  # another connection sees only committed rows
                    committed_at_ack.append(conn.execute("SELECT count(*) FROM transactions").fetchone()[0])

    ctrl_end.on_write.append(check_commit)
    cfg = LineConfig("bus1", "mem", LineMode.MULTI_DROP, (DispenserConfig(1, (NozzleConfig(1, "0092"),)),))
    line = FramedLine("bus1", ctrl_end, controller_address=0xE0, inter_byte_timeout_s=0.5, bus=bus)
    session = DispenserSession.create("bus1", 1, {1: "0092"}, services)
    driver = MultiDropDriver(cfg, line, [session])
    pending = [record(n) for n in (1, 2, 3)]
    acks: list[int] = []
    all_acked = asyncio.Event()
    async with asyncio.timeout(20):
        tasks = [
            asyncio.create_task(line.receive_forever()),
            asyncio.create_task(driver.run()),
            asyncio.create_task(scripted_dispenser(disp_end, 1, pending, acks, all_acked)),
        ]
        stored: list[int] = []
        while len(stored) < 3:
            stored += [e.pos_ttc for e in await sub.wait() if isinstance(e, SaleStored)]
        await all_acked.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    assert acks == [1, 2, 3]
    assert committed_at_ack == [1, 2, 3]  # every ack left only after its record was committed
    rows = await db.fetchall("SELECT pos_ttc, raw FROM transactions ORDER BY pos_ttc")
    assert [r["pos_ttc"] for r in rows] == [1, 2, 3]
    assert [bytes(r["raw"]) for r in rows] == [RECORD_STRUCT.build(record(n).to_dict()) for n in (1, 2, 3)]
    assert session.online and session.totals is not None and session.info is not None
    await db.close()
