"""Frame building: escaping, LEN and CRC on logical bytes, header bytes that cannot be sent."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from protocol_testkit import decode_vector, frames, read_all

from protocol.codec import decode_message, encode_message
from protocol.crc import crc16_arc
from protocol.errors import EncodeError, LengthError
from protocol.frame import MAX_DATA_LEN, SOF, Frame, decode_bcd_len, encode_bcd_len, encode_frame
from protocol.messages import Direction, RecordUpload


def _escaped_record_frame() -> Frame:
    """Vector 10 with POS_TTC 0x12FA34FA, BAL 0xFA0000FA and T_MAC 0x0D, which makes the CRC FA E0."""
    _, msg, _ = decode_vector(10)
    record = dataclasses.replace(msg.record, pos_ttc=0x12FA34FA, bal=0xFA0000FA, t_mac=0x0000000D)
    return Frame(0xE2, 0xFF, 0x1A, encode_message(RecordUpload(record)))


ESCAPED_LOGICAL = bytes.fromhex(
    "FA E2 FF 1A 00 96 32 12 FA 34 FA 00 20 17 02 23 00 00 00 98 76 54 32 10 98 76 54 32 10 FA 00 00 FA"
    " 01 22 33 95 87 44 44 88 88 55 55 11 11 66 66 22 22 01 23 45 67 89 01 23 45 67 89 12 34 56 12 34 56"
    " 22 33 33 11 00 00 00 12 09 01 02 01 02 03 02 02 09 12 34 88 99 00 00 00 00 00 00 00 00 00 00 00"
    " 00 00 00 0D FA E0"
)
ESCAPED_WIRE = bytes.fromhex(
    "FA E2 FF 1A 00 96 32 12 FA FA 34 FA FA 00 20 17 02 23 00 00 00 98 76 54 32 10 98 76 54 32 10"
    " FA FA 00 00 FA FA 01 22 33 95 87 44 44 88 88 55 55 11 11 66 66 22 22 01 23 45 67 89 01 23 45 67 89"
    " 12 34 56 12 34 56 22 33 33 11 00 00 00 12 09 01 02 01 02 03 02 02 09 12 34 88 99 00 00 00 00 00 00"
    " 00 00 00 00 00 00 00 00 0D FA FA E0"
)


def test_escaped_record_logical_form() -> None:
    frame = _escaped_record_frame()
    assert frame.logical_bytes() == ESCAPED_LOGICAL
    assert len(ESCAPED_LOGICAL) == 104
    # LEN counts logical DATA bytes; the CRC is over the logical DST..DATA and has an FA in it
    assert ESCAPED_LOGICAL[4:6] == bytes.fromhex("00 96")
    assert crc16_arc(ESCAPED_LOGICAL[1:-2]) == 0xFAE0


def test_escaped_record_wire_form_doubles_every_fa_after_the_header() -> None:
    wire = encode_frame(_escaped_record_frame())
    assert wire == ESCAPED_WIRE
    assert len(wire) == 104 + 5  # four FA in the record, one in the CRC
    assert wire[:6] == ESCAPED_LOGICAL[:6]  # the header is never escaped


def test_escaped_record_reads_back() -> None:
    frames_read, reader = read_all(ESCAPED_WIRE)
    assert frames_read == [_escaped_record_frame()]
    assert reader.pending == 0
    record = decode_message(frames_read[0].data, Direction.P)
    assert isinstance(record, RecordUpload)
    assert (record.record.pos_ttc, record.record.bal, record.record.t_mac) == (0x12FA34FA, 0xFA0000FA, 0x0D)


def test_escaped_record_byte_by_byte() -> None:
    frames_read, reader = read_all(ESCAPED_WIRE, [1] * len(ESCAPED_WIRE))
    assert frames_read == [_escaped_record_frame()]
    assert reader.pending == 0


def test_crc_low_byte_fa_is_escaped() -> None:
    frame = next(
        Frame(0xE0, 0x01, 0x00, bytes((a, b)))
        for a in range(256)
        for b in range(256)
        if SOF not in (a, b) and crc16_arc(bytes((0xE0, 0x01, 0x00, 0x00, 0x02, a, b))) & 0xFF == SOF
    )
    wire = encode_frame(frame)
    assert wire.endswith(b"\xfa\xfa")
    assert wire == frame.logical_bytes()[:-1] + b"\xfa\xfa"
    assert read_all(wire)[0] == [frame]


def _with_header(field: str, value: int) -> Frame:
    header = {"dst": 0x01, "src": 0x02, "ctrl": 0x03, field: value}
    return Frame(header["dst"], header["src"], header["ctrl"], b"\x30")


@pytest.mark.parametrize("field", ["dst", "src", "ctrl"])
def test_header_fa_cannot_be_sent(field: str) -> None:
    with pytest.raises(EncodeError, match=field.upper()):
        encode_frame(_with_header(field, SOF))


@pytest.mark.parametrize("field", ["dst", "src", "ctrl"])
def test_header_out_of_byte_range_cannot_be_sent(field: str) -> None:
    with pytest.raises(EncodeError):
        encode_frame(_with_header(field, 0x100))


def test_empty_and_oversized_data_cannot_be_sent() -> None:
    with pytest.raises(EncodeError):
        encode_frame(Frame(1, 2, 3, b""))
    with pytest.raises(EncodeError):
        encode_frame(Frame(1, 2, 3, bytes(MAX_DATA_LEN + 1)))
    assert len(encode_frame(Frame(1, 2, 3, b"\x30" * MAX_DATA_LEN))) == MAX_DATA_LEN + 8


def test_frame_make_sets_flags() -> None:
    frame = Frame.make(0x00, 0xE0, 65, True, b"\x32\x00")
    assert (frame.ctrl, frame.frame_no, frame.from_host, frame.command) == (0x41, 1, True, 0x32)
    assert Frame.make(0x00, 0xE0, 63, False, b"\x30").ctrl == 0x3F


@pytest.mark.parametrize(("value", "encoded"), [(1, "0001"), (96, "0096"), (245, "0245"), (9999, "9999")])
def test_bcd_len(value: int, encoded: str) -> None:
    assert encode_bcd_len(value) == bytes.fromhex(encoded)
    assert decode_bcd_len(*bytes.fromhex(encoded)) == value


@pytest.mark.parametrize("encoded", ["0000", "000A", "00A0", "0A00", "A000", "FAFA", "00FF"])
def test_bad_bcd_len(encoded: str) -> None:
    with pytest.raises(LengthError):
        decode_bcd_len(*bytes.fromhex(encoded))


@settings(deadline=None)
@given(frames())
def test_wire_form_property(frame: Frame) -> None:
    wire = encode_frame(frame)
    logical = frame.logical_bytes()
    assert wire[:6] == logical[:6]
    assert int(wire[4:6].hex()) == len(frame.data)
    tail = wire[6:]
    assert b"\xfa" not in tail.replace(b"\xfa\xfa", b"")  # every FA after the header is doubled
    assert tail.replace(b"\xfa\xfa", b"\xfa") == logical[6:]
    assert len(wire) == len(logical) + logical[6:].count(b"\xfa")
    assert crc16_arc(logical[1:-2]) == int.from_bytes(logical[-2:], "big")
