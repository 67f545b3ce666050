"""Serve a reader slot's virtual card to the real pcscd through the vsmartcard vpcd driver.

Layer: firmware-sim (asyncio I/O shell over the pure `CardSlot`). The vpcd driver in pcscd listens on a
TCP port (35963 = 0x8C7B for reader "Virtual PCD 00 00", +1 for "00 01"); a card is present while a
client is connected to it. Every message both ways is framed::

    +--------+--------+-----------------+
    | len hi | len lo | payload (len)   |
    +--------+--------+-----------------+

    vpcd -> card   1-byte payload: 00 power off, 01 power on, 02 reset, 04 send the ATR
                   longer payload: a command APDU
    card -> vpcd   the ATR (after 04) or the response APDU; nothing after 00 / 01 / 02

TCP_QUICKACK is set again after every read (Linux clears it), or each APDU waits ~40 ms for a delayed
ACK. Inserting the card connects; a torn APDU closes the connection without an answer (the card was
pulled mid-command).

Removing closes the connection. The reader then stays empty for at least `MIN_OUT_S` before the next
card connects (a swap takes a person longer too): pcscd looks for the card every 400 ms, and vpcd
accepts a waiting connection as soon as it finds the old one dead, so a card closed and another one
connected between two of its looks would seem to pcscd the same card, never removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket

from station_sim.card.core import VirtualCard
from station_sim.card.slot import CardSlot
from station_sim.errors import SimError

log = logging.getLogger(__name__)

VPCD_PORT = 0x8C7B
CTRL_OFF = 0x00
CTRL_ON = 0x01
CTRL_RESET = 0x02
CTRL_ATR = 0x04
CONNECT_RETRY_S = 0.2
MIN_OUT_S = 1.0  # the reader stays empty this long between two cards (pcscd polls every 0.4 s)


class VpcdError(SimError):
    """The vpcd driver cannot be reached."""


class VpcdCard:
    """One vpcd slot: insert / remove / swap a card, serve it while inserted."""

    def __init__(self, slot: CardSlot, host: str = "127.0.0.1", port: int = VPCD_PORT) -> None:
        self.slot = slot
        self.host = host
        self.port = port
        self._task: asyncio.Task[None] | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.connected = asyncio.Event()
        self._out_since: float | None = None  # loop time the last card left the reader
        self.served = 0  # APDUs answered in this process (all insertions)

    @property
    def inserted(self) -> bool:
        return self.slot.present and self._task is not None and not self._task.done()

    async def insert(self, card: VirtualCard, connect_timeout_s: float = 30.0) -> None:
        """Put `card` in the reader: connect to vpcd (retrying until it listens) and serve it."""
        await self.remove()
        await self._dwell()
        self.slot.insert(card)
        reader, writer = await self._connect(connect_timeout_s)
        self._writer = writer
        self.connected.set()
        self._task = asyncio.create_task(self._serve(reader, writer), name=f"vpcd:{self.port}")
        log.info("card %s inserted in vpcd port %d", card.state.asn, self.port)

    async def remove(self) -> VirtualCard | None:
        """Pull the card out (close the connection); the card, or None if there was none."""
        task, self._task = self._task, None
        writer, self._writer = self._writer, None
        self.connected.clear()
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if task is not None or writer is not None:
            self._out_since = asyncio.get_running_loop().time()
        card = self.slot.remove()
        if card is None and self.slot.ejected is not None:
            card, self.slot.ejected = self.slot.ejected, None
        if card is not None:
            log.info("card %s removed from vpcd port %d", card.state.asn, self.port)
        return card

    async def swap(self, card: VirtualCard) -> VirtualCard | None:
        """Remove the card in the reader (if any) and insert `card`; the card taken out."""
        old = await self.remove()
        await self.insert(card)
        return old

    async def _dwell(self) -> None:
        """Keep the reader empty for `MIN_OUT_S` after the last card left (so pcscd sees it empty)."""
        if self._out_since is None:
            return
        remaining = self._out_since + MIN_OUT_S - asyncio.get_running_loop().time()
        if remaining > 0:
            await asyncio.sleep(remaining)

    async def wait_removed(self) -> None:
        """Until the card is out (a torn APDU ends the connection by itself)."""
        task = self._task
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(task)

    async def close(self) -> None:
        await self.remove()

    async def _connect(self, timeout_s: float) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            try:
                reader, writer = await asyncio.open_connection(self.host, self.port)
            except OSError as exc:
                if loop.time() >= deadline:
                    raise VpcdError(f"vpcd at {self.host}:{self.port} does not answer: {exc}") from exc
                await asyncio.sleep(CONNECT_RETRY_S)
                continue
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return reader, writer

    @staticmethod
    def _quickack(writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None and hasattr(socket, "TCP_QUICKACK"):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readexactly(2)
                    self._quickack(writer)
                    payload = await reader.readexactly(int.from_bytes(head, "big"))
                except (asyncio.IncompleteReadError, ConnectionError, OSError):
                    log.info("vpcd port %d closed the connection", self.port)
                    return
                self._quickack(writer)
                if len(payload) == 1:
                    log.debug("vpcd port %d: control %02X", self.port, payload[0])
                answer = self._answer(payload)
                if answer is None and len(payload) > 1:
                    log.info("vpcd port %d: card torn, connection closed without an answer", self.port)
                    return
                if answer is not None:
                    writer.write(len(answer).to_bytes(2, "big") + answer)
                    await writer.drain()
        finally:
            writer.close()
            self.connected.clear()
            self._out_since = asyncio.get_running_loop().time()

    def _answer(self, payload: bytes) -> bytes | None:
        if len(payload) == 1:
            match payload[0]:
                case 0x00:
                    self.slot.power_off()
                case 0x01 | 0x02:
                    self.slot.power_on()
                case 0x04:
                    return self.slot.atr() or b""
                case other:
                    log.warning("vpcd port %d: unknown control byte %02X", self.port, other)
            return None
        response = self.slot.transmit(payload)
        if response is not None:
            self.served += 1
        return response
