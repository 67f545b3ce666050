"""The one I/O seam: a line's url becomes a byte transport (`open_transport`).

Layer: firmware-sim (I/O). The only module that touches ptys, sockets and pyserial. A line's `url` is
where the DAEMON connects; the simulator provides the other end:

- a path that does not exist, or a symlink to `/dev/pts/*` (one a simulator left behind): a pty pair.
  The slave's path is linked at `url` (an old link is replaced atomically). The simulator keeps the
  master AND its own slave fd open for its whole life, so the daemon may close and reopen the slave
  (restart, kill -9) without the master ever seeing EIO/hang-up. The link is removed on close.
- `socket://host:port`: a TCP listener; the daemon connects (and reconnects: the newest connection
  wins, an older one is closed). Bytes written while nobody is connected are dropped.
- an existing character device (a real RS-485 adapter): opened with pyserial-asyncio-fast.
- `memory_pair()`: two in-memory ends for tests.

Each `write` is given one whole frame and writes it with one call where the OS allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import stat
import termios
import tty
from pathlib import Path
from typing import Protocol

from station_sim.errors import TransportError

log = logging.getLogger(__name__)

PTY_PREFIX = "/dev/pts/"
READ_CHUNK = 4096
EIO_RETRY_S = 0.2
WRITE_TIMEOUT_S = 1.0


class Transport(Protocol):
    """A byte stream to the controller."""

    description: str

    async def read(self) -> bytes:
        """The next chunk of bytes (waits for one)."""
        ...

    async def write(self, data: bytes) -> None:
        """Send `data`; drops it (and logs) when the other end cannot take it."""
        ...

    async def close(self) -> None: ...


def classify(url: str) -> str:
    """ "tcp", "pty" or "serial" for a line url; `TransportError` when it is none of them."""
    if url.startswith("socket://"):
        return "tcp"
    path = Path(url)
    if path.is_symlink():
        target = os.readlink(path)
        if target.startswith(PTY_PREFIX):
            return "pty"
    if not os.path.lexists(path):
        return "pty"
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise TransportError(url, f"cannot stat: {exc.strerror}") from exc
    if stat.S_ISCHR(mode):
        return "serial"
    raise TransportError(url, "exists and is neither a character device nor a simulator pty link")


async def open_transport(url: str, *, baud: int = 9600, parity: str = "N", stop_bits: int = 1) -> Transport:
    kind = classify(url)
    if kind == "tcp":
        tcp = TcpTransport(url)
        await tcp.open()
        return tcp
    if kind == "pty":
        pty = PtyTransport(Path(url))
        pty.open()
        return pty
    ser = SerialTransport(url, baud, parity, stop_bits)
    await ser.open()
    return ser


class PtyTransport:
    """A pty pair whose slave is linked at the line's path (see the module docstring)."""

    def __init__(self, link: Path) -> None:
        self.link = link
        self.description = f"pty {link}"
        self.slave_name = ""
        self._master = -1
        self._slave = -1
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._loop: asyncio.AbstractEventLoop | None = None

    def open(self) -> None:
        self._loop = asyncio.get_running_loop()
        master, slave = os.openpty()
        tty.setraw(slave)
        attrs = termios.tcgetattr(slave)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.slave_name = os.ttyname(slave)
        tmp = self.link.with_name(f".{self.link.name}.{os.getpid()}.tmp")
        try:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            os.symlink(self.slave_name, tmp)
            os.replace(tmp, self.link)
        except OSError as exc:
            os.close(master)
            os.close(slave)
            raise TransportError(str(self.link), f"cannot link the pty: {exc.strerror or exc}") from exc
        self.description = f"pty {self.link} -> {self.slave_name}"
        self._loop.add_reader(master, self._on_readable)
        log.info("line %s: pty %s", self.link, self.slave_name)

    def _on_readable(self) -> None:
        try:
            data = os.read(self._master, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:
            # Should not happen while we hold a slave fd; back off and listen again.
            log.warning("%s: read error %s, retrying", self.description, exc)
            assert self._loop is not None
            self._loop.remove_reader(self._master)
            self._loop.call_later(EIO_RETRY_S, self._relisten)
            return
        if data:
            self._queue.put_nowait(data)

    def _relisten(self) -> None:
        if self._master >= 0 and self._loop is not None:
            self._loop.add_reader(self._master, self._on_readable)

    async def read(self) -> bytes:
        return await self._queue.get()

    async def write(self, data: bytes) -> None:
        if self._master < 0:
            return
        view = memoryview(data)
        flushed = False
        deadline = asyncio.get_running_loop().time() + WRITE_TIMEOUT_S
        while view:
            try:
                n = os.write(self._master, view)
                view = view[n:]
                continue
            except BlockingIOError:
                pass
            except OSError as exc:
                log.warning("%s: write error %s: frame dropped", self.description, exc)
                return
            if not flushed and len(view) == len(data):
                # Nobody has been reading the slave: throw away the stale bytes queued there.
                termios.tcflush(self._slave, termios.TCIFLUSH)
                flushed = True
                continue
            if asyncio.get_running_loop().time() > deadline:
                log.warning("%s: the daemon is not reading: %d bytes dropped", self.description, len(view))
                return
            await asyncio.sleep(0.005)

    async def close(self) -> None:
        if self._master >= 0:
            if self._loop is not None:
                self._loop.remove_reader(self._master)
            with contextlib.suppress(OSError):
                if os.readlink(self.link) == self.slave_name:
                    os.unlink(self.link)
            os.close(self._master)
            os.close(self._slave)
            self._master = self._slave = -1


class TcpTransport:
    """Listens on `socket://host:port`; the newest connection is the line."""

    def __init__(self, url: str) -> None:
        hostport = url.removeprefix("socket://").rstrip("/")
        host, _, port = hostport.rpartition(":")
        if not port.isdigit():
            raise TransportError(url, "expected socket://host:port")
        self.host = host.strip("[]") or "0.0.0.0"
        self.port = int(port)
        self.description = f"tcp listener {self.host}:{self.port}"
        self._server: asyncio.Server | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._queue: asyncio.Queue[bytes] = asyncio.Queue()

    async def open(self) -> None:
        try:
            self._server = await asyncio.start_server(self._client, self.host, self.port)
        except OSError as exc:
            raise TransportError(
                f"socket://{self.host}:{self.port}", f"cannot listen: {exc.strerror}"
            ) from exc

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        old, self._writer = self._writer, writer
        if old is not None:
            old.close()
        log.info("%s: controller connected from %s", self.description, writer.get_extra_info("peername"))
        try:
            while data := await reader.read(READ_CHUNK):
                if self._writer is writer:
                    self._queue.put_nowait(data)
        except OSError as exc:
            log.info("%s: connection lost: %s", self.description, exc)
        finally:
            if self._writer is writer:
                self._writer = None
            writer.close()

    async def read(self) -> bytes:
        return await self._queue.get()

    async def write(self, data: bytes) -> None:
        writer = self._writer
        if writer is None:
            log.debug("%s: no controller connected, %d bytes dropped", self.description, len(data))
            return
        try:
            writer.write(data)
            async with asyncio.timeout(WRITE_TIMEOUT_S):
                await writer.drain()
        except (OSError, TimeoutError) as exc:
            log.info("%s: write failed (%s)", self.description, exc)

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._server is not None:
            self._server.close()
            self._server = None


class SerialTransport:
    """A real serial device through pyserial-asyncio-fast."""

    def __init__(self, url: str, baud: int, parity: str, stop_bits: int) -> None:
        self.url, self.baud, self.parity, self.stop_bits = url, baud, parity, stop_bits
        self.description = f"serial {url} {baud} {parity}{stop_bits}"
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        import serial_asyncio_fast

        try:
            self._reader, self._writer = await serial_asyncio_fast.open_serial_connection(
                url=self.url, baudrate=self.baud, parity=self.parity, stopbits=self.stop_bits
            )
        except OSError as exc:
            raise TransportError(self.url, f"cannot open: {exc}") from exc

    async def read(self) -> bytes:
        assert self._reader is not None
        data = await self._reader.read(READ_CHUNK)
        if not data:
            raise TransportError(self.url, "serial device closed")
        return data

    async def write(self, data: bytes) -> None:
        assert self._writer is not None
        self._writer.write(data)
        await self._writer.drain()

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class MemoryTransport:
    """One end of an in-memory pair (tests)."""

    def __init__(self, description: str = "memory") -> None:
        self.description = description
        self.peer: MemoryTransport | None = None
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue()
        self.closed = False

    async def read(self) -> bytes:
        return await self.inbox.get()

    async def write(self, data: bytes) -> None:
        if self.peer is not None and not self.closed:
            self.peer.inbox.put_nowait(bytes(data))

    async def close(self) -> None:
        self.closed = True


def memory_pair() -> tuple[MemoryTransport, MemoryTransport]:
    a, b = MemoryTransport("memory sim"), MemoryTransport("memory controller")
    a.peer, b.peer = b, a
    return a, b
