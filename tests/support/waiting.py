"""Waiting on conditions with generous deadlines (never a sleep used to wait).

`wait_until` for asyncio tests (the condition may be a coroutine function); `wait_until_sync` for the
tests that drive processes (end-to-end, simulator) from plain functions.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

DEFAULT_TIMEOUT_S = 30.0
POLL_S = 0.02


async def wait_until(
    condition: Callable[[], Any], timeout_s: float = DEFAULT_TIMEOUT_S, what: str = "the condition"
) -> Any:
    """The first truthy value of `condition()` (awaited when it returns an awaitable); `TimeoutError`
    naming `what` after `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise TimeoutError(f"{what} not reached within {timeout_s} s")
        await asyncio.sleep(POLL_S)


def wait_until_sync(condition: Callable[[], Any], timeout_s: float, what: str, poll_s: float = 0.05) -> Any:
    """The first truthy value of `condition()`, polling every `poll_s`; `AssertionError` naming `what`
    after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(poll_s)
