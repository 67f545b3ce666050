"""An in-memory line pair for unit tests of the line drivers (byte-at-a-time capable)."""

from __future__ import annotations

import asyncio

from edge.transport import TransportError


class MemoryEnd:
    def __init__(self, inbox: asyncio.Queue[bytes], outbox: asyncio.Queue[bytes], chunk: int = 0) -> None:
        self.inbox = inbox
        self.outbox = outbox
        self.chunk = chunk
        self.written: list[bytes] = []
        self.closed = False
        self.on_write: list[object] = []

    async def read(self) -> bytes:
        data = await self.inbox.get()
        if not data:
            raise TransportError("closed")
        return data

    async def write(self, data: bytes) -> None:
        self.written.append(data)
        for hook in self.on_write:
            hook(data)  # type: ignore[operator]
        if self.chunk:
            for i in range(0, len(data), self.chunk):
                self.outbox.put_nowait(data[i : i + self.chunk])
        else:
            self.outbox.put_nowait(data)

    async def close(self) -> None:
        self.closed = True


def memory_pair(chunk: int = 0) -> tuple[MemoryEnd, MemoryEnd]:
    a: asyncio.Queue[bytes] = asyncio.Queue()
    b: asyncio.Queue[bytes] = asyncio.Queue()
    return MemoryEnd(a, b, chunk), MemoryEnd(b, a, chunk)
