"""Record path benchmark: 0x32 frame received → durable commit → ack frame written.

Runs the real multi-drop driver, dispenser session and SQLite journal (WAL, synchronous=FULL, a
real file) against an in-memory dispenser that answers every poll with a new record. The latency of
one record is measured from the moment its frame is handed to the controller's receiver to the
moment the controller writes the 0x32 acknowledgement. Target: p99 < 20 ms.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from edge.config import DispenserConfig, LineConfig, LineMode, NozzleConfig
from edge.events import EventBus
from edge.framed import FramedLine
from edge.multidrop import MultiDropDriver
from edge.session import DispenserSession, Services, Versions
from edge.transport import TransportError
from protocol.codec import Direction, decode_message, encode_message
from protocol.frame import Frame, encode_frame
from protocol.messages import DispenserInfo, NozzleInfo, RecordAck, RecordUpload, Totals
from protocol.reader import FrameReader
from protocol.record import TransactionRecord, sample_record
from storage.alarms import Alarms
from storage.db import Database
from storage.journal import Journal

TARGET_P99_MS = 20.0
T0 = dt.datetime(2026, 11, 21, 8, 0, 0)


class _Pipe:
    """One direction-aware in-memory end, timestamping what the controller writes."""

    def __init__(self) -> None:
        self.to_ctrl: asyncio.Queue[bytes] = asyncio.Queue()
        self.to_disp: asyncio.Queue[bytes] = asyncio.Queue()
        self.sent_at: dict[int, float] = {}
        self.acked_at: dict[int, float] = {}
        self.current = 0

    async def read(self) -> bytes:
        data = await self.to_ctrl.get()
        if not data:
            raise TransportError("closed")
        return data

    async def write(self, data: bytes) -> None:
        self.to_disp.put_nowait(data)

    async def close(self) -> None:
        self.to_ctrl.put_nowait(b"")


def _record(pos_ttc: int) -> TransactionRecord:
    return sample_record(
        pos_ttc=pos_ttc, time=T0, asn="10000111000000000001", amn=5000, ctc=pos_ttc & 0xFFFF, psam_ttc=pos_ttc,
        g_code="0092", vol=667, v_tot=667 * pos_ttc,
    )  # fmt: skip


async def _dispenser(pipe: _Pipe, records: int, done: asyncio.Event) -> None:
    reader = FrameReader()
    next_ttc = 1
    while True:
        for frame in reader.feed(await pipe.to_disp.get()):
            msg = decode_message(frame.data, Direction.H)
            if isinstance(msg, RecordAck):
                pipe.acked_at[pipe.current] = time.perf_counter()
                if pipe.current >= records:
                    done.set()
                continue
            answer: Any
            if type(msg).__name__ == "TotalsRead":
                answer = Totals(())
            elif type(msg).__name__ == "InfoRead":
                answer = DispenserInfo("BENCH", "11", "01", "00000001", "00000001", T0, (1,))
            elif next_ttc <= records and pipe.current in pipe.acked_at | {0: 0.0}:
                answer = RecordUpload(_record(next_ttc))
                pipe.current = next_ttc
                next_ttc += 1
            else:
                answer = NozzleInfo()
            wire = encode_frame(Frame.make(0xE0, 1, frame.frame_no, False, encode_message(answer)))
            if isinstance(answer, RecordUpload):
                pipe.sent_at[pipe.current] = time.perf_counter()
            pipe.to_ctrl.put_nowait(wire)


class _NoCatalog:
    def versions(self) -> Versions:
        return Versions()

    def content(self, content: int, pos_p: int) -> bytes | None:
        return None


async def _run(records: int, folder: Path) -> dict[str, Any]:
    db = await Database.open(folder / "bench.db")
    bus = EventBus()
    services = Services(Journal(db), Alarms(db), _NoCatalog(), None, bus)  # type: ignore[arg-type]
    pipe = _Pipe()
    cfg = LineConfig(
        "bench",
        "mem",
        LineMode.MULTI_DROP,
        (DispenserConfig(1, (NozzleConfig(1, "0092"),)),),
        poll_cycle_ms=0,  # unpaced: the record path, as fast as it goes
        min_poll_interval_ms=0,
    )
    line = FramedLine("bench", pipe, controller_address=0xE0, inter_byte_timeout_s=1.0, bus=bus)
    session = DispenserSession.create("bench", 1, {1: "0092"}, services)
    driver = MultiDropDriver(cfg, line, [session])
    done = asyncio.Event()
    started = time.perf_counter()
    tasks = [
        asyncio.create_task(line.receive_forever()),
        asyncio.create_task(driver.run()),
        asyncio.create_task(_dispenser(pipe, records, done)),
    ]
    await done.wait()
    elapsed = time.perf_counter() - started
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await db.close()
    lat = sorted((pipe.acked_at[n] - pipe.sent_at[n]) * 1000 for n in range(1, records + 1))
    p50 = statistics.median(lat)
    p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
    return {
        "name": "journal",
        "value": round(p99, 3),
        "unit": "ms",
        "target": TARGET_P99_MS,
        "p50_ms": round(p50, 3),
        "p99_ms": round(p99, 3),
        "max_ms": round(lat[-1], 3),
        "records": records,
        "records_per_s": round(records / elapsed, 1),
    }


def run(records: int = 2000) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-journal-") as tmp:
        result = asyncio.run(_run(records, Path(tmp)))
    print(
        f"journal: {result['records']} records, frame received → commit → ack p50 {result['p50_ms']} ms, "
        f"p99 {result['p99_ms']} ms (target < {TARGET_P99_MS} ms), {result['records_per_s']} records/s"
    )
    return result


if __name__ == "__main__":
    import json
    import sys

    print(json.dumps(run(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)))
