"""The FA frame: header, escaping and CRC.

Layer: protocol (pure).

    logical frame (CRC computed over DST..DATA, SOF excluded, on un-escaped bytes)

    +------+-----+-----+------+---------+-----------------+---------+
    | SOF  | DST | SRC | CTRL | LEN     | DATA            | CRC     |
    | 0xFA |  1  |  1  |  1   | 2, BCD  | LEN bytes       | 2, hi-lo|
    +------+-----+-----+------+---------+-----------------+---------+
                        CTRL: b7 = 0, b6 = 1 when the controller sent the frame, b5..b0 frame number

    on the wire every 0xFA inside DATA and CRC is doubled (FA FA); the 6 header bytes are never
    escaped, so DST, SRC and CTRL may never be 0xFA.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocol.crc import crc16_arc
from protocol.errors import EncodeError, LengthError

SOF = 0xFA
HEADER_LEN = 6
MAX_DATA_LEN = 9999
FRAME_NO_MASK = 0x3F
HOST_FLAG = 0x40
_ESCAPED_SOF = b"\xfa\xfa"


@dataclass(frozen=True, slots=True)
class Frame:
    """One logical (un-escaped) frame. `data[0]` is the command byte."""

    dst: int
    src: int
    ctrl: int
    data: bytes

    @classmethod
    def make(cls, dst: int, src: int, frame_no: int, from_host: bool, data: bytes) -> Frame:
        ctrl = (frame_no & FRAME_NO_MASK) | (HOST_FLAG if from_host else 0)
        return cls(dst, src, ctrl, bytes(data))

    @property
    def frame_no(self) -> int:
        return self.ctrl & FRAME_NO_MASK

    @property
    def from_host(self) -> bool:
        """CTRL b6: set by the controller on every frame it sends (B2)."""
        return bool(self.ctrl & HOST_FLAG)

    @property
    def command(self) -> int:
        return self.data[0] if self.data else -1

    def logical_bytes(self) -> bytes:
        """SOF, header, DATA and CRC without escaping (the form the spec's test vectors use)."""
        body = self.body()
        crc = crc16_arc(body)
        return bytes((SOF,)) + body + crc.to_bytes(2, "big")

    def body(self) -> bytes:
        """DST..DATA: the bytes the CRC covers."""
        return bytes((self.dst, self.src, self.ctrl)) + encode_bcd_len(len(self.data)) + self.data


def _bcd_byte(byte: int) -> int:
    hi, lo = byte >> 4, byte & 0x0F
    return hi * 10 + lo if hi <= 9 and lo <= 9 else -1


_BCD_VALUE = tuple(_bcd_byte(b) for b in range(256))  # packed BCD byte -> 0..99, -1 if not BCD
_BCD_BYTE = tuple((v // 10) << 4 | v % 10 for v in range(100))  # 0..99 -> packed BCD byte


def encode_bcd_len(value: int) -> bytes:
    """LEN as 2 bytes of packed BCD, most significant digit first (96 -> 00 96)."""
    if not 0 <= value <= MAX_DATA_LEN:
        raise EncodeError(f"DATA length {value} does not fit 4 BCD digits")
    return bytes((_BCD_BYTE[value // 100], _BCD_BYTE[value % 100]))


def decode_bcd_len(hi: int, lo: int) -> int:
    """Inverse of `encode_bcd_len`; raises `LengthError` for non-decimal nibbles or zero."""
    high, low = _BCD_VALUE[hi], _BCD_VALUE[lo]
    if high < 0 or low < 0:
        raise LengthError(f"LEN {hi:02X} {lo:02X} is not packed BCD", bytes((hi, lo)))
    value = high * 100 + low
    if value == 0:
        raise LengthError("LEN 00 00: a frame carries at least its command byte", bytes((hi, lo)))
    return value


def encode_frame(frame: Frame) -> bytes:
    """Wire bytes of `frame`: header as is, DATA and CRC with every 0xFA doubled."""
    dst, src, ctrl, data = frame.dst, frame.src, frame.ctrl, frame.data
    for name, value in (("DST", dst), ("SRC", src), ("CTRL", ctrl)):
        if not 0 <= value <= 0xFF or value == SOF:
            raise EncodeError(f"{name} {value:#04x} cannot be sent: header bytes are never escaped")
    if not data:
        raise EncodeError("a frame carries at least its command byte")
    header = bytes((dst, src, ctrl)) + encode_bcd_len(len(data))
    tail = data + crc16_arc(data, crc16_arc(header)).to_bytes(2, "big")
    return b"\xfa" + header + tail.replace(b"\xfa", _ESCAPED_SOF)
