"""A stop that comes while a TaskGroup's child fails still stops the loop around it.

Layer: edge core (asyncio only). On Python 3.11 a `TaskGroup` whose child fails while the task running
it is cancelled raises the child's exception group, not `CancelledError`; and when a child fails while
the task waits in the group's exit, the group's own cancellation request stays counted on that task
(`Task.cancelling()`). A reconnecting loop (`except* LinkError` … try again) would then never stop: a
daemon that SIGTERM cancels keeps running.

So such a loop runs its group in a task of its own (`in_own_task`) and, after handling the group's
errors, calls `raise_if_cancelling()`: the loop's own task carries only the requests made to it (the
group's leaked one stays on the inner task), so a pending request there is a real stop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def in_own_task(coro: Coroutine[Any, Any, T]) -> T:
    """Await `coro` in a task of its own (a cancellation of the caller is passed on to it)."""
    return await asyncio.create_task(coro)


def raise_if_cancelling() -> None:
    """Raise `CancelledError` when the current task has a cancellation request pending."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
