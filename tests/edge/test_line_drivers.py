"""The line drivers in unit: the point-to-point driver answers its dispenser's calls (a record only
after its commit), a journal that fails is never acknowledged, and a line that disappears is reopened.

Dispensers are scripted over the in-memory line of `support.memline` (the multi-drop driver has its own
file, test_multidrop.py); the reopened line is a real TCP connection (`socket://`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import sqlite3
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from support.memline import LossyEvery, MemoryEnd, memory_pair
from support.waiting import wait_until

from edge.config import DispenserConfig, LineConfig, LineMode, NozzleConfig, load_config
from edge.events import AlarmCleared, AlarmRaised, EventBus, SaleStored
from edge.framed import FramedLine
from edge.p2p import PointToPointDriver
from edge.session import DispenserSession, Services, Versions
from protocol.codec import Direction, decode_message, encode_message
from protocol.frame import Frame, encode_frame
from protocol.messages import (
    DispenserInfo,
    InfoRead,
    Message,
    NozzleTotal,
    Poll,
    PollReply,
    RecordAck,
    RecordUpload,
    Totals,
    TotalsRead,
)
from protocol.reader import FrameReader
from protocol.record import TransactionRecord, sample_record
from storage.alarms import Alarms
from storage.db import Database
from storage.errors import StorageError
from storage.journal import Journal

T0 = dt.datetime(2026, 11, 21, 8, 0, 0)
POS_P = 7


def record(pos_ttc: int) -> TransactionRecord:
    return sample_record(pos_ttc=pos_ttc, time=T0, g_code="0092", nzn=1, v_tot=100 * pos_ttc)


class FakeCatalog:
    def versions(self) -> Versions:
        return Versions()

    def content(self, content: int, pos_p: int) -> bytes | None:
        return None


class NoAuthority:
    async def list_query(self, where: Any, query: Any) -> Any:
        raise AssertionError("not used")

    async def grey_query(self, where: Any, query: Any) -> Any:
        raise AssertionError("not used")


class CallingDispenser:
    """A point-to-point dispenser: it calls (0x30), answers the reads the controller sends after its
    reply, then uploads its oldest record until it is acknowledged (re-sending one whose acknowledgement
    did not come)."""

    def __init__(
        self, end: MemoryEnd, pending: Sequence[TransactionRecord], ack_timeout_s: float = 10.0
    ) -> None:
        self.end = end
        self.ack_timeout_s = ack_timeout_s
        self.pending = list(pending)
        self.acked: list[int] = []
        self.answers: list[Message] = []
        self.uploads = 0
        self._reader = FrameReader()
        self._inbox: deque[Message] = deque()
        self._frame_no = 0

    async def _send(self, message: Message) -> None:
        self._frame_no = (self._frame_no + 1) & 0x3F
        frame = Frame.make(0xE0, POS_P, self._frame_no, False, encode_message(message))
        await self.end.write(encode_frame(frame))

    async def _next(self, timeout_s: float) -> Message | None:
        try:
            async with asyncio.timeout(timeout_s):
                while not self._inbox:
                    for frame in self._reader.feed(await self.end.read()):
                        self._inbox.append(decode_message(frame.data, Direction.H))
        except TimeoutError:
            return None
        message = self._inbox.popleft()
        self.answers.append(message)
        return message

    async def _until(self, kind: type[Message], timeout_s: float) -> Message | None:
        """The controller's next `kind` message, answering its reads on the way."""
        while (message := await self._next(timeout_s)) is not None:
            if isinstance(message, InfoRead):
                await self._send(DispenserInfo("SIM", "11", "01", "00000001", "00000042", T0, (1,)))
            elif isinstance(message, TotalsRead):
                await self._send(Totals((NozzleTotal(1, 12345),)))
            elif isinstance(message, kind):
                return message
        return None

    async def run(self) -> None:
        while True:
            await self._send(Poll())
            await self._until(PollReply, 2.0)
            if not self.pending:
                await asyncio.sleep(0.05)  # a dispenser calls periodically
                continue
            self.uploads += 1
            await self._send(RecordUpload(self.pending[0]))
            if await self._until(RecordAck, self.ack_timeout_s) is not None:
                self.acked.append(self.pending.pop(0).pos_ttc)


