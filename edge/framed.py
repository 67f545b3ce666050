"""A framed line: bytes ↔ frames ↔ messages, with statistics and TRACE logging.

Layer: edge (I/O shell around the pure codec). One receiver task feeds a `FrameReader` and queues
every decoded message; writers go through one lock (the line is half-duplex). An inter-byte gap
longer than the line's timeout resets the receiver. Frames sent by a controller (CTRL b6 set, e.g.
another master on the bus or an echo) are counted and ignored.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from dataclasses import dataclass, field, fields
from typing import Any

from edge.events import EventBus, FrameTraced, LineStatistics
from edge.loadprobe import LoadStats
from edge.logsetup import TRACE
from edge.transport import LineIO
from protocol.codec import Direction, decode_message, encode_message
from protocol.errors import FrameError, PayloadError
from protocol.frame import Frame, encode_frame
from protocol.messages import Message, NozzleInfo, PollReply
from protocol.reader import FrameReader

log = logging.getLogger(__name__)

STATS_PUBLISH_INTERVAL_S = 1.0
CODEC_CACHE_LIMIT = 64
"""Entries kept by each of the line's codec caches (emptied when full): the encoded poll of the current
second for each set of list versions, the idle answers (a 0x31 without entries) seen on the line."""


@dataclass(slots=True)
class LineStats:
    """What a field engineer reads on the line diagnostics screen."""

    frames_rx: int = 0
    frames_tx: int = 0
    bytes_rx: int = 0
    bytes_tx: int = 0
    crc_errors: int = 0
    length_errors: int = 0
    truncated: int = 0
    noise_bytes: int = 0
    resyncs: int = 0
    resets: int = 0
    payload_errors: int = 0
    timeouts: int = 0
    foreign_frames: int = 0
    polls: int = 0
    poll_cycles: int = 0
    last_cycle_ms: float = 0.0
    avg_cycle_ms: float = 0.0
    last_frame_at: str = ""
    last_frame: str = ""
    errors: list[str] = field(default_factory=list)
    last_rx: tuple[Frame, float] | None = None
    """The last frame received and when (monotonic): `last_frame` and `last_frame_at` are rendered from
    it when the statistics are read (once a second), not for every frame."""

    def as_dict(self) -> dict[str, Any]:
        self._render_last()
        out = {f: getattr(self, f) for f in _STAT_FIELDS}
        return out

    def _render_last(self) -> None:
        if self.last_rx is None:
            return
        frame, at = self.last_rx
        self.last_rx = None
        wall = dt.datetime.now() - dt.timedelta(seconds=time.monotonic() - at)
        self.last_frame_at = wall.isoformat(timespec="milliseconds")
        self.last_frame = frame.logical_bytes().hex(" ")


_STAT_FIELDS = tuple(f.name for f in fields(LineStats) if f.name not in ("errors", "last_rx"))


@dataclass(frozen=True, slots=True)
class Incoming:
    frame: Frame
    message: Message
    received_at: float


class FramedLine:
    """Frames and messages over one `LineIO`."""

    def __init__(
        self,
        name: str,
        io: LineIO,
        *,
        controller_address: int,
        inter_byte_timeout_s: float,
        bus: EventBus | None = None,
        byte_time_s: float = 0.0,
        load: LoadStats | None = None,
    ) -> None:
        self.name = name
        self.io = io
        self.controller_address = controller_address
        self.inter_byte_timeout_s = inter_byte_timeout_s
        self.bus = bus
        self.byte_time_s = byte_time_s
        """Seconds one byte occupies the wire; a reply can only start once the request has left."""
        self._tx_done_at = 0.0
        self.load = load
        """Where the reply latencies go (`edge.loadprobe`), if anywhere."""
        self.stats = LineStats()
        self._reader = FrameReader(self._on_frame_error)
        self._queue: asyncio.Queue[Incoming] = asyncio.Queue()
        self._write_lock = asyncio.Lock()
        self._frame_no = 0
        self._last_stats_publish = 0.0
        self._encoded_polls: dict[PollReply, bytes] = {}
        self._idle_answers: dict[bytes, Message] = {}

    # --- receive --------------------------------------------------------------------------------

    async def receive_forever(self) -> None:
        """The receiver task: runs until the transport fails (raises `TransportError`)."""
        while True:
            if self._reader.pending:
                try:
                    async with asyncio.timeout(self.inter_byte_timeout_s):
                        data = await self.io.read()
                except TimeoutError:
                    log.debug("%s: inter-byte timeout with %d bytes pending", self.name, self._reader.pending)
                    self._reader.reset()
                    self._sync_reader_stats()
                    continue
            else:
                data = await self.io.read()
            self.stats.bytes_rx += len(data)
            if log.isEnabledFor(TRACE):
                log.log(TRACE, "%s rx bytes %s", self.name, data.hex(" "))
            for frame in self._reader.feed(data):
                self._on_frame(frame)
            self._sync_reader_stats()

    def _on_frame(self, frame: Frame) -> None:
        now = time.monotonic()
        self.stats.frames_rx += 1
        self.stats.last_rx = (frame, now)
        if frame.from_host or frame.src == self.controller_address:
            self.stats.foreign_frames += 1
            log.debug("%s: ignoring a frame sent by a controller: %s", self.name, frame.logical_bytes().hex(" "))
            return
        try:
            message = self._decode(frame.data)
        except PayloadError as exc:
            self.stats.payload_errors += 1
            self._note_error(f"payload: {exc}")
            log.warning("%s: bad payload from %#04x: %s (%s)", self.name, frame.src, exc, exc.data.hex(" "))
            return
        if log.isEnabledFor(TRACE):
            log.log(
                TRACE, "%s rx %#04x→%#04x #%d %r", self.name, frame.src, frame.dst, frame.frame_no, message
            )
        # The waiting driver is woken first, the trace's subscribers after it: their work does not
        # delay the reply (the bus still sees the frame before anything the driver publishes for it).
        self._queue.put_nowait(Incoming(frame, message, now))
        self._trace("P", frame, message)

    def _decode(self, data: bytes) -> Message:
        """`decode_message` of a dispenser's DATA; an idle answer (the most frequent frame on a bus)
        is decoded once per line, then served from the cache (messages are immutable)."""
        message = self._idle_answers.get(data)
        if message is None:
            message = decode_message(data, Direction.P)
            if isinstance(message, NozzleInfo) and not message.entries:
                if len(self._idle_answers) >= CODEC_CACHE_LIMIT:
                    self._idle_answers.clear()
                self._idle_answers[data] = message
        return message

    def _encode(self, message: Message) -> bytes:
        """`encode_message`; a poll (the same for every dispenser within one second) is encoded once."""
        if type(message) is not PollReply:
            return encode_message(message)
        data = self._encoded_polls.get(message)
        if data is None:
            if len(self._encoded_polls) >= CODEC_CACHE_LIMIT:
                self._encoded_polls.clear()
            data = self._encoded_polls[message] = encode_message(message)
        return data

    def _on_frame_error(self, error: FrameError) -> None:
        self._note_error(str(error))
        log.info("%s: dropped a damaged frame: %s [%s]", self.name, error, error.raw.hex(" "))

    def _note_error(self, text: str) -> None:
        errors = self.stats.errors
        errors.append(f"{dt.datetime.now().isoformat(timespec='seconds')} {text}")
        del errors[:-20]

    def _sync_reader_stats(self) -> None:
        rs = self._reader.stats
        st = self.stats
        st.crc_errors, st.length_errors, st.truncated = rs.crc_errors, rs.length_errors, rs.truncated
        st.noise_bytes, st.resyncs, st.resets = rs.noise_bytes, rs.resyncs, rs.resets

    async def receive(self, timeout_s: float) -> Incoming | None:
        """The next decoded message, or None after `timeout_s`.

        `asyncio.timeout`, not `asyncio.wait_for`: on Python 3.11 `wait_for` returns the item and
        swallows a cancellation that arrives in the loop turn the item does, and the driver never stops
        (a `station run` that ignores SIGTERM). `asyncio.wait_for` is banned by the lint configuration.
        A message already queued is returned without arming a timer (`Queue.get` would not suspend
        either)."""
        if not self._queue.empty():
            return self._queue.get_nowait()
        try:
            async with asyncio.timeout(timeout_s):
                return await self._queue.get()
        except TimeoutError:
            return None

    def discard_pending(self) -> int:
        """Drop messages that arrived late (before a new request is written)."""
        dropped = 0
        while not self._queue.empty():
            self._queue.get_nowait()
            dropped += 1
        return dropped

    # --- send -----------------------------------------------------------------------------------

    def next_frame_no(self) -> int:
        self._frame_no = (self._frame_no + 1) & 0x3F
        return self._frame_no

    async def send(
        self, dst: int, message: Message, frame_no: int | None = None, *, answering: float | None = None
    ) -> float:
        """Build and write one frame from the controller (CTRL b6 set). `answering`: when the frame this
        one answers was received (monotonic), to note the reply's latency.

        Returns the monotonic time at which its last byte will have left the UART: the OS buffers what
        is written, so frames sent back to back queue up on the wire at the line's baud rate.
        """
        number = self.next_frame_no() if frame_no is None else frame_no
        frame = Frame.make(dst, self.controller_address, number, True, self._encode(message))
        wire = encode_frame(frame)
        async with self._write_lock:
            await self.io.write(wire)
        self.stats.frames_tx += 1
        self.stats.bytes_tx += len(wire)
        if answering is not None and self.load is not None:
            self.load.note_reply(type(message).__name__, time.monotonic() - answering)
        if log.isEnabledFor(TRACE):
            log.log(TRACE, "%s tx →%#04x #%d %r [%s]", self.name, dst, number, message, wire.hex(" "))
        self._trace("H", frame, message)
        start = max(time.monotonic(), self._tx_done_at)
        self._tx_done_at = start + len(wire) * self.byte_time_s
        return self._tx_done_at

    def _trace(self, direction: str, frame: Frame, message: Message) -> None:
        """Publish the frame for live traces (only while someone listens: hundreds a second on a fast
        bus), and the line's statistics once a second."""
        bus = self.bus
        if bus is None:
            return
        if bus.wants(FrameTraced):
            summary = f"{direction} {frame.src:02X}→{frame.dst:02X} #{frame.frame_no} {type(message).__name__}"
            text = frame.logical_bytes().hex(" ")
            bus.publish(FrameTraced(self.name, direction, text, summary, dt.datetime.now()))
        mono = time.monotonic()
        if mono - self._last_stats_publish >= STATS_PUBLISH_INTERVAL_S:
            self._last_stats_publish = mono
            self.publish_stats()

    def publish_stats(self) -> None:
        if self.bus is not None:
            self.bus.publish(LineStatistics(self.name, self.stats.as_dict(), dt.datetime.now()))
