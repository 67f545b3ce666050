"""The outbox pump: queued messages to the broker in seq order, deleted only after their PUBACK.

Layer: uplink. Runs for the life of one connection (`run(link)`); the service starts a new run after
each reconnect. Per run:

    cursor = 0                                   everything still queued is (re)sent, oldest first
    loop: rows = peek_after(cursor, batch)       one DB read per batch (default 500 rows)
          for each row: wait for window room     at most `window` PUBLISHes unacknowledged
                        publish, cursor = seq
          (yield to the event loop every YIELD_EVERY messages)
    on PUBACK: seq → acked list ─▶ flusher deletes acked rows in one transaction per
                                   `flush_rows` acks or `flush_s`, whichever comes first

Order: rows are published in seq order on one connection and the broker forwards them in order. On
a reconnect the unacknowledged rows are sent again, oldest first, so after dropping duplicates by key
the centre sees every message in the original order. A crash between PUBACK and the delete means the
message is sent again after restart (at least once); the centre drops the copy by its key.

With `max_rate_per_s` the pump never sends faster than that (a backlog then leaves CPU to the lines
of a slow box); 0 means as fast as the window allows.

A PUBACK with a failure reason (e.g. 0x87 not authorised) fails the connection: the row stays queued
and is retried after the back-off, and the monitor raises the alarm uplink/publish_refused. Nothing is
ever dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from dataclasses import dataclass
from typing import Final, Protocol

from storage.errors import StorageError
from storage.outbox import Outbox
from storage.uplink_store import UplinkStore
from uplink.errors import LinkError, PublishRejected

log = logging.getLogger(__name__)

YIELD_EVERY: Final = 32
"""Messages published between two yields to the event loop (keeps the dispenser lines responsive)."""


class PublishLink(Protocol):
    send_quota: int

    def publish(
        self, topic: str, payload: bytes, qos: int = 1, retain: bool = False
    ) -> asyncio.Future[None]: ...

    def fail(self, exc: LinkError) -> None: ...


@dataclass(slots=True)
class PumpStats:
    sent: int = 0
    """PUBLISHes sent (re-sends after a reconnect included)."""
    acked: int = 0
    """PUBACKs received."""
    deleted: int = 0
    """Rows deleted from the outbox."""
    in_flight: int = 0
    rejected: int = 0
    """PUBACKs with a failure reason."""
    last_ack_mono: float | None = None
    last_rejection: str | None = None
    last_rejection_mono: float | None = None

    @property
    def refused(self) -> bool:
        """The broker refused a message and has acknowledged none since."""
        if self.last_rejection_mono is None:
            return False
        return self.last_ack_mono is None or self.last_ack_mono < self.last_rejection_mono


class OutboxPump:
    def __init__(
        self,
        store: UplinkStore,
        outbox: Outbox,
        *,
        window: int = 64,
        batch: int = 500,
        flush_rows: int = 500,
        flush_s: float = 0.1,
        idle_poll_s: float = 0.5,
        max_rate_per_s: float = 0.0,
    ) -> None:
        self._store = store
        self._outbox = outbox
        self._window = window
        self._batch = batch
        self._flush_rows = flush_rows
        self._flush_s = flush_s
        self._idle_poll_s = idle_poll_s
        self._max_rate = max_rate_per_s
        self._wake = asyncio.Event()
        self._flush_now = asyncio.Event()
        self._acked: list[int] = []
        self.stats = PumpStats()
        self.drained = asyncio.Event()
        """Set while the outbox is known empty (nothing queued, in flight or waiting for deletion)."""
        self._epoch = 0
        self._drained_epoch = -1

    def wake(self) -> None:
        """New rows were queued: look now rather than at the next idle poll."""
        self._wake.set()

    async def wait_drained(self) -> None:
        """Wait until the pump has seen the outbox empty in a check that began after this call
        (everything queued before the call was delivered and deleted). Use with a deadline."""
        self._epoch += 1
        wanted = self._epoch
        self.wake()
        while self._drained_epoch < wanted:
            self.drained.clear()
            await self.drained.wait()

    async def run(self, link: PublishLink) -> None:
        """Send queued messages over `link` until cancelled or the link fails."""
        await self._flush()  # acks of the previous connection: never re-send what was acknowledged
        window = max(1, min(self._window, link.send_quota))
        room = asyncio.Semaphore(window)
        cursor = 0
        loop = asyncio.get_running_loop()
        began, sent = loop.time(), 0
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._flusher())
            while True:
                self._wake.clear()
                epoch = self._epoch
                rows = await self._store.peek_after(cursor, self._batch)
                if not rows:
                    if (
                        self.stats.in_flight == 0
                        and not self._acked
                        and not await self._store.peek_after(0, 1)
                    ):
                        self._drained_epoch = epoch
                        self.drained.set()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self._idle_poll_s):
                            await self._wake.wait()
                    continue
                self.drained.clear()
                for n, (seq, msg) in enumerate(rows, 1):
                    await room.acquire()
                    try:
                        fut = link.publish(msg.topic, msg.payload, msg.qos)
                    except BaseException:
                        room.release()
                        raise
                    self.stats.sent += 1
                    self.stats.in_flight += 1
                    fut.add_done_callback(functools.partial(self._done, seq, room, link))
                    cursor = seq
                    sent += 1
                    if n % YIELD_EVERY == 0:
                        # Yield to the lines; with a rate cap, also wait until the cap allows more.
                        ahead = sent / self._max_rate - (loop.time() - began) if self._max_rate else 0.0
                        await asyncio.sleep(max(0.0, ahead))

    def _done(self, seq: int, room: asyncio.Semaphore, link: PublishLink, fut: asyncio.Future[None]) -> None:
        room.release()
        self.stats.in_flight -= 1
        if fut.cancelled():
            return
        exc = fut.exception()
        if exc is None:
            self._acked.append(seq)
            self.stats.acked += 1
            self.stats.last_ack_mono = time.monotonic()
            if len(self._acked) >= self._flush_rows:
                self._flush_now.set()
        elif isinstance(exc, PublishRejected):
            self.stats.rejected += 1
            self.stats.last_rejection = str(exc)
            self.stats.last_rejection_mono = time.monotonic()
            log.error("outbox row %d: %s; connection restarted, the row stays queued", seq, exc)
            link.fail(exc)

    async def _flusher(self) -> None:
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._flush_s):
                        await self._flush_now.wait()
                self._flush_now.clear()
                await self._flush()
        finally:
            # Connection gone or shutting down: delete what was acknowledged, if the database lets us.
            with contextlib.suppress(StorageError):
                await asyncio.shield(self._flush())

    async def _flush(self) -> None:
        if not self._acked:
            return
        seqs, self._acked = self._acked, []
        try:
            self.stats.deleted += await self._outbox.delete(seqs)
        except BaseException:
            self._acked[:0] = seqs  # try again next time; the rows are still queued meanwhile
            raise

    @property
    def acked_pending_delete(self) -> int:
        return len(self._acked)
