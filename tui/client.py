"""The terminal UI's connection to the daemon: connect, subscribe, read, reconnect — forever.

Layer: tui (I/O shell; only `edge.control.messages` from edge). `FeedClient.run()` is the body of the
app's one feed worker:

    loop: connect ─fail─▶ Disconnected("daemon not running") ─ wait `retry_s` ─▶ connect …
            │ ok
            ▼
          hello ─▶ Connected(hello) ─▶ subscribe ─▶ Snapshot ─▶ events …  ─EOF/error─▶ Disconnected
Events that arrive together (one read burst) are handed over as one `Batch`; the sink must not block
(the app only stores them and posts one coalescing message). Requests (`request()`) go over the same
connection and fail with `NotConnected` while there is none.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from edge.control import messages as m
from tui.i18n import _

log = logging.getLogger(__name__)

RETRY_S = 1.0
CONNECT_TIMEOUT_S = 3.0
REQUEST_TIMEOUT_S = 30.0


class NotConnected(ConnectionError):
    """No connection to the daemon right now."""


@dataclass(frozen=True, slots=True)
class Connected:
    hello: m.Hello


@dataclass(frozen=True, slots=True)
class Disconnected:
    reason: str
    running: bool
    """False: nothing listens on the socket (daemon not running); True: the connection was lost."""


@dataclass(frozen=True, slots=True)
class Batch:
    events: tuple[m.Message, ...]


FeedItem = Connected | Disconnected | m.Snapshot | Batch


class FeedClient:
    def __init__(self, socket_path: str | Path, *, retry_s: float = RETRY_S) -> None:
        self.path = Path(socket_path)
        self.retry_s = retry_s
        self.hello: m.Hello | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Queue[m.Reply]] = {}
        self._subscribe_id = 0
        self._batch: list[m.Message] = []
        self._flush_scheduled = False
        self._sink: Callable[[FeedItem], None] = lambda item: None

    @property
    def connected(self) -> bool:
        return self._writer is not None

    async def run(self, sink: Callable[[FeedItem], None]) -> None:
        """Keep a subscribed connection to the daemon until cancelled, reporting into `sink`."""
        self._sink = sink
        while True:
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT_S):
                    reader, writer = await asyncio.open_unix_connection(
                        str(self.path), limit=m.MAX_LINE_BYTES
                    )
            except (OSError, TimeoutError) as exc:
                text = _("NOT RUNNING ({why}) — retrying").format(why=_why(exc))
                sink(Disconnected(text, running=False))
                await asyncio.sleep(self.retry_s)
                continue
            try:
                await self._session(reader, writer)
                reason = _("CLOSED by the daemon")
            except (OSError, ConnectionError, asyncio.IncompleteReadError, m.BadMessage) as exc:
                reason = _("CONNECTION LOST ({why})").format(why=_why(exc))
            finally:
                self._writer = None
                self._fail_pending()
                writer.close()
            self._flush()
            sink(Disconnected(_("{reason} — reconnecting").format(reason=reason), running=True))
            await asyncio.sleep(self.retry_s)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        first = await reader.readline()
        if not first:
            return
        hello = m.decode(first)
        if not isinstance(hello, m.Hello):
            raise m.BadMessage("expected hello", first)
        self.hello = hello
        self._writer = writer
        self._sink(Connected(hello))
        self._subscribe_id = next(self._ids)
        writer.write(m.encode(m.Subscribe(id=self._subscribe_id)))
        while line := await reader.readline():
            try:
                message = m.decode(line)
            except m.UnknownMessageType:
                continue  # a newer daemon: ignore what we do not know
            if isinstance(message, m.Snapshot) and message.re == self._subscribe_id:
                self._flush()
                self._sink(message)
            elif isinstance(message, m.Reply) and message.re is not None and message.re in self._pending:
                self._pending[message.re].put_nowait(message)
            elif isinstance(message, m.Bye):
                return
            elif not isinstance(message, m.Reply):
                self._batch.append(message)
                if not self._flush_scheduled:  # one batch per read burst: flushed when the reader waits
                    self._flush_scheduled = True
                    asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if self._batch:
            batch, self._batch = tuple(self._batch), []
            self._sink(Batch(batch))

    def _fail_pending(self) -> None:
        for queue in self._pending.values():
            queue.put_nowait(m.Error(code="disconnected", message="connection to the daemon lost"))

    def send(self, request: m.Request) -> m.Request:
        """Write a request (assigning its id); `replies(id)` then yields its answers."""
        if self._writer is None:
            raise NotConnected("not connected to the daemon")
        request = dataclasses.replace(request, id=next(self._ids))
        self._pending[request.id] = asyncio.Queue()
        self._writer.write(m.encode(request))
        return request

    async def reply(self, request_id: int, timeout_s: float = REQUEST_TIMEOUT_S) -> m.Reply:
        """The next answer to a sent request (a login may have two: a card challenge, then the result)."""
        queue = self._pending.get(request_id)
        if queue is None:
            raise NotConnected("no such request")
        async with asyncio.timeout(timeout_s):
            return await queue.get()

    def done(self, request_id: int) -> None:
        self._pending.pop(request_id, None)

    async def request(self, request: m.Request, timeout_s: float = REQUEST_TIMEOUT_S) -> m.Reply:
        sent = self.send(request)
        try:
            return await self.reply(sent.id, timeout_s)
        finally:
            self.done(sent.id)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()


def _why(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__
