"""Incremental FA-frame stream reader with resynchronisation.

Layer: protocol (pure). Feed it whatever the line delivered; it yields complete, CRC-checked frames
and reports every damaged one as a typed `FrameError` to `on_error` (and in `stats`). It never raises
on input.

Receiver rules (spec A2):
- hunt for 0xFA; bytes before it are noise;
- read 5 header bytes; an 0xFA among them aborts and restarts with it as SOF;
- in DATA and CRC, FA FA is one data 0xFA, while FA followed by any other byte starts a new frame
  (the current one is truncated; that byte is the new DST);
- complete after LEN + 2 logical bytes; drop on CRC mismatch (there is no NAK);
- an inter-byte gap beyond the line's timeout resets the receiver: the line driver calls `reset()`.

Resynchronisation (our reading of the rules): whenever a candidate frame fails (LEN not BCD, cut short
by a new SOF, CRC mismatch) only its SOF byte is dropped and the hunt restarts *inside* it. A frame cut
short right after the first byte of an escaped pair leaves a lone 0xFA that pairs with the next frame's
SOF and hides that frame inside the damaged one; hunting again from the next byte finds it. Consequence:
a good frame is only ever lost to a CRC collision (a false candidate whose CRC happens to match, 2^-16)
or held back while an earlier false candidate still waits for bytes at the end of the input. Each
damaged frame is reported once: failures of candidates that start inside an already reported damaged
frame are counted as noise, not reported again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from protocol.crc import crc16_arc
from protocol.errors import CrcError, FrameError, LengthError, TruncatedFrameError
from protocol.frame import HEADER_LEN, SOF, Frame, decode_bcd_len

_SOF_BYTE = b"\xfa"


@dataclass(slots=True)
class ReaderStats:
    """Counters a line driver shows in its diagnostics."""

    frames: int = 0
    crc_errors: int = 0
    length_errors: int = 0
    truncated: int = 0
    noise_bytes: int = 0
    resyncs: int = 0
    resets: int = 0


class FrameReader:
    """Turns a byte stream into `Frame`s; see the module docstring for the rules."""

    def __init__(self, on_error: Callable[[FrameError], None] | None = None) -> None:
        self._buf = bytearray()
        self._on_error = on_error
        self._shadow = 0  # leading bytes of `_buf` inside a damaged frame already reported
        self.stats = ReaderStats()

    @property
    def pending(self) -> int:
        """Bytes held while waiting for the rest of a frame."""
        return len(self._buf)

    def reset(self) -> None:
        """Forget a partial frame (inter-byte timeout)."""
        if self._buf:
            self.stats.resets += 1
            self.stats.noise_bytes += len(self._buf)
        self._buf.clear()
        self._shadow = 0

    def feed(self, chunk: bytes | bytearray | memoryview) -> Iterator[Frame]:
        """Add `chunk` and return an iterator over the frames it completes.

        The bytes are buffered at once; frames the caller does not iterate stay buffered and come out of
        the next `feed`.
        """
        self._buf += chunk
        return self._frames()

    def _frames(self) -> Iterator[Frame]:
        while (frame := self._next()) is not None:
            yield frame

    def _drop(self, count: int) -> None:
        """Forget the first `count` buffered bytes as noise."""
        del self._buf[:count]
        self.stats.noise_bytes += count
        self._shadow = max(0, self._shadow - count)

    def _fail(self, error: FrameError, span: int) -> None:
        """The candidate at the front failed: drop its SOF, report it unless inside a reported one."""
        self.stats.resyncs += 1
        if self._shadow == 0:
            if isinstance(error, CrcError):
                self.stats.crc_errors += 1
            elif isinstance(error, LengthError):
                self.stats.length_errors += 1
            else:
                self.stats.truncated += 1
            if self._on_error is not None:
                self._on_error(error)
        self._shadow = max(self._shadow, span)
        self._drop(1)

    def _next(self) -> Frame | None:
        buf = self._buf
        while True:
            start = buf.find(_SOF_BYTE)
            if start < 0:
                self._drop(len(buf))
                return None
            if start:
                self._drop(start)
            cut = buf.find(_SOF_BYTE, 1, HEADER_LEN)
            if cut > 0:
                # An FA inside the header: restart with it as SOF.
                self.stats.resyncs += 1
                self._drop(cut)
                continue
            if len(buf) < HEADER_LEN:
                return None
            try:
                length = decode_bcd_len(buf[4], buf[5])
            except LengthError as exc:
                exc.raw = bytes(buf[:HEADER_LEN])
                self._fail(exc, HEADER_LEN)
                continue
            need = length + 2
            scanned = self._unescape(need)
            if scanned is None:
                return None  # wait for more bytes
            logical, end = scanned
            if len(logical) < need:
                message = f"frame cut short after {len(logical)} of {need} bytes by a new SOF"
                self._fail(TruncatedFrameError(message, bytes(buf[:end])), end)
                continue
            data = bytes(logical[:length])
            received = (logical[length] << 8) | logical[length + 1]
            computed = crc16_arc(data, crc16_arc(buf[1:HEADER_LEN]))
            if computed != received:
                self._fail(CrcError(computed, received, bytes(buf[:end])), end)
                continue
            frame = Frame(buf[1], buf[2], buf[3], data)
            del buf[:end]
            self._shadow = max(0, self._shadow - end)
            self.stats.frames += 1
            return frame

    def _unescape(self, need: int) -> tuple[bytes | bytearray, int] | None:
        """The `need` logical DATA+CRC bytes after the header, and the wire offset where they end.

        Fewer than `need` bytes when an unescaped SOF cut the frame short (the offset is that SOF's);
        None when the buffer ends before the answer is known.
        """
        buf = self._buf
        size = len(buf)
        pos = HEADER_LEN
        stop = pos + need
        if stop <= size and buf.find(_SOF_BYTE, pos, stop) < 0:
            return buf[pos:stop], stop  # fast path: complete, nothing escaped
        logical = bytearray()
        while missing := need - len(logical):
            hit = buf.find(_SOF_BYTE, pos, pos + missing)
            if hit < 0:
                if size - pos < missing:
                    return None
                logical += buf[pos : pos + missing]
                return logical, pos + missing
            logical += buf[pos:hit]
            if hit + 1 >= size:
                return None  # cannot tell an escaped FA from a new frame yet
            if buf[hit + 1] != SOF:
                return logical, hit  # an unescaped SOF: this frame was cut short
            logical.append(SOF)
            pos = hit + 2
        return logical, pos
