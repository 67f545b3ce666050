"""A stop that arrives while a TaskGroup's child fails is not lost by a loop that handles the child's
error and tries again (Python 3.11 raises the group, not CancelledError): the loop runs its group in a
task of its own and `raise_if_cancelling` re-raises the stop; a failure alone is tried again."""

from __future__ import annotations

import asyncio

import pytest

from edge.core.cancel import in_own_task, raise_if_cancelling


class LinkDown(Exception):
    pass


async def reconnecting_loop(attempts: list[int], started: asyncio.Queue[int], fail: asyncio.Event) -> None:
    """What the line, uplink and centre loops do: run a group, handle its failure, try again."""
    while True:
        attempts.append(1)

        async def child() -> None:
            started.put_nowait(len(attempts))
            await fail.wait()
            raise LinkDown

        async def group() -> None:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(child())

        try:
            await in_own_task(group())
        except* LinkDown:
            pass
        raise_if_cancelling()
        fail.clear()


async def test_a_stop_that_comes_with_a_failure_ends_the_loop() -> None:
    attempts: list[int] = []
    started: asyncio.Queue[int] = asyncio.Queue()
    fail = asyncio.Event()
    task = asyncio.create_task(reconnecting_loop(attempts, started, fail))
    await started.get()
    fail.set()  # the child fails in the same loop turn as the stop arrives
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(10):  # without the re-raise the loop goes on and this times out
            await task
    assert task.cancelled()
    assert len(attempts) == 1


async def test_a_failure_alone_is_tried_again() -> None:
    attempts: list[int] = []
    started: asyncio.Queue[int] = asyncio.Queue()
    fail = asyncio.Event()
    task = asyncio.create_task(reconnecting_loop(attempts, started, fail))
    for attempt in range(1, 4):
        assert await started.get() == attempt
        fail.set()
    assert await started.get() == 4
    assert not task.done()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_outside_a_cancellation_nothing_is_raised() -> None:
    raise_if_cancelling()
