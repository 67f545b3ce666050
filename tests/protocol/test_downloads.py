"""Download streams (spec A6): list files, price table, station info, segments."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol import downloads as d
from protocol.crc import crc16_arc
from protocol.downloads import (
    ASN_LEN,
    DownloadFormatError,
    DownloadValueError,
    InvalidAsnError,
    ListCountError,
    ListDateError,
    ListDuplicateError,
    ListFile,
    ListHeader,
    ListKind,
    ListOrderError,
    PriceRecord,
    PriceTable,
    SegmentRequestError,
    StationInfo,
    list_stream_contains,
    looks_like_list_stream,
    pack_asn,
    segment,
    unpack_asn,
    validate_list_stream,
)
from protocol.errors import EncodeError, ProtocolError
from protocol.messages import Content

Codec = ListFile | PriceTable | StationInfo
PARSERS: tuple[Callable[[bytes], Codec], ...] = (ListFile.parse, PriceTable.parse, StationInfo.parse)

D1 = dt.date(2024, 1, 1)
D2 = dt.date(2024, 12, 31)

# --- strategies ------------------------------------------------------------------------------------

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFF_FFFF)
asn_values = st.integers(0, 10**20 - 1)
dates = st.dates(min_value=dt.date(1000, 1, 1))


def digits(n: int) -> st.SearchStrategy[str]:
    return st.integers(0, 10**n - 1).map(lambda v: f"{v:0{n}d}")


@st.composite
def list_files(draw: st.DrawFn) -> ListFile:
    values = sorted(draw(st.sets(asn_values, max_size=40)))
    valid_from = draw(dates)
    valid_to = draw(st.dates(min_value=valid_from))
    return ListFile.from_asns(draw(u16), valid_from, valid_to, draw(u16), [f"{v:020d}" for v in values])


price_records = st.builds(
    PriceRecord, nzn=u8, g_code=digits(4), density=u32, prices=st.lists(u16, max_size=4).map(tuple)
)
minutes = st.datetimes(min_value=dt.datetime(1000, 1, 1)).map(lambda t: t.replace(second=0, microsecond=0))


@st.composite
def price_tables(draw: st.DrawFn) -> PriceTable:
    n = draw(st.integers(0, 5))
    records = st.lists(price_records, min_size=n, max_size=n).map(tuple)
    return PriceTable(draw(u8), draw(minutes), draw(records), draw(records))


station_infos = st.builds(
    StationInfo,
    version=u8,
    prov=digits(2),
    city=digits(2),
    superior=digits(8),
    s_id=digits(8),
    pos_p=u8,
    nozzles=st.lists(u8, max_size=8).map(tuple),
)


def asn(n: int, prefix: str = "1000010000") -> str:
    return f"{prefix}{n:010d}"


def make_list(values: list[int], version: int = 1) -> ListFile:
    return ListFile.from_asns(version, D1, D2, 0x11, [asn(v) for v in values])


# --- round trips -----------------------------------------------------------------------------------


@given(list_files())
def test_list_file_round_trip(lst: ListFile) -> None:
    data = lst.build()
    assert len(data) == d.LIST_HEADER_LEN + ASN_LEN * lst.count
    parsed = ListFile.parse(data)
    assert parsed == lst
    assert parsed.build() == data
    assert validate_list_stream(data) == lst.header
    assert looks_like_list_stream(data[:16], len(data))


@given(price_tables())
def test_price_table_round_trip(table: PriceTable) -> None:
    data = table.build()
    assert PriceTable.parse(data) == table
    assert PriceTable.parse(data).build() == data


@given(station_infos)
def test_station_info_round_trip(info: StationInfo) -> None:
    data = info.build()
    assert len(data) == 13 + len(info.nozzles)
    assert StationInfo.parse(data) == info


@given(price_tables(), station_infos, list_files())
def test_compiled_and_plain_structs_agree(table: PriceTable, info: StationInfo, lst: ListFile) -> None:
    for plain, compiled, data in (
        (d.PRICE_TABLE_STRUCT, d.PRICE_TABLE, table.build()),
        (d.STATION_INFO_STRUCT, d.STATION_INFO, info.build()),
        (d.LIST_HEADER_STRUCT, d.LIST_HEADER, lst.build()[:16]),
    ):
        assert plain.parse(data) == compiled.parse(data)
        assert plain.build(compiled.parse(data)) == data


@given(st.sets(st.integers(0, 200), max_size=60), st.lists(st.integers(0, 200), max_size=30))
def test_membership_matches_a_set(values: set[int], probes: list[int]) -> None:
    lst = make_list(sorted(values))
    stream = lst.build()
    for probe in [*probes, *values]:
        assert (asn(probe) in lst) == (probe in values)
        assert list_stream_contains(stream, pack_asn(asn(probe))) == (probe in values)
    assert list(lst) == [asn(v) for v in sorted(values)]


def test_list_layout_is_the_spec_header() -> None:
    lst = make_list([1, 2], version=0x1234)
    assert lst.build()[:16] == bytes.fromhex("1234 20240101 20241231 0011 00000002".replace(" ", ""))
    assert lst.asn_at(-1) == asn(2)
    assert "count=2" in repr(lst)


# --- spec vectors ----------------------------------------------------------------------------------


def test_vector_3_price_table_of_0x58_bytes() -> None:
    """Vector 3 announces a price table of 0x58 bytes: 4 nozzles x 1 level, or 2 nozzles x 6 levels."""
    one_level = tuple(PriceRecord(n, "0092", 7_400, (765,)) for n in range(1, 5))
    six_levels = tuple(PriceRecord(n, "0095", 7_500, tuple(range(800, 806))) for n in (1, 2))
    now = dt.datetime(2024, 5, 1, 0, 0)
    for current in (one_level, six_levels):
        data = PriceTable(3, now, current, current).build()
        assert len(data) == 0x58
        answer = bytes([0x33]) + len(data).to_bytes(4, "big") + bytes([Content.PRICE_TABLE])
        body = bytes.fromhex("00 00 44 00 06") + answer
        assert crc16_arc(body) == 0xC35A  # vector 3: FA 00 00 44 00 06 33 00 00 00 58 04 C3 5A


def test_vector_8_white_list_segment() -> None:
    """Vector 8: white list, S_OFFSET 0x3D, SEG 15: 24 ASNs 01 00 04 11 10 01 00 00 01 xx (xx BCD 13..36)."""
    head = [f"010004111000000000{i:02d}" for i in range(96)]  # 16 + 96 x 10 = 976 = 0x3D x 16
    vector = [f"010004111001000001{x:02d}" for x in range(13, 37)]
    tail = [f"010004111002000000{i:02d}" for i in range(10)]
    white = ListFile.from_asns(7, D1, D2, 0x11, head + vector + tail)
    data = segment(white.build(), 0x3D, 15)
    assert data == b"".join(pack_asn(a) for a in vector)
    payload = bytes.fromhex("34 03 00 3D 0F") + data
    assert len(payload) == 245
    assert crc16_arc(bytes.fromhex("00 00 47 02 45") + payload) == 0xC3D1


def test_vector_7_short_last_segment() -> None:
    """Vector 7: the answer at S_OFFSET 0xFFFD holds 12 bytes: the stream ends there."""
    stream = bytes(0xFFFD * 16) + bytes(range(1, 13))
    assert segment(stream, 0xFFFD, 0x63) == bytes(range(1, 13))
    assert len(stream) <= d.MAX_SEGMENTED_LEN


def test_vectors_5_and_6_past_the_end_and_empty() -> None:
    assert segment(b"x" * 100, 0x1234, 0x24) == b""
    assert segment(b"", 0, 30) == b""


@given(st.binary(max_size=2000), st.integers(0, 200), st.integers(1, 255))
def test_segment_slices_16_byte_segments(data: bytes, offset: int, count: int) -> None:
    assert segment(data, offset, count) == data[offset * 16 : (offset + count) * 16]


@given(st.binary(max_size=3000))
def test_segments_of_30_rebuild_the_stream(data: bytes) -> None:
    parts = [segment(data, off, 30) for off in range(0, len(data) // 16 + 1, 30)]
    assert b"".join(parts) == data
    assert all(len(p) == 480 for p in parts[:-1])


@pytest.mark.parametrize(("offset", "count"), [(-1, 1), (0x10000, 1), (0, 0), (0, 256)])
def test_segment_rejects_out_of_range_requests(offset: int, count: int) -> None:
    with pytest.raises(SegmentRequestError) as info:
        segment(b"abc", offset, count)
    assert (info.value.offset_segments, info.value.count) == (offset, count)


# --- list rejections -------------------------------------------------------------------------------


def _stream(values: list[int]) -> bytearray:
    return bytearray(make_list(values).build())


def test_list_rejects_short_header() -> None:
    with pytest.raises(DownloadFormatError):
        ListFile.parse(bytes(15))


@pytest.mark.parametrize("extra", [b"\x00", b"", bytes(10)])
def test_list_rejects_count_mismatch(extra: bytes) -> None:
    data = _stream([1, 2, 3])
    data = data[:-1] + extra if extra == b"" else data + extra
    with pytest.raises(ListCountError) as info:
        ListFile.parse(bytes(data))
    assert info.value.count == 3


@pytest.mark.parametrize(
    ("offset", "raw"), [(2, b"\x20\x2a"), (6, b"\x20\x24\x02\x30"), (2, b"\x20\x24\x13\x01")]
)
def test_list_rejects_bad_dates(offset: int, raw: bytes) -> None:
    data = _stream([1])
    data[offset : offset + len(raw)] = raw
    with pytest.raises(DownloadFormatError, match="valid_"):
        ListFile.parse(bytes(data))


def test_list_rejects_valid_to_before_valid_from() -> None:
    data = _stream([1])
    data[6:10] = bytes.fromhex("20231231")
    with pytest.raises(ListDateError):
        ListFile.parse(bytes(data))
    with pytest.raises(ListDateError):
        ListFile(1, D2, D1, 0, b"")


def test_list_rejects_non_bcd_entry_and_names_it() -> None:
    data = _stream([1, 2, 3, 4])
    data[16 + 2 * 10 + 9] = 0x1A
    with pytest.raises(InvalidAsnError) as info:
        ListFile.parse(bytes(data))
    assert info.value.index == 2


def test_list_rejects_unsorted_and_duplicates_naming_the_entry() -> None:
    with pytest.raises(ListOrderError) as order:
        ListFile.parse(bytes(_unsorted([1, 2, 5, 4, 6])))
    assert not isinstance(order.value, ListDuplicateError)
    assert (order.value.index, order.value.asn, order.value.previous) == (3, asn(4), asn(5))
    with pytest.raises(ListDuplicateError) as dup:
        ListFile.parse(bytes(_unsorted([1, 2, 2, 3])))
    assert dup.value.index == 2


def _unsorted(values: list[int]) -> bytes:
    header = ListHeader(1, D1, D2, 0x11, len(values)).build()
    return header + b"".join(pack_asn(asn(v)) for v in values)


@pytest.mark.parametrize("bad_at", [65535, 65536, 65537])
def test_order_checked_across_chunk_boundaries(bad_at: int) -> None:
    values = list(range(70_000))
    values[bad_at] = values[bad_at - 1]
    with pytest.raises(ListDuplicateError) as info:
        ListFile.parse(_unsorted(values))
    assert info.value.index == bad_at


@pytest.mark.parametrize(
    "kwargs",
    [
        {"version": 0x10000},
        {"area": -1},
        {"valid_from": dt.datetime(2024, 1, 1)},
        {"entries": bytes(15)},
        {"version": True},
    ],
)
def test_list_file_rejects_bad_fields(kwargs: dict[str, object]) -> None:
    fields: dict[str, object] = {"version": 1, "valid_from": D1, "valid_to": D2, "area": 0, "entries": b""}
    with pytest.raises(DownloadValueError) as info:
        ListFile(**{**fields, **kwargs})  # type: ignore[arg-type]
    assert isinstance(info.value, EncodeError)


@pytest.mark.parametrize(
    "bad", ["0100041110010000011", "0100041110010000011A", "٠" * 20, "010004111001000001133"]
)
def test_from_asns_names_the_bad_number(bad: str) -> None:
    with pytest.raises(InvalidAsnError) as info:
        ListFile.from_asns(1, D1, D2, 0, [asn(1), asn(2), bad])
    assert info.value.index == 2


def test_asn_packing() -> None:
    assert pack_asn("01000411100100000113") == bytes.fromhex("01000411100100000113")
    assert unpack_asn(bytes.fromhex("01000411100100000113")) == "01000411100100000113"
    with pytest.raises(InvalidAsnError):
        unpack_asn(bytes.fromhex("0100041110010000011F"))
    with pytest.raises(InvalidAsnError):
        unpack_asn(bytes(9))


def test_list_kinds() -> None:
    assert ListKind.BASE.wire_version(0x1234) == 0x1234
    assert ListKind.ADDED.wire_version(0x1234) == 0x34
    assert ListKind.from_label(" White ") is ListKind.WHITE
    assert ListKind.from_label("2") is ListKind.DELETED
    assert ListKind.DELETED.content == 2
    with pytest.raises(ValueError, match="unknown list kind"):
        ListKind.from_label("grey")


def test_text_is_not_taken_for_a_list_stream() -> None:
    text = b"kind = base\nversion = 1\n" + b"0" * 40
    assert not looks_like_list_stream(text[:16], len(text))


# --- price table and station info rejections -------------------------------------------------------

TABLE = PriceTable(
    3,
    dt.datetime(2024, 5, 1, 8, 30),
    (PriceRecord(1, "0092", 7_400, (765, 760)), PriceRecord(2, "0095", 7_500, (812,))),
    (PriceRecord(1, "0092", 7_400, (770, 765)), PriceRecord(2, "0095", 7_500, (820,))),
)
INFO = StationInfo(2, "11", "01", "11000000", "11010042", 3, (1, 2, 3, 4))


def test_price_table_layout() -> None:
    data = TABLE.build()
    assert data[:8] == bytes.fromhex("03 202405010830 02")
    assert data[8:20] == bytes.fromhex("01 0092 00001CE8 02 02FD 02F8")


@pytest.mark.parametrize("cut", range(1, 40, 3))
def test_price_table_rejects_truncation(cut: int) -> None:
    data = TABLE.build()
    with pytest.raises(DownloadFormatError):
        PriceTable.parse(data[:-cut])


def test_price_table_rejects_trailing_bytes_and_bad_fields() -> None:
    data = bytearray(TABLE.build())
    with pytest.raises(DownloadFormatError):
        PriceTable.parse(bytes(data) + b"\x00")
    bad_code = bytearray(data)
    bad_code[9] = 0x0A
    with pytest.raises(DownloadFormatError, match="BCD"):
        PriceTable.parse(bytes(bad_code))
    bad_time = bytearray(data)
    bad_time[3] = 0x13
    with pytest.raises(DownloadFormatError, match="time"):
        PriceTable.parse(bytes(bad_time))


@pytest.mark.parametrize(
    "make",
    [
        lambda: PriceRecord(1, "92", 0, ()),
        lambda: PriceRecord(1, "0092", 0, (70_000,)),
        lambda: PriceRecord(256, "0092", 0, ()),
        lambda: PriceRecord(1, "0092", 0, [1]),  # type: ignore[arg-type]
        lambda: PriceTable(1, dt.datetime(2024, 1, 1, 8, 0, 5), (), ()),
        lambda: PriceTable(1, dt.datetime(2024, 1, 1), TABLE.current, TABLE.new[:1]),
        lambda: PriceTable(256, dt.datetime(2024, 1, 1), (), ()),
        lambda: StationInfo(1, "1", "01", "11000000", "11010042", 3),
        lambda: StationInfo(1, "11", "01", "1100000A", "11010042", 3),
        lambda: StationInfo(1, "11", "01", "11000000", "11010042", 3, (300,)),
    ],
)
def test_dataclasses_reject_out_of_range_fields(make: object) -> None:
    with pytest.raises(DownloadValueError):
        make()  # type: ignore[operator]


def test_station_info_layout_and_rejections() -> None:
    data = INFO.build()
    assert data == bytes.fromhex("02 11 01 11000000 11010042 03 04 01020304")
    assert INFO.province_code == 0x11
    for cut in range(1, len(data)):
        with pytest.raises(DownloadFormatError):
            StationInfo.parse(data[:cut])
    with pytest.raises(DownloadFormatError):
        StationInfo.parse(data + b"\x05")
    with pytest.raises(DownloadFormatError):
        StationInfo.parse(bytes([2, 0x1F]) + data[2:])


def test_every_error_is_a_protocol_error() -> None:
    for cls in (DownloadFormatError, ListCountError, DownloadValueError, InvalidAsnError, ListOrderError,
                ListDuplicateError, ListDateError, SegmentRequestError):  # fmt: skip
        assert issubclass(cls, ProtocolError)


def _parse_or_typed_error(parse: Callable[[bytes], Codec], data: bytes) -> None:
    """Either the bytes parse and build back identically, or the error is a typed DownloadError."""
    try:
        parsed = parse(data)
    except d.DownloadError:
        return
    assert parsed.build() == data


@given(st.binary(max_size=120))
def test_garbage_gives_typed_errors_only(data: bytes) -> None:
    for parse in PARSERS:
        _parse_or_typed_error(parse, data)


@given(price_tables(), station_infos, list_files(), st.data())
def test_damaged_streams_give_typed_errors_only(
    table: PriceTable, info: StationInfo, lst: ListFile, data: st.DataObject
) -> None:
    for parse, good in zip(PARSERS, (lst.build(), table.build(), info.build()), strict=True):
        damaged = bytearray(good)
        if damaged:
            at = data.draw(st.integers(0, len(damaged) - 1))
            damaged[at] = data.draw(u8)
        cut = data.draw(st.integers(0, len(damaged)))
        _parse_or_typed_error(parse, bytes(damaged))
        _parse_or_typed_error(parse, bytes(damaged[:cut]))
