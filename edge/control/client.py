"""A small asyncio client of the control API, for CLI tools (`station status`) and tests.

Layer: edge (I/O shell; only `edge.control.messages` besides the standard library). The terminal UI
has its own reconnecting client in `tui.client`.

    client = await ControlClient.connect(path)      # reads the daemon's hello
    reply = await client.request(m.GetSnapshot())   # ids are assigned here; waits for re == id
    event = await client.next_event()               # after a Subscribe
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from edge.control import messages as m
from edge.errors import EdgeError

CONNECT_TIMEOUT_S = 5.0
REPLY_TIMEOUT_S = 30.0
EVENT_BUFFER = 10_000

R = TypeVar("R", bound=m.Message)


class DaemonNotRunning(EdgeError, ConnectionError):
    """Nothing answers on the control socket."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(f"the station daemon is not running (no control API at {path}: {why})")
        self.path = path


class DaemonBusy(EdgeError, ConnectionError):
    """The daemon runs but refused the connection (every control connection taken)."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(f"the station daemon is running but refused the connection at {path}: {why}")
        self.path = path


class ConnectionClosed(EdgeError, ConnectionError):
    """The daemon closed the connection."""


class ControlClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, hello: m.Hello) -> None:
        self.reader = reader
        self.writer = writer
        self.hello = hello
        self.events: asyncio.Queue[m.Message] = asyncio.Queue(EVENT_BUFFER)
        self._ids = itertools.count(1)
        self._replies: dict[int, asyncio.Queue[m.Reply]] = {}
        self._closed = asyncio.Event()
        self._reader_task = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def connect(cls, path: str | Path, timeout_s: float = CONNECT_TIMEOUT_S) -> ControlClient:
        path = Path(path)
        try:
            async with asyncio.timeout(timeout_s):
                reader, writer = await asyncio.open_unix_connection(str(path), limit=m.MAX_LINE_BYTES)
                first = await reader.readline()
        except (OSError, TimeoutError) as exc:
            raise DaemonNotRunning(path, str(exc) or type(exc).__name__) from exc
        if not first:
            writer.close()
            raise DaemonNotRunning(path, "closed at once")
        try:
            hello = m.decode(first)
        except m.BadMessage as exc:
            writer.close()
            raise DaemonNotRunning(path, f"not a station control API: {exc}") from exc
        if isinstance(hello, m.Error) and hello.code == m.ErrorCode.BUSY:
            writer.close()
            raise DaemonBusy(path, hello.message)
        if not isinstance(hello, m.Hello):
            writer.close()
            raise DaemonNotRunning(path, f"expected hello, got {hello.TYPE}")
        return cls(reader, writer, hello)

    async def _read(self) -> None:
        try:
            while line := await self.reader.readline():
                try:
                    message = m.decode(line)
                except m.BadMessage:
                    continue
                if isinstance(message, m.Reply) and message.re is not None:
                    self._replies.setdefault(message.re, asyncio.Queue()).put_nowait(message)
                elif self.events.full():
                    self.events.get_nowait()  # keep the newest
                    self.events.put_nowait(message)
                else:
                    self.events.put_nowait(message)
        except (ConnectionError, OSError, ValueError):
            pass
        finally:
            self._closed.set()

    def send(self, request: m.Request) -> m.Request:
        """Write a request (assigning its id) without waiting for the reply."""
        if not request.id:
            request = dataclasses.replace(request, id=next(self._ids))
        self._replies.setdefault(request.id, asyncio.Queue())
        self.writer.write(m.encode(request))
        return request

    async def reply(self, re: int, timeout_s: float = REPLY_TIMEOUT_S) -> m.Reply:
        """The next reply to request `re` (a login may have two: the challenge, then the result)."""
        queue = self._replies.setdefault(re, asyncio.Queue())
        getter = asyncio.ensure_future(queue.get())
        closed = asyncio.ensure_future(self._closed.wait())
        try:
            async with asyncio.timeout(timeout_s):
                done, _ = await asyncio.wait({getter, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
            if not getter.done():
                getter.cancel()
        if getter in done:
            return getter.result()
        raise ConnectionClosed("the daemon closed the connection")

    async def request(self, request: m.Request, timeout_s: float = REPLY_TIMEOUT_S) -> m.Reply:
        sent = self.send(request)
        await self.writer.drain()
        return await self.reply(sent.id, timeout_s)

    async def next_event(self, timeout_s: float = REPLY_TIMEOUT_S) -> m.Message:
        async with asyncio.timeout(timeout_s):
            return await self.events.get()

    async def wait_for(
        self,
        kind: type[R],
        predicate: Callable[[R], bool] = lambda _: True,
        timeout_s: float = REPLY_TIMEOUT_S,
    ) -> R:
        """The next event of type `kind` matching `predicate` (earlier ones are skipped)."""
        async with asyncio.timeout(timeout_s):
            while True:
                event = await self.events.get()
                if isinstance(event, kind) and predicate(event):
                    return event

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def wait_closed(self, timeout_s: float = REPLY_TIMEOUT_S) -> None:
        async with asyncio.timeout(timeout_s):
            await self._closed.wait()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()
        self._reader_task.cancel()
        try:
            await self._reader_task
        except asyncio.CancelledError:
            # the reader's own cancellation ends here; a cancellation of this task goes on
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
