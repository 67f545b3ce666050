"""The line lock serves commands before queued polls, others in arrival order; a cancelled waiter
neither keeps nor loses the lock."""

from __future__ import annotations

import asyncio

import pytest

from edge.devices.prioritylock import PriorityLock


async def test_priority_then_arrival_order() -> None:
    lock = PriorityLock()
    order: list[str] = []
    gate = asyncio.Event()

    async def holder() -> None:
        async with lock.hold():
            await gate.wait()

    async def user(name: str, priority: int) -> None:
        async with lock.hold(priority):
            order.append(name)

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)  # let the holder take the lock
    tasks = [asyncio.create_task(user(n, p)) for n, p in (("poll1", 1), ("poll2", 1), ("stop", 0), ("poll3", 1))]
    await asyncio.sleep(0)
    assert lock.locked()
    gate.set()
    await asyncio.gather(first, *tasks)
    assert order == ["stop", "poll1", "poll2", "poll3"]
    assert not lock.locked()


async def test_a_cancelled_waiter_does_not_keep_the_lock() -> None:
    lock = PriorityLock()
    gate = asyncio.Event()

    async def holder() -> None:
        async with lock.hold():
            await gate.wait()

    h = asyncio.create_task(holder())
    await asyncio.sleep(0)
    waiter = asyncio.create_task(lock.hold().__aenter__())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    gate.set()
    await h
    assert not lock.locked()
    async with lock.hold():
        assert lock.locked()
