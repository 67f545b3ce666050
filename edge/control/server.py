"""The control API server: a Unix socket in the daemon, one task group per client, never waiting on one.

Layer: edge (I/O shell; a component, `edge.control.component.CONTROL_API`). Bus events become
messages through the station's event routes (`edge.core.routes`).

    client ──connect──▶ hello
           ──subscribe──▶ snapshot (re) ─▶ events … (nozzle, sale, alarm, line_stats, trace, …)
           ──request {id, token}──▶ reply {re}     (several requests may run at once per client)

Per client: one bus `Subscription` (ordered events bounded by `queue_limit`, live values coalesced to
the latest per key) drained by one pump task that encodes and writes. A client is never waited for:

- its subscription overflows (it does not read fast enough)    → dropped (connection aborted)
- its socket write buffer exceeds `max_buffer_bytes`           → dropped
- its buffer stays above `high_water_bytes` for `stall_s`      → dropped

so the daemon holds at most `queue_limit` events + the coalesced values + `max_buffer_bytes` per client,
for at most `max_clients` clients. A dropped client reconnects and starts again from a snapshot. When
every connection is taken, a newcomer takes the place of the client idle longest (no request for
`IDLE_EVICT_S`), so idle subscribers never lock out `station status` or an operator.

The socket file is created with the configured permissions before it becomes reachable (bound under a
temporary name, chmod, renamed into place); a stale socket file is replaced, a live one (another
daemon) is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import secrets
import socket
import time
from collections import deque
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edge.auth.service import AuthService
from edge.control import messages as m
from edge.control.convert import Products, build_snapshot, decision_message
from edge.control.handlers import Commands
from edge.control.login import LoginFlow
from edge.control.shifts import TOTALS_WAIT_S, ShiftService
from edge.decisions import card_decision
from edge.errors import EdgeError
from edge.events import CardDecision, CardPresented, SaleStored, Subscription
from protocol.messages import TotalsRead
from storage.clock import Clock, utc_now
from storage.decisions import DecisionLog
from storage.errors import StorageError

if TYPE_CHECKING:
    from edge.station import Station

log = logging.getLogger(__name__)

SOFTWARE = "station-edge control/1"
CLIENT_QUEUE_LIMIT = 1000
"""Ordered events (sales, alarms …) a client may lag behind before it is dropped."""
HIGH_WATER_BYTES = 256 * 1024
"""Above this many unsent bytes, the pump waits (up to `STALL_S`) for the client to read."""
MAX_BUFFER_BYTES = 4 * 1024 * 1024
"""Unsent bytes at which a client is dropped at once."""
STALL_S = 10.0
DRAIN_CHECK_S = 0.1
MAX_CLIENTS = 32
IDLE_EVICT_S = 5.0
"""A connection idle this long is dropped when a new client finds every connection taken."""
WATCH_QUEUE_LIMIT = 10_000
WATCHED = (CardPresented, SaleStored, CardDecision)
"""What the server's own watch reads off the bus (a card for a login's second factor, a duty change, a
decision to keep for viewers)."""
"""The server's own subscription (cards for the login second factor, decisions, duty records)."""
MAX_REQUESTS_IN_FLIGHT = 4
RECENT_DECISIONS = 20
DEMO_ENV = "STATION_DEMO"
CONNECT_PROBE_S = 1.0


class ControlError(EdgeError):
    """The control server cannot start (socket path in use by a live daemon, bad folder …)."""


def demo_from_env() -> bool:
    """`STATION_DEMO=1` in the daemon's environment (set by `station demo`) allows the demo login."""
    return os.environ.get(DEMO_ENV, "") in ("1", "true", "yes")


@dataclass(eq=False)
class Connection:
    id: int
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    subscription: Subscription | None = None
    dropped: str = ""
    max_buffer_seen: int = 0
    sent: int = 0
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    last_active: float = field(default_factory=time.monotonic)
    """When it last sent a request (or connected): the longest idle one makes room when all are taken."""

    @property
    def buffered(self) -> int:
        return self.writer.transport.get_write_buffer_size()