def p2p_config() -> LineConfig:
    return LineConfig(
        "p2p1", "mem", LineMode.POINT_TO_POINT, (DispenserConfig(POS_P, (NozzleConfig(1, "0092"),)),)
    )


async def drive(
    services: Services, dispenser_end: MemoryEnd, ctrl_end: MemoryEnd, bus: EventBus
) -> tuple[DispenserSession, list[asyncio.Task[None]]]:
    line = FramedLine("p2p1", ctrl_end, controller_address=0xE0, inter_byte_timeout_s=0.5, bus=bus)
    session = DispenserSession.create("p2p1", POS_P, {1: "0092"}, services)
    driver = PointToPointDriver(p2p_config(), line, session)
    return session, [asyncio.create_task(line.receive_forever()), asyncio.create_task(driver.run())]


async def stop(tasks: Sequence[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.mark.parametrize("chunk", [0, 1], ids=["whole-frames", "byte-at-a-time"])
async def test_point_to_point_answers_calls_and_acknowledges_after_the_commit(
    tmp_path: Path, chunk: int
) -> None:
    db_path = tmp_path / "station.db"
    db = await Database.open(db_path)
    bus = EventBus()
    sub = bus.subscribe()
    services = Services(Journal(db), Alarms(db), FakeCatalog(), NoAuthority(), bus)  # type: ignore[arg-type]
    ctrl_end, disp_end = memory_pair(chunk)
    committed_at_ack: list[int] = []

    def check_commit(data: bytes) -> None:
        for frame in FrameReader().feed(data):
            if isinstance(decode_message(frame.data, Direction.H), RecordAck):
                with sqlite3.connect(db_path) as conn:  # another connection sees only committed rows
                    committed_at_ack.append(conn.execute("SELECT count(*) FROM transactions").fetchone()[0])

    ctrl_end.on_write.append(check_commit)
    dispenser = CallingDispenser(disp_end, [record(n) for n in (1, 2, 3)])
    session, tasks = await drive(services, disp_end, ctrl_end, bus)
    tasks.append(asyncio.create_task(dispenser.run()))
    try:
        await wait_until(lambda: dispenser.acked == [1, 2, 3], what="three records acknowledged")
        stored: list[int] = []
        async with asyncio.timeout(30):
            while len(stored) < 3:
                stored += [e.pos_ttc for e in await sub.wait() if isinstance(e, SaleStored)]
    finally:
        await stop(tasks)
    assert committed_at_ack == [1, 2, 3]
    assert stored == [1, 2, 3]
    assert any(isinstance(a, PollReply) for a in dispenser.answers)  # every call is answered
    assert session.online and session.records_stored == 3
    assert [r["pos_ttc"] for r in await db.fetchall("SELECT pos_ttc FROM transactions")] == [1, 2, 3]
    await db.close()


async def test_a_lost_acknowledgement_means_the_record_comes_again_and_is_stored_once(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "station.db")
    bus = EventBus()
    services = Services(Journal(db), Alarms(db), FakeCatalog(), NoAuthority(), bus)  # type: ignore[arg-type]
    ctrl_end, disp_end = memory_pair()
    lossy = LossyEvery(3)  # the controller's writes are lost on the way to the dispenser now and then
    ctrl_end.lossy = lossy
    dispenser = CallingDispenser(disp_end, [record(n) for n in (1, 2, 3, 4)], ack_timeout_s=1.0)
    session, tasks = await drive(services, disp_end, ctrl_end, bus)
    tasks.append(asyncio.create_task(dispenser.run()))
    try:
        await wait_until(lambda: dispenser.acked == [1, 2, 3, 4], what="four records acknowledged")
    finally:
        await stop(tasks)
    assert lossy.lost  # some answers were lost …
    assert dispenser.uploads > 4  # … so some records were sent again
    assert [r["pos_ttc"] for r in await db.fetchall("SELECT pos_ttc FROM transactions")] == [1, 2, 3, 4]
    assert session.duplicates == dispenser.uploads - 4
    await db.close()


class FailingJournal:
    """A journal whose disk has failed: every store raises, nothing is committed."""

    def __init__(self, journal: Journal) -> None:
        self._journal = journal
        self.failing = True
        self.attempts = 0

    async def store_record(self, *args: Any, **kwargs: Any) -> Any:
        self.attempts += 1
        if self.failing:
            raise StorageError("disk I/O error")
        return await self._journal.store_record(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._journal, name)


async def test_a_record_the_journal_cannot_store_is_never_acknowledged(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "station.db")
    bus = EventBus()
    sub = bus.subscribe()
    journal = FailingJournal(Journal(db))
    services = Services(journal, Alarms(db), FakeCatalog(), NoAuthority(), bus)  # type: ignore[arg-type]
    ctrl_end, disp_end = memory_pair()
    dispenser = CallingDispenser(disp_end, [record(1)], ack_timeout_s=1.0)
    _session, tasks = await drive(services, disp_end, ctrl_end, bus)
    tasks.append(asyncio.create_task(dispenser.run()))
    try:
        await wait_until(lambda: journal.attempts >= 3, what="the record offered three times")
        assert dispenser.acked == []
        assert not any(isinstance(a, RecordAck) for a in dispenser.answers)
        assert await db.fetchall("SELECT pos_ttc FROM transactions") == []
        alarms = [a for a in await Alarms(db).active() if a.code == "journal_failed"]
        assert len(alarms) == 1 and alarms[0].severity.value == "critical"
        journal.failing = False  # the disk is back: the next offer is stored, then acknowledged
        await wait_until(lambda: dispenser.acked == [1], what="the record acknowledged once stored")
    finally:
        await stop(tasks)
    assert [r["pos_ttc"] for r in await db.fetchall("SELECT pos_ttc FROM transactions")] == [1]
    assert any(isinstance(e, SaleStored) for e in sub.drain())
    await db.close()


CONFIG = """\
[station]
id = "REOPEN-1"
[storage]
database = "station.db"
[control]
socket = "ctl.sock"
[[products]]
g_code = "0092"
name = "92#"
[[lines]]
name = "tcp1"
url = "socket://127.0.0.1:{port}"
mode = "point-to-point"
reply_timeout_ms = 500
[[lines.dispensers]]
pos_p = 7
nozzles = [{{ nzn = 1, g_code = "0092" }}]
"""


async def test_a_line_that_disappears_is_reopened(tmp_path: Path) -> None:
    """A serial-to-Ethernet converter drops the connection: the daemon raises `line_unavailable`
    while it cannot connect, reopens the line when it can, and the dispenser's record then gets in."""
    from edge.daemon import open_station, run_line

    connections: list[asyncio.StreamWriter] = []
    accept = asyncio.Event()

    async def converter(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)

    server = await asyncio.start_server(converter, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    (tmp_path / "station.toml").write_text(CONFIG.format(port=port))
    station = await open_station(load_config(tmp_path / "station.toml"))
    sub = station.bus.subscribe()
    task = asyncio.create_task(run_line(station, station.config.lines[0]))
    try:
        await wait_until(lambda: len(connections) == 1, what="the line opened")
        server.close()  # the converter goes away: the connection drops and nothing accepts
        await server.wait_closed()
        connections[0].close()
        events: list[object] = []

        def seen(kind: type) -> bool:
            events.extend(sub.drain())
            return any(isinstance(e, kind) and getattr(e, "code", "") == "line_unavailable" for e in events)

        await wait_until(lambda: seen(AlarmRaised), what="line_unavailable raised")
        server = await asyncio.start_server(converter, "127.0.0.1", port)  # it comes back
        accept.set()
        await wait_until(lambda: len(connections) == 2, what="the line reopened")
        await wait_until(lambda: seen(AlarmCleared), what="line_unavailable cleared")
        # The reopened line works: a dispenser call gets its answer.
        reader_end = connections[1]
        frame = Frame.make(0xE0, POS_P, 1, False, encode_message(Poll()))
        reader_end.write(encode_frame(frame))
        session = station.sessions["tcp1"][0]
        await wait_until(lambda: session.online, what="the dispenser online on the reopened line")
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        server.close()
        for writer in connections:
            writer.close()
        await station.db.close()
