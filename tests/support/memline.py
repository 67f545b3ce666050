"""In-memory line pairs for unit tests of the line drivers: whole writes, byte at a time, lossy, delayed.

`memory_pair()` gives the two ends of a line; what one end writes, the other reads. Variants:

- `chunk=1`: every write arrives one byte at a time (the reader must reassemble frames);
- `lossy=LossyEvery(n)`: every n-th write is lost on the wire (deterministic, so tests are repeatable);
- `delay_s`: each write arrives after a delay (a slow line, late answers).

`MemoryEnd.hang_up()` makes the other end's next read fail as a lost line does (`TransportError`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from edge.transport import TransportError


@dataclass
class LossyEvery:
    """Loses every `n`-th write (counting from 1)."""

    n: int
    count: int = 0
    lost: list[bytes] = field(default_factory=list)

    def __call__(self, data: bytes) -> bool:
        self.count += 1
        if self.count % self.n == 0:
            self.lost.append(data)
            return True
        return False


class MemoryEnd:
    def __init__(
        self,
        inbox: asyncio.Queue[bytes],
        outbox: asyncio.Queue[bytes],
        chunk: int = 0,
        *,
        lossy: Callable[[bytes], bool] | None = None,
        delay_s: float = 0.0,
    ) -> None:
        self.inbox = inbox
        self.outbox = outbox
        self.chunk = chunk
        self.lossy = lossy
        self.delay_s = delay_s
        self.written: list[bytes] = []
        self.closed = False
        self.on_write: list[Callable[[bytes], object]] = []
        self._pending: set[asyncio.Task[None]] = set()

    async def read(self) -> bytes:
        data = await self.inbox.get()
        if not data:
            raise TransportError("closed")
        return data

    async def write(self, data: bytes) -> None:
        self.written.append(data)
        for hook in self.on_write:
            hook(data)
        if self.lossy is not None and self.lossy(data):
            return
        if self.delay_s:
            task = asyncio.get_running_loop().create_task(self._deliver_later(data))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)
        else:
            self._deliver(data)

    def _deliver(self, data: bytes) -> None:
        if self.chunk:
            for i in range(0, len(data), self.chunk):
                self.outbox.put_nowait(data[i : i + self.chunk])
        else:
            self.outbox.put_nowait(data)

    async def _deliver_later(self, data: bytes) -> None:
        await asyncio.sleep(self.delay_s)
        self._deliver(data)

    def hang_up(self) -> None:
        """The line is gone: the other end's next read raises `TransportError`."""
        self.outbox.put_nowait(b"")

    async def close(self) -> None:
        self.closed = True
        for task in self._pending:
            task.cancel()


def memory_pair(
    chunk: int = 0, *, lossy: Callable[[bytes], bool] | None = None, delay_s: float = 0.0
) -> tuple[MemoryEnd, MemoryEnd]:
    """(controller end, dispenser end); `lossy` and `delay_s` apply to what the dispenser end writes."""
    a: asyncio.Queue[bytes] = asyncio.Queue()
    b: asyncio.Queue[bytes] = asyncio.Queue()
    return MemoryEnd(a, b, chunk), MemoryEnd(b, a, chunk, lossy=lossy, delay_s=delay_s)