class ControlServer:
    def __init__(
        self,
        station: Station,
        *,
        socket_path: Path | None = None,
        mode: int | None = None,
        demo: bool | None = None,
        clock: Clock = utc_now,
        queue_limit: int = CLIENT_QUEUE_LIMIT,
        high_water_bytes: int = HIGH_WATER_BYTES,
        max_buffer_bytes: int = MAX_BUFFER_BYTES,
        stall_s: float = STALL_S,
        max_clients: int = MAX_CLIENTS,
        totals_wait_s: float = TOTALS_WAIT_S,
        auth: AuthService | None = None,
    ) -> None:
        control = station.config.control
        default_path = station.config.storage.database.parent / "control.sock"
        self.station = station
        self.path = Path(socket_path or (control.socket if control else default_path))
        self.mode = mode if mode is not None else (control.mode if control else 0o660)
        configured_demo = bool(
            getattr(control, "demo", False)
        )  # `[control] demo = true`, once the model has it
        self.demo = (configured_demo or demo_from_env()) if demo is None else demo
        self.clock = clock
        self.queue_limit = queue_limit
        self.high_water_bytes = high_water_bytes
        self.max_buffer_bytes = max_buffer_bytes
        self.stall_s = stall_s
        self.max_clients = max_clients
        self.products = Products(station.config)
        self.auth = auth or AuthService(station.db, clock=clock, demo_enabled=self.demo)
        self.shifts = ShiftService(station, clock=clock, totals_wait_s=totals_wait_s)
        self.commands = Commands(station, self.auth, self.shifts, clock=clock)
        self.logins = LoginFlow(self.auth)
        self.connections: set[Connection] = set()
        self.decisions: deque[m.Decision] = deque(maxlen=RECENT_DECISIONS)
        self.dropped = 0
        self._ids = itertools.count(1)
        self._server: asyncio.Server | None = None
        self._watch_sub: Subscription | None = None
        self._change = asyncio.Event()

    # --- observing ----------------------------------------------------------------------------------

    def _changed(self) -> None:
        """Wake everyone in `wait_until` (a client came, subscribed, went or was dropped; the server
        started)."""
        self._change.set()
        self._change = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
        """Wait until `predicate()` holds, re-checking at every change of the server's clients."""
        async with asyncio.timeout(timeout_s):
            while True:
                change = self._change
                if predicate():
                    return
                await change.wait()

    @property
    def name(self) -> str:
        return "control API"

    async def run(self) -> None:
        """The component's loop (`serve_forever`)."""
        await self.serve_forever()

    @property
    def serving(self) -> bool:
        return self._server is not None

    # --- lifecycle ----------------------------------------------------------------------------------

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists() or self.path.is_symlink():
            if await _alive(self.path):
                raise ControlError(f"{self.path}: another daemon is serving the control API")
            self.path.unlink()
        temp = self.path.with_name(f".{self.path.name}.{secrets.token_hex(4)}")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(temp))
            os.chmod(temp, self.mode)
            os.replace(temp, self.path)
        except OSError as exc:
            sock.close()
            with contextlib.suppress(OSError):
                temp.unlink()
            raise ControlError(f"{self.path}: cannot create the control socket: {exc}") from exc
        self._server = await asyncio.start_unix_server(self._client, sock=sock, limit=m.MAX_LINE_BYTES)
        self._watch_sub = self.station.bus.subscribe(WATCH_QUEUE_LIMIT, only=WATCHED)
        await self._load_recent_decisions()
        self._changed()

    async def _load_recent_decisions(self) -> None:
        """The latest stored decisions, so a viewer after a restart still sees why a card was refused
        (each shown in the viewer's language from its stored code)."""
        try:
            stored = await DecisionLog(self.station.db).recent(RECENT_DECISIONS)
        except StorageError as exc:
            log.error("cannot read the recent card decisions: %s", exc)
            return
        for row in reversed(stored):
            self.decisions.append(decision_message(card_decision(row)))
        log.info(
            "control API on %s (mode %o%s)", self.path, self.mode, ", demo login allowed" if self.demo else ""
        )

    async def serve_forever(self) -> None:
        """Start, then watch the bus (cards for the login second factor, decisions, duty records) until
        cancelled; then close every connection and remove the socket."""
        if self._server is None:
            await self.start()
        try:
            await self._watch()
        finally:
            await self.close()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self.connections):
            for task in list(conn.tasks):
                task.cancel()
            transport = conn.writer.transport
            if conn.dropped or transport.is_closing() or conn.buffered > self.high_water_bytes:
                transport.abort()
            else:
                conn.writer.write(m.encode(m.Bye(reason="daemon stopping")))
                conn.writer.close()
        if self._watch_sub is not None:
            self._watch_sub.close()
        with contextlib.suppress(OSError):
            if self.path.is_socket():
                self.path.unlink()
        self._server = None

    async def _watch(self) -> None:
        while True:
            sub = self._watch_sub
            if sub is None or sub.overflowed or sub.closed:
                log.warning("control API fell behind the event bus; resubscribing")
                sub = self._watch_sub = self.station.bus.subscribe(WATCH_QUEUE_LIMIT, only=WATCHED)
            for event in await sub.wait():
                if isinstance(event, CardPresented):
                    try:
                        await self.auth.card_presented(event.asn)
                    except StorageError as exc:  # the login waits and times out; the watch goes on
                        log.error("card %s at a nozzle: cannot complete a login: %s", event.asn[-4:], exc)
                elif isinstance(event, SaleStored) and event.t_type & 0x0F in (5, 6):
                    self._read_totals_of(event.line, event.dispenser)
                elif isinstance(event, CardDecision):
                    self.decisions.append(decision_message(event))
                    self._changed()

    def _read_totals_of(self, line: str, dispenser: int) -> None:
        """A duty change: read the totals so the shift reports have a reading near it."""
        for session in self.station.sessions.get(line, []):
            if session.pos_p == dispenser:
                session.request_read(TotalsRead())

    # --- one client ---------------------------------------------------------------------------------

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(next(self._ids), reader, writer)
        writer.transport.set_write_buffer_limits(high=self.high_water_bytes)
        if len(self.connections) >= self.max_clients and not self._make_room():
            writer.write(m.encode(m.Error(code=m.ErrorCode.BUSY, message="too many control clients")))
            writer.close()
            return
        self.connections.add(conn)
        self._changed()
        log.info("control client %d connected", conn.id)
        limiter = asyncio.Semaphore(MAX_REQUESTS_IN_FLIGHT)
        station = self.station.config.station
        try:
            hello = m.Hello(
                station.id, station.name, software=SOFTWARE, demo=self.demo, language=station.language
            )
            self._send(conn, hello)
            async with asyncio.TaskGroup() as tg:
                await self._read_requests(conn, tg, limiter)
                for task in list(conn.tasks):
                    task.cancel()
        except* (ConnectionError, OSError) as group:
            log.info("control client %d: %s", conn.id, group.exceptions[0])
        finally:
            for task in list(conn.tasks):
                task.cancel()
            if conn.subscription is not None:
                conn.subscription.close()
            self.connections.discard(conn)
            self._changed()
            if conn.dropped:
                writer.transport.abort()
            else:
                writer.close()
            log.info("control client %d gone%s", conn.id, f" ({conn.dropped})" if conn.dropped else "")

    async def _read_requests(
        self, conn: Connection, tg: asyncio.TaskGroup, limiter: asyncio.Semaphore
    ) -> None:
        while not conn.dropped:
            try:
                line = await conn.reader.readline()
            except (ValueError, asyncio.LimitOverrunError):
                self._send(conn, m.Error(code=m.ErrorCode.BAD_REQUEST, message="line too long"))
                self._drop(conn, "sent a line that is too long")
                return
            if not line:
                return
            if not line.strip():
                continue
            conn.last_active = time.monotonic()
            await limiter.acquire()
            task = tg.create_task(self._request(conn, line, tg, limiter))
            conn.tasks.add(task)
            task.add_done_callback(conn.tasks.discard)

    async def _request(
        self, conn: Connection, line: bytes, tg: asyncio.TaskGroup, limiter: asyncio.Semaphore
    ) -> None:
        try:
            try:
                message = m.decode(line)
            except m.UnsupportedVersion as exc:
                self._send(conn, m.Error(code=m.ErrorCode.UNSUPPORTED_VERSION, message=str(exc)))
                return
            except m.UnknownMessageType as exc:
                self._send(conn, m.Error(code=m.ErrorCode.UNKNOWN_TYPE, message=str(exc)))
                return
            except m.BadMessage as exc:
                self._send(conn, m.Error(code=m.ErrorCode.BAD_REQUEST, message=str(exc)))
                return
            if not isinstance(message, m.Request):
                self._send(
                    conn, m.Error(code=m.ErrorCode.BAD_REQUEST, message=f"{message.TYPE} is not a request")
                )
                return
            try:
                reply = await self._dispatch(conn, message, tg)
            except StorageError as exc:
                log.error("control request %s failed: %s", message.TYPE, exc)
                reply = m.Error(code=m.ErrorCode.INTERNAL, message=f"the station database failed: {exc}")
            if reply is not None:
                self._send(conn, m.reply_to(message, reply))
                await self._flush(conn)
        finally:
            limiter.release()

    async def _dispatch(self, conn: Connection, request: m.Request, tg: asyncio.TaskGroup) -> m.Reply | None:
        match request:
            case m.Ping():
                return m.Ok(message="pong")
            case m.GetSnapshot():
                return await self._snapshot()
            case m.Subscribe():
                if conn.subscription is not None:
                    return m.Error(code=m.ErrorCode.CONFLICT, message="already subscribed")
                conn.subscription = self.station.bus.subscribe(self.queue_limit)
                self._changed()
                self._send(conn, m.reply_to(request, await self._snapshot()))
                task = tg.create_task(self._pump(conn, conn.subscription))
                conn.tasks.add(task)
                task.add_done_callback(conn.tasks.discard)
                return None
            case m.Login():
                return await self.logins.login(
                    request,
                    lambda message: self._send(conn, message),
                    lambda coro: self._spawn(conn, tg, coro),
                )
            case m.LoginCard():
                return await self.logins.card(request)
            case m.DemoLogin():
                return await self.logins.demo()
            case m.AuthRequest():
                return await self.commands.run(request)
            case _:
                return m.Error(code=m.ErrorCode.UNKNOWN_TYPE, message=f"{request.TYPE} is not handled")

    def _spawn(self, conn: Connection, tg: asyncio.TaskGroup, coro: Coroutine[Any, Any, None]) -> None:
        """Run `coro` as one of the connection's tasks (cancelled when the connection goes)."""
        task = tg.create_task(coro)
        conn.tasks.add(task)
        task.add_done_callback(conn.tasks.discard)

    async def _snapshot(self) -> m.Snapshot:
        return await build_snapshot(
            self.station,
            products=self.products,
            shift=await self.shifts.current(),
            decisions=tuple(self.decisions),
            demo=self.demo,
            software=SOFTWARE,
        )

    async def _pump(self, conn: Connection, sub: Subscription) -> None:
        """Drain this client's subscription into its socket; drop the client rather than wait for it."""
        while not conn.dropped:
            events = await sub.wait()
            if sub.overflowed:
                self._drop(conn, f"too slow: more than {self.queue_limit} events behind")
                return
            if sub.closed:
                return
            for event in events:
                message = self.station.routes.to_control(event, self.products)
                if message is not None and not self._send(conn, message):
                    return
            await self._flush(conn)

    # --- writing ------------------------------------------------------------------------------------

    def _send(self, conn: Connection, message: m.Message) -> bool:
        if conn.dropped or conn.writer.transport.is_closing():
            return False
        conn.writer.write(m.encode(message))
        conn.sent += 1
        buffered = conn.buffered
        conn.max_buffer_seen = max(conn.max_buffer_seen, buffered)
        if buffered > self.max_buffer_bytes:
            self._drop(conn, f"too slow: {buffered} bytes unread")
            return False
        return True

    async def _flush(self, conn: Connection) -> None:
        """Above the high-water mark, give the client up to `stall_s` to read; drop it at once if its
        subscription overflows meanwhile (checked every `DRAIN_CHECK_S`)."""
        if conn.dropped or conn.buffered <= self.high_water_bytes:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.stall_s
        while not conn.dropped and conn.buffered > self.high_water_bytes:
            sub = conn.subscription
            if sub is not None and sub.overflowed:
                self._drop(conn, f"too slow: more than {self.queue_limit} events behind")
                return
            if loop.time() >= deadline:
                self._drop(conn, f"stalled: not reading for {self.stall_s:.0f} s")
                return
            try:
                async with asyncio.timeout(DRAIN_CHECK_S):
                    await conn.writer.drain()
            except TimeoutError:
                continue
            except (ConnectionError, OSError):
                self._drop(conn, "connection lost")
                return

    def _make_room(self) -> bool:
        """All connections taken: drop the one idle longest, if it has been idle IDLE_EVICT_S (it may
        reconnect). So idle subscribers never lock out a newcomer such as `station status`."""
        now = time.monotonic()
        idle = min(self.connections, key=lambda c: c.last_active, default=None)
        if idle is None or now - idle.last_active < IDLE_EVICT_S:
            return False
        self._send(idle, m.Bye(reason="making room for another control client"))
        self._drop(idle, f"idle for {now - idle.last_active:.0f} s with every connection taken")
        self.connections.discard(idle)
        return True

    def _drop(self, conn: Connection, why: str) -> None:
        if conn.dropped:
            return
        conn.dropped = why
        self.dropped += 1
        self._changed()
        log.warning("control client %d dropped: %s", conn.id, why)
        if conn.subscription is not None:
            conn.subscription.close()
        conn.writer.transport.abort()


async def _alive(path: Path) -> bool:
    """Does a process accept connections on this socket path?"""
    try:
        async with asyncio.timeout(CONNECT_PROBE_S):
            _reader, writer = await asyncio.open_unix_connection(str(path))
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
