"""The one transport seam: `open_line(url)` → a byte pipe to a serial line.

Layer: edge (I/O shell). The only module that touches pyserial. A URL is a serial device path
(`/dev/ttyUSB0`, `/dev/ttyAMA0`, a pty or a symlink to one) opened with pyserial-asyncio, or
`socket://host:port` for dispensers (or a serial-to-Ethernet converter) reached over TCP.
Tests swap in any object with the same `LineIO` shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Protocol

import serial
import serial_asyncio_fast

from edge.errors import EdgeError

log = logging.getLogger(__name__)

READ_CHUNK = 4096
WRITE_TIMEOUT_S = 5.0
"""A write that cannot drain within this time means the line is stuck (a pty nobody reads, a
wedged USB adapter): the line is closed and reopened."""
_PARITY = {"N": serial.PARITY_NONE, "E": serial.PARITY_EVEN, "O": serial.PARITY_ODD}


class TransportError(EdgeError, OSError):
    """The line could not be opened or was lost."""


class LineIO(Protocol):
    async def read(self) -> bytes: ...
    async def write(self, data: bytes) -> None: ...
    async def close(self) -> None: ...


@dataclass(slots=True)
class StreamLine:
    """A line over asyncio streams (serial or TCP)."""

    url: str
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    async def read(self) -> bytes:
        try:
            data = await self.reader.read(READ_CHUNK)
        except (OSError, serial.SerialException) as exc:
            raise TransportError(f"{self.url}: read failed: {exc}") from exc
        if not data:
            raise TransportError(f"{self.url}: closed by the other side")
        return data

    async def write(self, data: bytes) -> None:
        try:
            self.writer.write(data)
            if self._written():
                return  # nothing to wait for: no timer armed for every frame
            async with asyncio.timeout(WRITE_TIMEOUT_S):
                await self.writer.drain()
        except TimeoutError as exc:
            raise TransportError(f"{self.url}: write stuck for {WRITE_TIMEOUT_S} s") from exc
        except (OSError, serial.SerialException) as exc:
            raise TransportError(f"{self.url}: write failed: {exc}") from exc

    def _written(self) -> bool:
        """Whether the transport took all of the data and is healthy, so `drain()` would return at once."""
        transport = self.writer.transport
        return (
            transport.get_write_buffer_size() == 0
            and not transport.is_closing()
            and self.reader.exception() is None
        )

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError, serial.SerialException):
            await self.writer.wait_closed()


async def open_line(url: str, baud: int = 9600, parity: str = "N", stop_bits: int = 1) -> StreamLine:
    """Open `url` (see the module docstring); raises `TransportError`."""
    try:
        if url.startswith("socket://"):
            host, _, port = url.removeprefix("socket://").rpartition(":")
            reader, writer = await asyncio.open_connection(host or "127.0.0.1", int(port))
        else:
            reader, writer = await serial_asyncio_fast.open_serial_connection(
                url=url,
                baudrate=baud,
                parity=_PARITY[parity],
                stopbits=serial.STOPBITS_TWO if stop_bits == 2 else serial.STOPBITS_ONE,
                bytesize=serial.EIGHTBITS,
            )
    except (OSError, ValueError, serial.SerialException) as exc:
        raise TransportError(f"{url}: cannot open: {exc}") from exc
    log.info("line %s open at %d baud %s%d", url, baud, parity, stop_bits)
    return StreamLine(url, reader, writer)
