"""Message codec: round trips for every command, lenient records, typed errors, compiled vs plain."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from protocol_testkit import MESSAGES, decode_vector, frames, read_all, records

from protocol.cng import CngProfile, ConsumptionMode, is_cng_profile, parse_cng_profile
from protocol.codec import COMMANDS, decode_message, encode_message, known_directions
from protocol.errors import EncodeError, PayloadError, UnknownCommandError
from protocol.frame import Frame, encode_frame
from protocol.messages import (
    CardInserted,
    Direction,
    DispenserInfo,
    GreyQuery,
    GreyReply,
    ListQuery,
    NozzleInfo,
    PollReply,
    RecordAck,
    RecordUpload,
)
from protocol.record import RECORD_LAYOUT, RECORD_LEN, RECORD_STRUCT, TransactionRecord, TxKind

WHEN = dt.datetime(2024, 5, 6, 7, 8, 9)


def test_every_command_has_a_strategy() -> None:
    assert set(MESSAGES) == {spec.cls for spec in COMMANDS}


def test_command_table_has_one_row_per_command_and_direction() -> None:
    keys = [(spec.cls.COMMAND, spec.cls.DIRECTION) for spec in COMMANDS]  # type: ignore[attr-defined]
    assert len(keys) == len(set(keys))
    assert known_directions(0x32) == (Direction.P, Direction.H)
    assert known_directions(0x31) == (Direction.P,)
    assert known_directions(0x99) == ()


@pytest.mark.parametrize("cls", list(MESSAGES), ids=lambda cls: cls.__name__)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_round_trip(cls: type, data: st.DataObject) -> None:
    msg = data.draw(MESSAGES[cls])
    encoded = encode_message(msg)
    assert encoded[0] == cls.COMMAND  # type: ignore[attr-defined]
    decoded = decode_message(encoded, cls.DIRECTION)  # type: ignore[attr-defined]
    assert decoded == msg
    assert encode_message(decoded) == encoded
    # and through the wire: escaping, then the stream reader
    frame = Frame(0x01, 0xE0, 0x40, encoded)
    assert read_all(encode_frame(frame))[0] == [frame]


@settings(deadline=None)
@given(frames())
def test_frames_round_trip_through_the_reader_byte_by_byte(frame: Frame) -> None:
    wire = encode_frame(frame)
    got, reader = read_all(wire, [1] * len(wire))
    assert got == [frame]
    assert reader.pending == 0
    assert reader.stats.frames == 1
    assert reader.stats.crc_errors == reader.stats.truncated == reader.stats.length_errors == 0


# --- the record -----------------------------------------------------------------------------------


def _public(container: Any) -> dict[str, Any]:
    return {k: v for k, v in container.items() if not k.startswith("_")}


@settings(deadline=None)
@given(st.binary(min_size=RECORD_LEN, max_size=RECORD_LEN))
def test_any_95_bytes_are_a_record_compiled_and_plain_agree(raw: bytes) -> None:
    plain = RECORD_LAYOUT.parse(raw)
    compiled = RECORD_STRUCT.parse(raw)
    assert _public(plain) == _public(compiled)
    assert RECORD_LAYOUT.build(plain) == RECORD_STRUCT.build(compiled) == raw
    # a record is never refused for its content, and keeps its exact bytes
    msg = decode_message(b"\x32" + raw, Direction.P)
    assert isinstance(msg, RecordUpload)
    assert encode_message(msg) == b"\x32" + raw


@settings(deadline=None)
@given(records)
def test_record_build_compiled_and_plain_agree(record: TransactionRecord) -> None:
    fields = record.to_dict()
    assert RECORD_LAYOUT.build(fields) == RECORD_STRUCT.build(fields)


def test_record_filler_nibbles_and_invalid_time_are_kept() -> None:
    frame, _, _ = decode_vector(10)
    raw = bytearray(frame.data[1:])
    raw[5:12] = bytes.fromhex("20 17 13 32 25 00 00")  # month 13, day 32, hour 25
    raw[12:22] = bytes.fromhex("10 00 04 12 34 56 78 90 12 FF")  # ASN with filler nibbles
    raw[68:70] = bytes.fromhex("010F")
    msg = decode_message(b"\x32" + bytes(raw), Direction.P)
    assert isinstance(msg, RecordUpload)
    assert msg.record.time == "20171332250000"
    assert msg.record.asn == "100004123456789012FF"
    assert msg.record.g_code == "010F"
    assert encode_message(msg) == b"\x32" + bytes(raw)


def test_record_helpers() -> None:
    _, msg, _ = decode_vector(10)
    record = dataclasses.replace(msg.record, t_type=0x95)
    assert record.kind is TxKind.ON_DUTY
    assert record.card_error
    assert dataclasses.replace(record, t_type=0x0C).kind == 0x0C


# --- strict fields and typed errors ---------------------------------------------------------------


def test_strict_time_is_a_payload_error() -> None:
    good = encode_message(GreyQuery("1" * 20, 1, 2, 0, WHEN))
    bad = good[:-7] + bytes.fromhex("20240230000000")  # 30 February
    with pytest.raises(PayloadError):
        decode_message(bad, Direction.P)
    with pytest.raises(PayloadError):
        decode_message(good[:-7] + bytes.fromhex("2024010100000A"), Direction.P)


def test_unknown_command_and_wrong_length() -> None:
    with pytest.raises(UnknownCommandError):
        decode_message(b"\x31\x00", Direction.H)
    with pytest.raises(UnknownCommandError):
        decode_message(b"\x99", Direction.P)
    with pytest.raises(PayloadError, match="LEN 96"):
        decode_message(b"\x32\x00", Direction.P)
    with pytest.raises(PayloadError):
        decode_message(b"", Direction.P)


@pytest.mark.parametrize(
    "data",
    [
        "38 02 01",  # Totals cut short inside its second entry
        "38 01 01 00 00",
        "31 01 02 01",  # Fuelling cut short
        "31 01 01 05 16" + " 12" * 16 + " AA BB",  # IC_DATA announced 6 bytes, 2 present
        "31 01 01 05 0F" + " 12" * 16,  # sub-record LEN below the fixed 16
        "31 01 03 00",  # unknown ST
        "31 02 02 01 00 00 00 00 00 00 00 00 00",  # N says 2, one entry present
        "3A" + " 41" * 12 + " 01",  # DispenserInfo cut short
        "34 03 00 3D",  # SegmentData without SEG
    ],
)
def test_short_or_inconsistent_payload_is_a_payload_error(data: str) -> None:
    with pytest.raises(PayloadError):
        decode_message(bytes.fromhex(data), Direction.P if data[:2] != "34" else Direction.H)


@pytest.mark.parametrize(
    "msg",
    [
        RecordAck(256),
        RecordAck(-1),
        ListQuery("123"),
        ListQuery("1234567890123456789 "),
        GreyReply(0, "1" * 20, 0, 0, 0, 0, WHEN, 0, b"12345", 0),  # PSAM_TID must be 6 bytes
        GreyQuery("1" * 20, 2**32, 0, 0, WHEN),
        PollReply(pc_time="20240101000000"),  # type: ignore[arg-type]
        NozzleInfo((CardInserted(1, "1" * 20, 0, 0, bytes(240)),)),  # sub-record LEN > 255
        NozzleInfo(tuple(CardInserted(1, "1" * 20, 0, 0) for _ in range(256))),
        DispenserInfo("x" * 13, "01", "02", "12345678", "12345678", WHEN),  # M_INFO > 12 bytes
        DispenserInfo("€", "01", "02", "12345678", "12345678", WHEN),
        DispenserInfo("ok", "1", "02", "12345678", "12345678", WHEN),
    ],
)
def test_unbuildable_message_is_an_encode_error(msg: Any) -> None:
    with pytest.raises(EncodeError):
        encode_message(msg)


def test_record_with_wrong_sized_bytes_is_an_encode_error() -> None:
    _, msg, _ = decode_vector(10)
    for field, value in (("psam_tid", bytes(5)), ("rfu", bytes(12)), ("amn", 1 << 24), ("time", 5)):
        with pytest.raises(EncodeError):
            encode_message(RecordUpload(dataclasses.replace(msg.record, **{field: value})))


def test_not_a_message_is_an_encode_error() -> None:
    with pytest.raises(EncodeError):
        encode_message("hello")  # type: ignore[arg-type]


# --- the CNG card profile [extension] -------------------------------------------------------------

PROFILE = CngProfile(
    card_class=1,
    mode=ConsumptionMode.PREPAID_VOLUME,
    price_level=2,
    cylinder_valid_until=dt.date(2026, 3, 31),
    plate="川A12345",
    per_fill_cap=8000,
    fills_per_day=3,
    amount_per_day=50000,
)


def test_cng_profile_rides_in_ic_data() -> None:
    ic_data = PROFILE.build()
    assert is_cng_profile(ic_data)
    msg = NozzleInfo((CardInserted(3, "10000412345678901234", 0, 1000, ic_data),))
    decoded = decode_message(encode_message(msg), Direction.P)
    assert isinstance(decoded, NozzleInfo)
    entry = decoded.entries[0]
    assert isinstance(entry, CardInserted)
    assert parse_cng_profile(entry.ic_data) == PROFILE


@pytest.mark.parametrize("cut", [2, 3, 9, 12, 20])
def test_short_cng_profile_is_a_payload_error(cut: int) -> None:
    with pytest.raises(PayloadError):
        parse_cng_profile(PROFILE.build()[:cut])


def test_cng_profile_out_of_range_is_an_encode_error() -> None:
    with pytest.raises(EncodeError):
        dataclasses.replace(PROFILE, fills_per_day=256).build()
    with pytest.raises(EncodeError):
        dataclasses.replace(PROFILE, plate="A" * 17).build()
