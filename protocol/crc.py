"""CRC-16/ARC as used by the FA-frame protocol.

Layer: protocol (pure). Reflected polynomial 0x8005 (0xA001 shifted right), init 0x0000, no final xor;
check value CRC(b"123456789") == 0xBB3D. The frame carries it high byte first.
"""

from __future__ import annotations


def _make_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_TABLE = _make_table()


def crc16_arc(data: bytes | bytearray | memoryview, crc: int = 0) -> int:
    """Return the CRC-16/ARC of `data`, continuing from `crc`."""
    table = _TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc
