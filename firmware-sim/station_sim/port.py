"""Frames over a transport: the reader with its inter-byte timeout, wire-time pacing, faults.

Layer: firmware-sim (asyncio). `Port.frames()` yields the frames the controller sends (via
`protocol.reader.FrameReader`, reset after an inter-byte gap beyond the line's timeout); `Port.send`
writes one frame with one write call, after fault injection.

Wire time (`--wire-time`): the line is a half-duplex bus of `baud` bits per second and
`1 start + 8 data + parity + stop` bits per byte. Bytes that arrive are counted as occupying the bus
from when they arrive (or the bus frees up) for their wire time, and a received frame is handled only
once its last byte would have arrived; a frame sent is written when its last byte would have left.
So a poll/answer exchange costs what it costs on a real line and a multi-drop poll loop can be
benchmarked against the wire-time limit.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from protocol.errors import FrameError
from protocol.frame import Frame, encode_frame
from protocol.reader import FrameReader
from station_sim.faults import Faults
from station_sim.transport import Transport

log = logging.getLogger(__name__)
TRACE = 5


@dataclass(frozen=True, slots=True)
class LineTiming:
    baud: int = 9600
    parity: str = "N"
    stop_bits: int = 1
    inter_byte_timeout_ms: int = 100
    wire_time: bool = False

    @property
    def bits_per_byte(self) -> int:
        """1 start + 8 data + parity (E/O) + stop bits."""
        return 1 + 8 + (0 if self.parity == "N" else 1) + self.stop_bits

    @property
    def byte_s(self) -> float:
        return self.bits_per_byte / self.baud

    def wire_s(self, n_bytes: int) -> float:
        """Seconds `n_bytes` occupy the line."""
        return n_bytes * self.byte_s


SPIN_S = 0.0015
"""The event loop's timers are coarse (about 1 ms): the last stretch of a wire-time wait spins."""


async def _wait_until(loop: asyncio.AbstractEventLoop, end: float) -> None:
    if end - loop.time() > SPIN_S:
        await asyncio.sleep(end - loop.time() - SPIN_S)
    while loop.time() < end:
        pass


class Port:
    """One line's frames."""

    def __init__(self, name: str, transport: Transport, timing: LineTiming, faults: Faults) -> None:
        self.name = name
        self.transport = transport
        self.timing = timing
        self.faults = faults
        self.reader = FrameReader(on_error=self._on_frame_error)
        self._lock = asyncio.Lock()
        self._bus_free_at = 0.0
        self.sent = 0
        self.received = 0

    def _on_frame_error(self, error: FrameError) -> None:
        log.debug("%s: damaged frame dropped: %s (%s)", self.name, error, error.raw.hex(" "))

    async def frames(self) -> AsyncIterator[Frame]:
        loop = asyncio.get_running_loop()
        gap_s = self.timing.inter_byte_timeout_ms / 1000
        last = 0.0
        while True:
            chunk = await self.transport.read()
            now = loop.time()
            if self.reader.pending and now - last > gap_s:
                self.reader.reset()
            last = now
            log.log(TRACE, "%s rx %s", self.name, chunk.hex(" "))
            if self.timing.wire_time:
                start = max(now, self._bus_free_at)
                self._bus_free_at = start + self.timing.wire_s(len(chunk))
            for frame in self.reader.feed(chunk):
                self.received += 1
                # No wait here: the reception is accounted in `_bus_free_at`, and an answer is only
                # written once the bus is free (`send`), so one precise wait serves the exchange.
                yield frame

    async def send(self, frame: Frame, dispenser: int) -> None:
        """Write `frame` (faults applied: it may be dropped or corrupted)."""
        command = frame.command
        if self.faults.drop(dispenser, command):
            return
        wire = self.faults.corrupt(encode_frame(frame), dispenser, command)
        loop = asyncio.get_running_loop()
        async with self._lock:
            if self.timing.wire_time:
                start = max(loop.time(), self._bus_free_at)
                self._bus_free_at = end = start + self.timing.wire_s(len(wire))
                await _wait_until(loop, end)
            log.log(TRACE, "%s tx %s", self.name, wire.hex(" "))
            await self.transport.write(wire)
            self.sent += 1
