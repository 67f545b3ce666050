"""A cancellation that arrives in the loop turn a message does is never swallowed (`station run` stops).

Python 3.11's `asyncio.wait_for` returns the item and drops the cancellation when both happen in the
same turn: the driver then loops on and the daemon's task group waits for it forever. These tests put
a message and a cancellation into the same turn, every way the line can be waiting.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest

from edge.framed import FramedLine, Incoming
from tests.edge.memline import memory_pair

TURNS_TO_SETTLE = 5


def framed_line() -> tuple[FramedLine, Any]:
    ctrl, dev = memory_pair()
    return FramedLine("bus1", ctrl, controller_address=0xE0, inter_byte_timeout_s=0.5), dev


async def settle() -> None:
    for _ in range(TURNS_TO_SETTLE):
        await asyncio.sleep(0)


async def test_receive_cancelled_in_the_turn_a_message_is_taken_raises_cancelled() -> None:
    line, _ = framed_line()
    task = asyncio.create_task(line.receive(30))
    await settle()  # waiting for a message
    line._queue.put_nowait(cast(Incoming, object()))  # a message arrives ...
    await asyncio.sleep(0)  # ... and the waiting get takes it in this turn
    if task.cancel():  # the stop arrives in the same turn, the receive still running
        with pytest.raises(asyncio.CancelledError):
            await task
    else:  # the receive had already returned the message: nothing was cancelled
        assert task.result() is not None


async def test_receive_cancelled_as_the_message_arrives_raises_cancelled() -> None:
    line, _ = framed_line()
    task = asyncio.create_task(line.receive(30))
    await settle()
    line._queue.put_nowait(cast(Incoming, object()))
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_a_receive_loop_stops_however_the_cancellation_and_the_messages_interleave() -> None:
    """A driver-like loop (receive until cancelled) stops at every offset of the cancellation."""
    for offset in range(8):
        line, _ = framed_line()
        received = 0

        async def loop(line: FramedLine = line) -> None:
            nonlocal received
            while True:
                if await line.receive(30) is not None:
                    received += 1

        task = asyncio.create_task(loop())
        await settle()
        for _ in range(3):
            line._queue.put_nowait(cast(Incoming, object()))
        for _ in range(offset):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            async with asyncio.timeout(5):  # a swallowed cancellation leaves the loop waiting forever
                await task


async def test_the_receiver_cancelled_while_a_partial_frame_waits_for_its_next_byte_stops() -> None:
    line, dev = framed_line()
    task = asyncio.create_task(line.receive_forever())
    await dev.write(b"\xfa\xe0\x01")  # the start of a frame: the receiver now times the next byte
    await settle()
    await dev.write(b"\x00")  # the next byte arrives ...
    await asyncio.sleep(0)
    task.cancel()  # ... with the stop
    with pytest.raises(asyncio.CancelledError):
        await task
