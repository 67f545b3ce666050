"""The two-bytes-per-step CRC equals the byte-wise reference, for any data and any split."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from protocol.crc import crc16_arc, crc16_arc_bytewise


def test_check_value() -> None:
    assert crc16_arc(b"123456789") == 0xBB3D
    assert crc16_arc(bytes.fromhex("E0FF00000130")) == 0xF003


@given(st.binary(max_size=300), st.integers(min_value=0, max_value=300))
def test_equals_reference_for_any_split(data: bytes, cut: int) -> None:
    cut = min(cut, len(data))
    assert crc16_arc(data) == crc16_arc_bytewise(data)
    assert crc16_arc(data[cut:], crc16_arc(data[:cut])) == crc16_arc_bytewise(data)
    assert crc16_arc(memoryview(bytearray(data))) == crc16_arc_bytewise(data)
