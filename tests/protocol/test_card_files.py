"""Card file layouts and APDUs: round trips, exact offsets, and garbage refused with a typed error."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.card import apdu
from protocol.card.apdu import Command, LoadInit, PurchaseInit, PurseState, UnlockRequest
from protocol.card.errors import (
    ApduError,
    CardFileError,
    InsufficientBalance,
    MacRejected,
    PinBlocked,
    PinWrong,
    StatusWordError,
    check_sw,
    error_for,
)
from protocol.card.files import (
    CreditFile,
    GreyState,
    GreyStatus,
    HolderFile,
    IssuerFile,
    IssueState,
    LimitsFile,
    LogRecord,
    VehicleFile,
)

dates = st.none() | st.dates(min_value=dt.date(1990, 1, 1), max_value=dt.date(2099, 12, 31))
times = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2099, 12, 31)).map(
    lambda d: d.replace(microsecond=0)
)
asns = st.text("0123456789", min_size=20, max_size=20)
u32 = st.integers(0, 0xFFFFFFFF)
cjk = st.text(st.sampled_from("张三李四王五京沪粤AB0123 "), max_size=8).map(str.strip)
ascii_ = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), max_size=16)
term = st.binary(min_size=6, max_size=6)


@given(asns, dates, dates, st.sampled_from(IssueState))
def test_issuer_round_trip(asn: str, start: dt.date | None, until: dt.date | None, state: IssueState) -> None:
    f = IssuerFile(asn=asn, valid_from=start, valid_until=until, issue_state=state)
    raw = f.encode()
    assert len(raw) == IssuerFile.SIZE
    assert raw[10:20].hex() == asn
    assert IssuerFile.parse(raw) == f


@given(cjk, ascii_.filter(lambda s: len(s) <= 18), st.none() | st.integers(0, 2), st.integers(0, 10000))
def test_holder_round_trip(name: str, ident: str, level: int | None, discount: int) -> None:
    f = HolderFile(
        name=name, id_number=ident, price_level=level, discount_bp=discount if level is not None else 0
    )
    raw = f.encode()
    assert len(raw) == (HolderFile.SIZE if level is None else HolderFile.CNG_SIZE)
    assert HolderFile.parse(raw) == f


@given(dates, cjk, ascii_, st.integers(0, 4), st.integers(0, 3))
def test_vehicle_round_trip(until: dt.date | None, plate: str, cyl: str, cls: int, mode: int) -> None:
    f = VehicleFile(until, plate, cyl, cls, mode)
    raw = f.encode()
    assert len(raw) == VehicleFile.SIZE
    assert VehicleFile.parse(raw) == f


def test_vehicle_cylinder_date_is_bcd_at_offset_0_and_plate_at_4() -> None:
    raw = VehicleFile(dt.date(2027, 6, 30), "京A12345").encode()
    assert raw[0:4].hex() == "20270630"
    assert raw[4:20].rstrip(b"\0").decode("gbk") == "京A12345"


@given(st.integers(0, 9999), st.integers(0, 255), cjk, u32, st.integers(0, 255), u32, u32)
def test_limits_round_trip(
    prod: int, prov: int, plate: str, station: int, fills: int, sale: int, day: int
) -> None:
    f = LimitsFile(f"{prod:04d}", prov, plate, station, fills, sale, day)
    assert len(f.encode()) == LimitsFile.SIZE
    assert LimitsFile.parse(f.encode()) == f


@given(u32, dates, u32)
def test_credit_round_trip(line: int, cleared: dt.date | None, amount: int) -> None:
    f = CreditFile(line, cleared, amount)
    assert CreditFile.parse(f.encode()) == f


@given(st.integers(0, 0xFFFF), u32, st.integers(0, 255), term, times)
def test_log_record_round_trip(
    counter: int, amount: int, kind: int, terminal: bytes, when: dt.datetime
) -> None:
    f = LogRecord(counter, amount, kind, terminal, when)
    assert len(f.encode()) == LogRecord.SIZE
    assert LogRecord.parse(f.encode()) == f


@given(u32, st.integers(0, 0xFFFF), term, u32, times, st.binary(min_size=4, max_size=4))
def test_grey_status_round_trip_and_fixed_offsets(
    bal: int, ctc: int, terminal: bytes, ttc: int, when: dt.datetime, gtac: bytes
) -> None:
    f = GreyStatus(GreyState.GREY, 0x91, bal, ctc, 1, terminal, ttc, when, gtac)
    raw = f.encode()
    assert len(raw) == 30
    assert raw[0] == 0x01
    assert raw[9:15] == terminal
    assert raw[26:30] == gtac
    assert GreyStatus.parse(raw) == f


@pytest.mark.parametrize(
    ("cls", "raw"),
    [
        (IssuerFile, bytes(10) + b"\xaa" * 10 + bytes(10)),  # ASN not BCD
        (IssuerFile, bytes(29)),  # short
        (IssuerFile, bytes(20) + bytes.fromhex("20241301") + bytes(6)),  # month 13
        (IssuerFile, bytes(28) + b"\x07\x00"),  # unknown issue state
        (HolderFile, b"\x00\x00" + b"\xff\xff" + bytes(37)),  # not GBK
        (HolderFile, bytes(41) + b"\x07\x00\x00"),  # price level 7
        (VehicleFile, bytes(36) + b"\x09\x00\x00\x00"),  # vehicle class 9
        (VehicleFile, bytes.fromhex("20270230") + bytes(36)),  # 30 February
        (LimitsFile, b"\xab\xcd" + bytes(30)),
        (LogRecord, bytes(23)),  # no date
        (GreyStatus, b"\x01" + bytes(29)),  # grey without a lock time
        (GreyStatus, b"\x05" + bytes(29)),  # unknown state
    ],
)
def test_garbage_is_a_card_file_error(cls: type, raw: bytes) -> None:
    with pytest.raises(CardFileError) as info:
        cls.parse(raw)
    assert info.value.raw == raw


@given(st.binary(max_size=60))
def test_any_bytes_parse_or_raise_card_file_error(raw: bytes) -> None:
    for cls in (IssuerFile, HolderFile, VehicleFile, LimitsFile, CreditFile, LogRecord, GreyStatus):
        with contextlib.suppress(CardFileError):  # anything else escaping fails the test
            cls.parse(raw)  # type: ignore[attr-defined]


commands = st.builds(
    Command,
    st.integers(0, 255),
    st.integers(0, 255),
    st.integers(0, 255),
    st.integers(0, 255),
    st.binary(max_size=255),
    st.none() | st.integers(1, 256),
)


@given(commands)
def test_command_round_trip(cmd: Command) -> None:
    assert Command.parse(cmd.encode()) == cmd


@pytest.mark.parametrize("raw", ["00A4", "00A4000005AABB", "00A40000"[:6], "00A4000002AABBCCDD"])
def test_malformed_apdus(raw: str) -> None:
    with pytest.raises(ApduError):
        Command.parse(bytes.fromhex(raw))


def test_builders_match_the_spec_headers() -> None:
    assert apdu.read_binary(0x15).hex().upper() == "00B0950000"
    assert apdu.read_record(0x18, 1, 23).hex().upper() == "00B201C417"
    assert apdu.get_balance(apdu.Purse.EP).hex().upper() == "805C000204"
    assert apdu.init_load(apdu.Purse.EP, 1, 0x1000, bytes(6)).hex().upper().startswith("805000020B01")
    assert apdu.grey_status().hex().upper() == "E0CA00001E"
    assert apdu.grey_lock(1, bytes(7), bytes(4)).hex().upper().startswith("E07C080010")
    req = UnlockRequest(1, 2, bytes(6), 3, bytes(7), bytes(4))
    assert apdu.debit_unlock(req)[:5].hex().upper() == "E07E08001B"
    assert apdu.verify_pin("12345")[5:].hex().upper() == "12345F"


def test_response_structs_round_trip() -> None:
    li = LoadInit(1, 2, 1, 0, b"abcd", b"wxyz")
    assert LoadInit.parse(li.encode()) == li
    pi = PurchaseInit(1, 2, 3, 1, 0, b"abcd")
    assert PurchaseInit.parse(pi.encode()) == pi
    ps = PurseState(5, 6, 7)
    assert PurseState.parse(ps.encode()) == ps
    req = UnlockRequest(1, 2, b"123456", 3, bytes(7), b"gmac")
    assert UnlockRequest.parse(req.encode()) == req


def test_status_words_map_to_typed_errors() -> None:
    assert isinstance(error_for(0x63C2, "VERIFY"), PinWrong)
    assert error_for(0x63C2, "VERIFY").tries_left == 2  # type: ignore[attr-defined]
    assert isinstance(error_for(0x6983, "VERIFY"), PinBlocked)
    assert isinstance(error_for(0x9302, "CREDIT"), MacRejected)
    assert isinstance(error_for(0x9401, "DEBIT"), InsufficientBalance)
    assert type(error_for(0x6F00, "X")) is StatusWordError
    check_sw(0x9000, "X")
    with pytest.raises(MacRejected) as info:
        check_sw(0x9302, "CREDIT FOR LOAD")
    assert info.value.sw == 0x9302 and "CREDIT FOR LOAD" in str(info.value)


def test_expect_data() -> None:
    assert apdu.expect_data(b"ab\x90\x00", "X", 2) == b"ab"
    with pytest.raises(ApduError):
        apdu.expect_data(b"\x90", "X")
    with pytest.raises(ApduError):
        apdu.expect_data(b"abc\x90\x00", "X", 2)
    with pytest.raises(PinWrong):
        apdu.expect_data(b"\x63\xc1", "VERIFY")


@pytest.mark.parametrize("pin", ["123", "12a4", "1234567890123", ""])
def test_bad_pins(pin: str) -> None:
    with pytest.raises(ValueError):
        apdu.pin_bytes(pin)
