"""Fuzzing the two entry points that see line data: `FrameReader.feed` and `decode_message`.

`feed` must never raise, must terminate, and must keep `pending` bounded; every frame it yields must be
CRC-valid and occur, escaped, in what it was fed. `decode_message` may only raise `ProtocolError`s.
"""

from __future__ import annotations

import contextlib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from protocol_testkit import VECTORS, any_message, frames

from protocol.codec import decode_message, encode_message
from protocol.crc import crc16_arc
from protocol.errors import FrameError, ProtocolError
from protocol.frame import Frame, encode_frame
from protocol.messages import Direction
from protocol.reader import FrameReader

MAX_PENDING = 6 + 2 * (9999 + 2) + 1
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def mutated(draw: st.DrawFn, original: bytes) -> bytes:
    """`original` with a few bit flips, insertions, deletions and duplicated slices."""
    data = bytearray(original)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "duplicate", "fa"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        elif op == "delete" and data:
            del data[pos : pos + draw(st.integers(1, 4))]
        elif op == "duplicate" and data:
            end = draw(st.integers(pos, len(data)))
            data[end:end] = data[pos:end]
        elif op == "fa":
            data[pos:pos] = b"\xfa"
    return bytes(data)


vector_stream = b"".join(VECTORS.values())


@st.composite
def wire_streams(draw: st.DrawFn) -> bytes:
    sent = draw(st.lists(frames(), min_size=1, max_size=4))
    return draw(mutated(b"".join(encode_frame(frame) for frame in sent)))


line_input = st.one_of(
    st.binary(max_size=300),
    mutated(vector_stream),
    wire_streams(),
    st.lists(st.sampled_from([b"\xfa", b"\xfa\xfa", b"\x00\x01", b"\x99\x99", b"\x30"]), max_size=80).map(
        b"".join
    ),
)


def _feed(stream: bytes, chunks: list[int]) -> tuple[list[Frame], list[FrameError], FrameReader]:
    errors: list[FrameError] = []
    reader = FrameReader(errors.append)
    got: list[Frame] = []
    pos = 0
    for size in [*chunks, len(stream)]:
        got.extend(reader.feed(stream[pos : pos + size]))
        pos += size
        assert reader.pending <= MAX_PENDING
    return got, errors, reader


@FUZZ
@given(line_input, st.lists(st.integers(1, 64), max_size=10))
def test_feed_never_raises_and_yields_only_valid_frames(stream: bytes, chunks: list[int]) -> None:
    got, errors, reader = _feed(stream, chunks)
    for frame in got:
        assert encode_frame(frame) in stream
        logical = frame.logical_bytes()
        assert crc16_arc(logical[1:-2]) == int.from_bytes(logical[-2:], "big")
    assert all(isinstance(error, FrameError) for error in errors)
    assert reader.stats.frames == len(got)


@FUZZ
@given(line_input)
def test_feed_byte_by_byte_equals_feed_whole(stream: bytes) -> None:
    whole, _, _ = _feed(stream, [])
    single, _, _ = _feed(stream, [1] * len(stream))
    assert single == whole


def _decode_both_ways(data: bytes) -> None:
    for direction in Direction:
        with contextlib.suppress(ProtocolError):
            decode_message(data, direction)


@FUZZ
@given(st.binary(max_size=300))
def test_decode_random_data_raises_only_protocol_errors(data: bytes) -> None:
    _decode_both_ways(data)


@FUZZ
@given(st.sampled_from(list(range(0x30, 0x40))), st.binary(max_size=120))
def test_decode_known_commands_with_random_payload(command: int, payload: bytes) -> None:
    _decode_both_ways(bytes((command,)) + payload)


@st.composite
def mutated_payloads(draw: st.DrawFn) -> bytes:
    return draw(mutated(encode_message(draw(any_message))))


@FUZZ
@given(mutated_payloads())
def test_decode_mutated_payloads_raises_only_protocol_errors(data: bytes) -> None:
    _decode_both_ways(data)
