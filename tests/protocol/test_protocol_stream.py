"""The stream reader: chunking, noise, truncated frames and what resynchronisation can guarantee.

What the protocol can promise: there is no length-independent frame delimiter, so an 0xFA in noise, or
a frame cut short right after the first byte of an escaped pair (or right after its SOF), pairs with the
next frame's SOF as an escaped FA and hides that frame inside a false candidate. The reader drops only
the SOF of a failed candidate and hunts again inside it, so such a frame is found again as soon as the
false candidate fails, which it does at the latest at the next SOF that follows a non-FA byte. Hence:

- noise without 0xFA between whole frames: exactly the sent frames, in order;
- arbitrary noise, or truncated frames, followed at the end by a non-FA byte and one more frame:
  exactly the sent frames too, except when a false candidate passes its CRC (2^-16 per candidate).
  The tests assert exact recovery whenever no foreign frame came out, and that every foreign frame is
  a CRC-valid frame whose wire form occurs in the stream.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from protocol_testkit import VECTORS, frames, header_byte, read_all

from protocol.errors import CrcError, FrameError, LengthError, TruncatedFrameError
from protocol.frame import SOF, Frame, encode_frame
from protocol.reader import FrameReader

MAX_PENDING = 6 + 2 * (9999 + 2) + 1
STREAMS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TERMINATOR = Frame(0xE0, 0x01, 0x3F, b"\x30")

noise_without_fa = st.binary(max_size=40).map(lambda b: b.replace(b"\xfa", b"\x00"))
# Noise that looks like frames: FA-rich bytes, and false headers with a valid LEN, often ending in FA.
false_header = st.builds(
    lambda length, body, fa: bytes.fromhex(f"FA 01 02 03 {length:04d}") + body + b"\xfa" * fa,
    st.integers(1, 80),
    st.binary(max_size=20).map(lambda b: b.replace(b"\xfa", b"\x00")),
    st.integers(0, 3),
)
any_noise = (
    st.binary(max_size=40)
    | st.lists(st.sampled_from([b"\xfa", b"\x00", b"\x99", b"\x01"]), max_size=40).map(b"".join)
    | false_header
)
# Reader tests need frames, not messages: add FA-rich DATA so that escaping is everywhere.
fa_rich_data = st.lists(st.sampled_from([0xFA, 0x00, 0x30, 0x99]), min_size=1, max_size=120).map(bytes)
stream_frames = frames() | st.builds(Frame, header_byte, header_byte, header_byte, fa_rich_data)


def _chunks(data: st.DataObject, total: int) -> list[int]:
    return data.draw(st.lists(st.integers(1, max(1, total)), max_size=12))


def _is_substring_frame(frame: Frame, stream: bytes) -> bool:
    return encode_frame(frame) in stream


@STREAMS
@given(st.lists(stream_frames, min_size=1, max_size=6), st.data())
def test_frames_in_any_chunking(sent: list[Frame], data: st.DataObject) -> None:
    stream = b"".join(encode_frame(f) for f in sent)
    got, reader = read_all(stream, _chunks(data, len(stream)))
    assert got == sent
    assert reader.pending == 0


@STREAMS
@given(
    st.lists(st.tuples(noise_without_fa, stream_frames), min_size=1, max_size=6), noise_without_fa, st.data()
)
def test_noise_without_fa_between_frames_loses_nothing(
    items: list[tuple[bytes, Frame]], tail: bytes, data: st.DataObject
) -> None:
    stream = b"".join(noise + encode_frame(frame) for noise, frame in items) + tail
    errors: list[FrameError] = []
    got, reader = read_all(stream, _chunks(data, len(stream)), errors.append)
    assert got == [frame for _, frame in items]
    assert errors == []
    assert reader.pending == 0
    assert reader.stats.noise_bytes == sum(len(noise) for noise, _ in items) + len(tail)


@STREAMS
@given(st.lists(st.tuples(any_noise, stream_frames), min_size=1, max_size=5))
def test_arbitrary_noise_yields_only_sent_or_crc_valid_frames(items: list[tuple[bytes, Frame]]) -> None:
    stream = (
        b"".join(noise + encode_frame(frame) for noise, frame in items) + b"\x00" + encode_frame(TERMINATOR)
    )
    sent = [frame for _, frame in items] + [TERMINATOR]
    got, reader = read_all(stream)
    foreign = [frame for frame in got if frame not in sent]
    assert all(_is_substring_frame(frame, stream) for frame in got)
    if not foreign:  # no false candidate passed its CRC: then nothing may be lost
        assert got == sent
    assert reader.pending == 0


@st.composite
def truncated(draw: st.DrawFn, lone_fa: bool) -> bytes:
    """A proper prefix of a frame's wire form.

    With `lone_fa`, preferably one that ends in a lone FA; without, never one.
    """
    wire = encode_frame(draw(stream_frames))
    lone = [cut for cut in range(1, len(wire)) if _ends_in_lone_fa(wire[:cut])]
    if lone_fa and draw(st.booleans()):
        return wire[: lone[-1] if len(lone) == 1 else lone[1]]  # early: its LEN reaches over later frames
    cuts = [cut for cut in range(1, len(wire)) if lone_fa or cut not in lone]
    return wire[: draw(st.sampled_from(cuts))]


def _ends_in_lone_fa(prefix: bytes) -> bool:
    """Whether `prefix` ends in an FA that an open candidate would pair with the next SOF.

    That is the first byte of an escaped pair, or the SOF of a frame cut right after it.
    """
    if len(prefix) == 1:
        return True
    tail = prefix[6:]
    run = len(tail) - len(tail.rstrip(b"\xfa"))
    return run % 2 == 1


@STREAMS
@given(st.lists(st.one_of(stream_frames, truncated(lone_fa=False)), min_size=1, max_size=6), frames())
def test_truncated_frames_followed_by_good_ones(items: list[Frame | bytes], last: Frame) -> None:
    items = [*items, last]  # the stream ends with a whole frame
    stream = b"".join(item if isinstance(item, bytes) else encode_frame(item) for item in items)
    sent = [item for item in items if isinstance(item, Frame)]
    errors: list[FrameError] = []
    reader = FrameReader(errors.append)
    got = list(reader.feed(stream))
    foreign = [frame for frame in got if frame not in sent]
    assert all(_is_substring_frame(frame, stream) for frame in got)
    if not foreign:
        assert got == sent
    # each damaged frame is reported at most once
    assert len(errors) <= sum(isinstance(item, bytes) for item in items)
    assert all(isinstance(error, TruncatedFrameError | CrcError | LengthError) for error in errors)
    assert reader.pending == 0


@STREAMS
@given(st.lists(st.one_of(stream_frames, truncated(lone_fa=True)), min_size=1, max_size=6))
def test_frames_hidden_behind_a_lone_fa_are_found_again(items: list[Frame | bytes]) -> None:
    stream = b"".join(item if isinstance(item, bytes) else encode_frame(item) for item in items)
    stream += b"\x00" + encode_frame(TERMINATOR)  # a non-FA byte and a frame flush any false candidate
    sent = [item for item in items if isinstance(item, Frame)] + [TERMINATOR]
    got, reader = read_all(stream)
    if not [frame for frame in got if frame not in sent]:
        assert got == sent
    assert reader.pending == 0


# --- examples -------------------------------------------------------------------------------------

RECORD = VECTORS[10]
ACK = VECTORS[12]


def _record_with_fa() -> Frame:
    data = bytearray(RECORD[6:-2])
    data[1:5] = bytes.fromhex("12 FA 34 FA")
    return Frame(0xE2, 0xFF, 0x1A, bytes(data))


def test_a_frame_cut_inside_an_escaped_pair_does_not_hide_the_next_one() -> None:
    damaged = encode_frame(_record_with_fa())
    cut = damaged.index(b"\xfa\xfa", 6) + 1  # ... 12 FA | FA 34 ...: a lone FA remains
    assert damaged[cut - 1] == SOF
    poll = Frame(0xC0, 0x00, 0x31, b"\x30")
    stream = damaged[:cut] + ACK + encode_frame(poll)
    errors: list[FrameError] = []
    reader = FrameReader(errors.append)
    got = list(reader.feed(stream))
    assert got == [Frame(0x00, 0xE0, 0x2A, b"\x32\x00"), poll]
    assert len(errors) == 1  # the damaged record, once
    assert isinstance(errors[0], TruncatedFrameError)
    assert errors[0].raw.startswith(damaged[:cut])


def test_crc_error_drops_only_the_sof() -> None:
    # a corrupted frame whose DATA ends with a lone FA that pairs with the next frame's SOF
    outer = Frame(0x01, 0x02, 0x03, b"\x3b\x00" + b"\x11" * 8)
    wire = bytearray(encode_frame(outer))
    wire[8] ^= 0x01  # damage DATA: the CRC will not match
    hidden = ACK
    stream = bytes(wire[:-3]) + b"\xfa" + hidden + b"\x00\x00\x00"
    errors: list[FrameError] = []
    reader = FrameReader(errors.append)
    got = list(reader.feed(stream))
    assert got == [Frame(0x00, 0xE0, 0x2A, b"\x32\x00")]
    assert len(errors) == 1


def test_crc_mismatch_is_reported_with_the_raw_frame() -> None:
    bad = bytearray(ACK)
    bad[-1] ^= 0xFF
    errors: list[FrameError] = []
    reader = FrameReader(errors.append)
    assert list(reader.feed(bytes(bad) + VECTORS[1])) == [Frame(0xC0, 0x00, 0x31, b"\x30")]
    assert len(errors) == 1
    error = errors[0]
    assert isinstance(error, CrcError)
    assert error.raw == bytes(bad)
    assert (error.expected, error.received) == (0x06BB, 0x0644)
    assert reader.stats.crc_errors == 1
    assert reader.stats.frames == 1


def test_bad_len_is_reported_and_skipped() -> None:
    errors: list[FrameError] = []
    reader = FrameReader(errors.append)
    got = list(reader.feed(bytes.fromhex("FA 01 02 03 0A 00 30") + ACK))
    assert got == [Frame(0x00, 0xE0, 0x2A, b"\x32\x00")]
    assert [type(e) for e in errors] == [LengthError]
    assert errors[0].raw == bytes.fromhex("FA 01 02 03 0A 00")


def test_fa_in_the_header_restarts_the_hunt() -> None:
    got, reader = read_all(bytes.fromhex("FA E0 FF") + ACK)
    assert got == [Frame(0x00, 0xE0, 0x2A, b"\x32\x00")]
    assert reader.stats.crc_errors == reader.stats.truncated == 0


def test_a_trailing_fa_waits_for_the_next_byte() -> None:
    frame = _record_with_fa()
    wire = encode_frame(frame)
    split = wire.index(b"\xfa\xfa", 6) + 1
    reader = FrameReader()
    assert list(reader.feed(wire[:split])) == []
    assert reader.pending == split
    assert list(reader.feed(wire[split:])) == [frame]
    assert reader.pending == 0


def test_feed_buffers_even_when_not_iterated() -> None:
    reader = FrameReader()
    reader.feed(ACK)  # the caller drops the iterator
    assert reader.pending == len(ACK)
    assert list(reader.feed(b"")) == [Frame(0x00, 0xE0, 0x2A, b"\x32\x00")]


def test_reset_forgets_a_partial_frame() -> None:
    reader = FrameReader()
    assert list(reader.feed(RECORD[:50])) == []
    reader.reset()
    assert reader.pending == 0
    assert reader.stats.resets == 1
    assert list(reader.feed(RECORD[50:] + ACK)) == [Frame(0x00, 0xE0, 0x2A, b"\x32\x00")]


def test_pending_is_bounded_by_the_longest_frame() -> None:
    errors: list[FrameError] = []
    reader = FrameReader(errors.append)
    head = bytes.fromhex("FA 01 02 03 99 99")  # LEN 9999: up to 2 x 10001 escaped bytes to wait for
    assert list(reader.feed(head + b"\xfa\xfa" * 9000)) == []
    assert reader.pending == 6 + 18000 <= MAX_PENDING
    assert list(reader.feed(b"\x00" * 5000)) == []
    assert [type(e) for e in errors] == [CrcError]
    assert reader.pending <= 1  # what is left is at most a final FA
