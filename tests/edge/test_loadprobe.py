"""The daemon's load figures: event-loop lag and reply latencies, each report covering the time since the
previous one."""

from __future__ import annotations

import asyncio
import time
from collections import deque

from support.memline import memory_pair

from edge.framed import FramedLine
from edge.loadprobe import LoadStats, format_report, parse_reports, quantile, summary_ms, watch_loop_lag
from protocol.messages import ListReply, NozzleInfo, RecordAck


def test_quantiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert quantile(values, 0.5) == 50.0
    assert quantile(values, 0.99) == 99.0
    assert quantile(values, 1.0) == 100.0
    assert quantile([], 0.99) == 0.0
    assert summary_ms([0.001, 0.002, 0.010]) == {"count": 3, "p50_ms": 2.0, "p99_ms": 10.0, "max_ms": 10.0}


def test_a_report_covers_the_time_since_the_previous_one() -> None:
    stats = LoadStats()
    stats.loop_lag_s.extend([0.001, 0.004])
    stats.note_reply("RecordAck", 0.003)
    first = stats.report()
    assert first["loop_lag"]["count"] == 2 and first["loop_lag"]["max_ms"] == 4.0
    assert first["replies"] == {"RecordAck": {"count": 1, "p50_ms": 3.0, "p99_ms": 3.0, "max_ms": 3.0}}
    second = stats.report()
    assert second["loop_lag"]["count"] == 0 and second["replies"] == {}
    text = "INFO edge.daemon " + format_report(first) + "\nother line\n" + format_report(second)
    assert parse_reports(text) == [first, second]


class Samples(deque[float]):
    """Sets `enough` once it holds five samples."""

    def __init__(self) -> None:
        super().__init__()
        self.enough = asyncio.Event()

    def append(self, value: float) -> None:
        super().append(value)
        if len(self) >= 5:
            self.enough.set()


async def test_the_lag_probe_samples_the_loop() -> None:
    samples = Samples()
    stats = LoadStats(loop_lag_s=samples)
    probe = asyncio.create_task(watch_loop_lag(stats, period_s=0.01))
    try:
        async with asyncio.timeout(30):
            await samples.enough.wait()
    finally:
        probe.cancel()
    assert all(lag >= 0 for lag in stats.loop_lag_s)


async def test_replies_note_their_latency_by_kind_and_other_frames_do_not() -> None:
    ctrl_end, _disp_end = memory_pair()
    stats = LoadStats()
    line = FramedLine("bus1", ctrl_end, controller_address=0xE0, inter_byte_timeout_s=0.5, load=stats)
    received = time.monotonic()
    await line.send(1, RecordAck(), 5, answering=received)
    await line.send(1, ListReply(m_flag=0, asn="1" * 20), 6, answering=received)
    await line.send(1, NozzleInfo())  # not a reply: no latency
    report = stats.report()["replies"]
    assert set(report) == {"RecordAck", "ListReply"}
    assert report["RecordAck"]["count"] == 1 and report["RecordAck"]["max_ms"] >= 0
