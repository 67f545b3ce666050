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
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from protocol.crc import crc16_arc
from protocol.errors import CrcError, FrameError, LengthError, TruncatedFrameError
from protocol.frame import SOF, Frame, decode_bcd_len

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

    def feed(self, chunk: bytes | bytearray | memoryview) -> Iterator[Frame]:
        """Add `chunk` and yield every frame it completes."""
        self._buf += chunk
        while True:
            frame = self._next()
            if frame is None:
                return
            yield frame

    def _fail(self, error: FrameError, consume: int) -> None:
        del self._buf[:consume]
        self.stats.noise_bytes += consume
        self.stats.resyncs += 1
        if self._on_error is not None:
            self._on_error(error)

    def _next(self) -> Frame | None:
        buf = self._buf
        while True:
            start = buf.find(_SOF_BYTE)
            if start < 0:
                self.stats.noise_bytes += len(buf)
                buf.clear()
                return None
            if start:
                self.stats.noise_bytes += start
                del buf[:start]
            if len(buf) < 6:
                if SOF in buf[1:]:
                    self.stats.noise_bytes += 1
                    del buf[:1]
                    continue
                return None
            if SOF in buf[1:6]:
                # An FA inside the header: restart with it as SOF.
                cut = buf.index(SOF, 1)
                self.stats.noise_bytes += cut
                self.stats.resyncs += 1
                del buf[:cut]
                continue
            try:
                length = decode_bcd_len(buf[4], buf[5])
            except LengthError as exc:
                self.stats.length_errors += 1
                exc.raw = bytes(buf[:6])
                self._fail(exc, 1)
                continue
            need = length + 2
            logical = bytearray()
            pos = 6
            end = len(buf)
            while len(logical) < need:
                hit = buf.find(_SOF_BYTE, pos, min(end, pos + need - len(logical)))
                if hit < 0:
                    take = min(end - pos, need - len(logical))
                    logical += buf[pos : pos + take]
                    pos += take
                    if len(logical) < need:
                        return None  # wait for more bytes
                    break
                logical += buf[pos:hit]
                if hit + 1 >= end:
                    return None  # cannot tell escape from new frame yet
                if buf[hit + 1] == SOF:
                    logical.append(SOF)
                    pos = hit + 2
                else:
                    self.stats.truncated += 1
                    self._fail(
                        TruncatedFrameError(
                            f"frame cut short after {len(logical)} of {need} bytes by a new SOF",
                            bytes(buf[:hit]),
                        ),
                        hit,
                    )
                    break
            if len(logical) < need:
                continue  # truncated: restart the hunt at the new SOF
            header = bytes(buf[1:6])
            data = bytes(logical[:length])
            received = (logical[length] << 8) | logical[length + 1]
            computed = crc16_arc(logical[:length], crc16_arc(header))
            raw = bytes(buf[:pos])
            if computed != received:
                # Drop only the SOF and hunt again inside: a frame cut short right after an escaped
                # 0xFA would otherwise swallow the frame that follows it.
                self.stats.crc_errors += 1
                self._fail(CrcError(computed, received, raw), 1)
                continue
            del buf[:pos]
            self.stats.frames += 1
            return Frame(header[0], header[1], header[2], data)
