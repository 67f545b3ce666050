"""Paced multi-drop polling: a dispenser is never polled more often than its minimum interval, an idle
one about once per target cycle, a busy one more often. Polls are counted, never timed tightly."""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from pathlib import Path

import pytest
from support.memline import MemoryEnd, memory_pair

from edge.config import ConfigError, DispenserConfig, LineConfig, LineMode, NozzleConfig, load_config
from edge.events import EventBus
from edge.framed import FramedLine
from edge.multidrop import MultiDropDriver
from edge.pacing import Pacing
from edge.session import DispenserSession, Services, Versions
from protocol.codec import Direction, decode_message, encode_message
from protocol.frame import Frame, encode_frame
from protocol.messages import Fuelling, NozzleInfo, PollReply
from protocol.reader import FrameReader

IDLE, BUSY = 1, 2


class FakeCatalog:
    def versions(self) -> Versions:
        return Versions()

    def content(self, content: int, pos_p: int) -> bytes | None:
        return None


class NoJournal:
    """Nothing here stores anything: the dispensers only report nozzles."""

    async def open_gaps(self, line: str, dispenser: int, limit: int) -> list[int]:
        return []


class NoAlarms:
    async def raise_alarm(self, *args: object, **kwargs: object) -> int:
        return 0

    async def clear(self, source: str, code: str) -> None:
        return None


async def dispensers(end: MemoryEnd) -> None:
    """Address 1 is idle (empty 0x31); address 2 has a nozzle up (a 0x31 with one entry)."""
    reader = FrameReader()
    while True:
        for frame in reader.feed(await end.read()):
            answer = NozzleInfo((Fuelling(1, 0, 0, 0, 750),)) if frame.dst == BUSY else NozzleInfo()
            out = Frame.make(0xE0, frame.dst, frame.frame_no, False, encode_message(answer))
            await end.write(encode_frame(out))


def line_config(cycle_ms: int, min_interval_ms: int) -> LineConfig:
    return LineConfig(
        "bus1",
        "mem",
        LineMode.MULTI_DROP,
        (
            DispenserConfig(IDLE, (NozzleConfig(1, "0092"),)),
            DispenserConfig(BUSY, (NozzleConfig(1, "0092"),)),
        ),
        poll_cycle_ms=cycle_ms,
        min_poll_interval_ms=min_interval_ms,
    )


async def run_line(cfg: LineConfig, idle_polls: int) -> dict[int, list[float]]:
    """Poll until the idle dispenser had `idle_polls` 0x30 polls; the write times of every poll."""
    bus = EventBus()
    services = Services(NoJournal(), NoAlarms(), FakeCatalog(), None, bus)  # type: ignore[arg-type]
    ctrl_end, disp_end = memory_pair()
    polls: dict[int, list[float]] = defaultdict(list)
    enough = asyncio.Event()

    def on_write(data: bytes) -> None:
        for frame in FrameReader().feed(data):
            if isinstance(decode_message(frame.data, Direction.H), PollReply):
                polls[frame.dst].append(time.monotonic())
        if len(polls[IDLE]) >= idle_polls:
            enough.set()

    ctrl_end.on_write.append(on_write)
    line = FramedLine("bus1", ctrl_end, controller_address=0xE0, inter_byte_timeout_s=0.5, bus=bus)
    sessions = [DispenserSession.create("bus1", a, {1: "0092"}, services) for a in (IDLE, BUSY)]
    for session in sessions:
        session.reads.clear()  # no start-up reads: only polls
    driver = MultiDropDriver(cfg, line, sessions)
    tasks = [
        asyncio.create_task(line.receive_forever()),
        asyncio.create_task(driver.run()),
        asyncio.create_task(dispensers(disp_end)),
    ]
    try:
        async with asyncio.timeout(60):
            await asyncio.wait([asyncio.create_task(enough.wait()), *tasks], return_when="FIRST_COMPLETED")
        assert enough.is_set(), [t.exception() for t in tasks if t.done()]
    finally:
        await stop(tasks)
    return polls


async def stop(tasks: list[asyncio.Task[None]]) -> None:
    """Cancel until every task ended (Python 3.11's wait_for can swallow one cancellation)."""
    while not all(task.done() for task in tasks):
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks, timeout=1)


def most_polls_allowed(times: list[float], min_interval_s: float) -> int:
    """How many polls fit between the first and the last one at one per minimum interval (half an
    interval of slack for the time between a visit's start and its write)."""
    return int((times[-1] - times[0] + min_interval_s / 2) / min_interval_s) + 1


async def test_a_paced_line_never_polls_a_dispenser_more_often_than_its_minimum_interval() -> None:
    polls = await run_line(line_config(cycle_ms=200, min_interval_ms=50), idle_polls=8)
    for address in (IDLE, BUSY):
        times = polls[address]
        assert len(times) <= most_polls_allowed(times, 0.05), (address, len(times))


async def test_an_idle_dispenser_is_polled_once_per_cycle_a_busy_one_more_often() -> None:
    polls = await run_line(line_config(cycle_ms=300, min_interval_ms=50), idle_polls=6)
    idle, busy = polls[IDLE], polls[BUSY]
    assert len(idle) <= most_polls_allowed(idle, 0.3)  # idle: at most one poll per target cycle
    assert len(busy) > len(idle)  # busy: polled again within the cycle


async def test_an_unpaced_line_polls_as_fast_as_the_line_answers() -> None:
    polls = await run_line(line_config(cycle_ms=0, min_interval_ms=0), idle_polls=200)
    assert len(polls[IDLE]) >= 200 and len(polls[BUSY]) >= 199


def test_pacing_decisions() -> None:
    pacing = Pacing.from_ms(250, 100)
    assert pacing.paced and not Pacing().paced
    assert pacing.earliest(None) == 0.0
    assert pacing.earliest(10.0) == 10.1
    assert pacing.next_wake(10.3, 10.0, []) is None  # the cycle is over
    assert pacing.next_wake(10.1, 10.0, []) == 10.25  # nothing busy: wake at the cycle's end
    assert pacing.next_wake(10.1, 10.0, [10.2, 10.15]) == 10.15  # the earliest busy dispenser first


def test_pacing_keys_are_configured_per_line_with_defaults(tmp_path: Path) -> None:
    text = """
[station]
id = "S1"
[[products]]
g_code = "0092"
name = "92#"
[[lines]]
name = "slow"
url = "socket://127.0.0.1:4001"
mode = "multi-drop"
[[lines.dispensers]]
pos_p = 1
nozzles = [{ nzn = 1, g_code = "0092" }]
[[lines]]
name = "fast"
url = "socket://127.0.0.1:4002"
mode = "multi-drop"
poll_cycle_ms = 0
min_poll_interval_ms = 20
[[lines.dispensers]]
pos_p = 1
nozzles = [{ nzn = 1, g_code = "0092" }]
"""
    path = tmp_path / "station.toml"
    path.write_text(text)
    slow, fast = load_config(path).lines
    assert (slow.poll_cycle_ms, slow.min_poll_interval_ms) == (250, 100)
    assert (fast.poll_cycle_ms, fast.min_poll_interval_ms) == (0, 20)
    path.write_text(text.replace("poll_cycle_ms = 0", "poll_cycle_ms = -5"))
    with pytest.raises(ConfigError) as problem:
        load_config(path)
    assert "lines[1].poll_cycle_ms: must be within 0..60000, got -5" in str(problem.value)
