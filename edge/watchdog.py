"""systemd readiness and watchdog notifications, fed by the daemon's event loop.

Layer: edge (I/O shell, no dependency). The service manager passes `NOTIFY_SOCKET` (a Unix datagram
socket, `@name` for the abstract namespace) and, with `WatchdogSec=`, `WATCHDOG_USEC` (and
`WATCHDOG_PID`). We send plain-text datagrams:

    READY=1\nSTATUS=...      once the storage is open and the lines are about to start
    WATCHDOG=1               every WATCHDOG_USEC / 2, from a task on the daemon's event loop
    STOPPING=1               as soon as the daemon begins to stop (SIGTERM)

The pings come from an asyncio task, so a loop that is blocked (a hung driver, a synchronous call
that never returns) stops them, and systemd kills and restarts the daemon after `WatchdogSec`.

Test hook: with `STATION_TEST_HOOKS=1` in the environment, SIGUSR2 blocks the event loop for good
(`install_block_hook`), so a test can show that the pings stop. Without it SIGUSR2 does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)

TEST_HOOKS_ENV = "STATION_TEST_HOOKS"
MIN_PING_INTERVAL_S = 0.05


@dataclass
class Notifier:
    """Sends `sd_notify` datagrams to the service manager; does nothing without `NOTIFY_SOCKET`."""

    address: str | None
    watchdog_s: float | None = None
    """`WATCHDOG_USEC` in seconds when the watchdog is meant for this process, else None."""

    @classmethod
    def from_environment(cls, env: Mapping[str, str] | None = None, pid: int | None = None) -> Notifier:
        env = os.environ if env is None else env
        address = env.get("NOTIFY_SOCKET") or None
        return cls(address, watchdog_interval_s(env, os.getpid() if pid is None else pid))

    def notify(self, *fields: str) -> bool:
        """Send `fields` (each `KEY=value`) as one datagram; False when there is no manager to tell."""
        if not self.address:
            return False
        target = "\0" + self.address[1:] if self.address.startswith("@") else self.address
        payload = "\n".join(fields).encode()
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
                sock.sendto(payload, target)
        except OSError as exc:
            log.warning("sd_notify to %s failed: %s", self.address, exc)
            return False
        return True


def watchdog_interval_s(env: Mapping[str, str], pid: int) -> float | None:
    """The watchdog period for this process (`WATCHDOG_USEC`, honouring `WATCHDOG_PID`), or None."""
    usec = env.get("WATCHDOG_USEC", "")
    owner = env.get("WATCHDOG_PID", "")
    if owner and owner != str(pid):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 1_000_000 if value > 0 else None


async def feed_watchdog(notifier: Notifier) -> None:
    """Ping the watchdog at half its period for as long as the event loop runs this task."""
    if notifier.watchdog_s is None:
        return
    interval = max(MIN_PING_INTERVAL_S, notifier.watchdog_s / 2)
    while True:
        notifier.notify("WATCHDOG=1")
        await asyncio.sleep(interval)


@contextlib.asynccontextmanager
async def supervised(
    notifier: Notifier, status: str, stopping: asyncio.Event | None = None
) -> AsyncIterator[None]:
    """READY=1 on entry, WATCHDOG=1 pings while inside, STOPPING=1 as soon as `stopping` is set (the
    daemon begins to stop) or on the way out, whichever comes first."""
    notifier.notify("READY=1", f"STATUS={status}", f"MAINPID={os.getpid()}")
    if notifier.watchdog_s is not None:
        log.info(
            "systemd watchdog: %.1f s, pinging every %.1f s", notifier.watchdog_s, notifier.watchdog_s / 2
        )
    said_stopping = False

    async def announce_stop(event: asyncio.Event) -> None:
        nonlocal said_stopping
        await event.wait()
        notifier.notify("STOPPING=1", "STATUS=stopping")
        said_stopping = True

    helpers = [asyncio.create_task(feed_watchdog(notifier), name="watchdog")]
    if stopping is not None:
        helpers.append(asyncio.create_task(announce_stop(stopping), name="announce-stop"))
    try:
        yield
    finally:
        for task in helpers:
            task.cancel()
        for task in helpers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if not said_stopping:
            notifier.notify("STOPPING=1", "STATUS=stopping")


def install_block_hook(env: Mapping[str, str] | None = None) -> bool:
    """Test hook: SIGUSR2 blocks the running event loop forever (only with STATION_TEST_HOOKS=1)."""
    env = os.environ if env is None else env
    if env.get(TEST_HOOKS_ENV) != "1":
        return False
    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR2, _block_forever)
    return True


def _block_forever() -> None:
    log.warning("test hook: blocking the event loop (SIGUSR2)")
    while True:
        time.sleep(3600)
