"""Part C of the spec: every vector read by `FrameReader`, directed by `guess_direction`, decoded to the
values the spec states, and rebuilt to the same logical bytes."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from protocol_testkit import (
    SPEC,
    VECTOR_8_ASNS,
    VECTOR_8_CRC,
    VECTOR_8_ENTRY,
    VECTOR_8_HEAD,
    VECTOR_TEXT,
    VECTORS,
)
from protocol_testkit import decode_vector as decode

from protocol.codec import encode_message
from protocol.crc import crc16_arc
from protocol.frame import Frame, encode_frame
from protocol.messages import (
    CardInserted,
    DownloadInfo,
    DownloadStart,
    Fuelling,
    NozzleInfo,
    Poll,
    PollReply,
    RecordAck,
    RecordUpload,
    SegmentData,
    SegmentRequest,
)


def test_crc_check_value() -> None:
    assert crc16_arc(b"123456789") == 0xBB3D


def test_crc_worked_example() -> None:
    body = bytes.fromhex("E0 FF 00 00 01 30")
    assert crc16_arc(body) == 0xF003
    assert Frame(0xE0, 0xFF, 0x00, b"\x30").logical_bytes() == bytes.fromhex("FA E0 FF 00 00 01 30 F0 03")


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text).upper()


def test_vectors_are_the_specs() -> None:
    spec = _normalise(SPEC.read_text(encoding="utf-8"))
    for number, text in VECTOR_TEXT.items():
        assert _normalise(text) in spec, f"vector {number} no longer matches the spec"
    for part in (VECTOR_8_HEAD, VECTOR_8_ENTRY, VECTOR_8_CRC, "24 ×", "BCD 13, 14, …, 36"):
        assert _normalise(part) in spec


@pytest.mark.parametrize("number", sorted(VECTORS))
def test_vector_rebuilds_to_the_same_bytes(number: int) -> None:
    frame, msg, _ = decode(number)
    vector = VECTORS[number]
    rebuilt = Frame(frame.dst, frame.src, frame.ctrl, encode_message(msg))
    assert rebuilt == frame
    assert rebuilt.logical_bytes() == vector
    assert b"\xfa" not in vector[1:]  # no vector exercises escaping: wire form == logical form
    assert encode_frame(rebuilt) == vector


def test_vector_1_poll() -> None:
    frame, msg, rule = decode(1)
    assert (frame.dst, frame.src, frame.ctrl, frame.frame_no, frame.from_host) == (
        0xC0,
        0x00,
        0x31,
        0x31,
        False,
    )
    assert msg == Poll()
    assert rule == "default"


def test_vector_2_poll() -> None:
    frame, msg, rule = decode(2)
    assert (frame.dst, frame.src, frame.ctrl) == (0xE0, 0xFF, 0x00)
    assert msg == Poll()
    assert rule == "default"


def test_vector_3_download_info_price_table() -> None:
    frame, msg, rule = decode(3)
    assert msg == DownloadInfo(total_len=0x58, content=4)
    assert frame.from_host
    assert rule == "ctrl_b6"


def test_vector_4_download_start() -> None:
    frame, msg, rule = decode(4)
    assert msg == DownloadStart(content=4, ibl_ver=0x1234)
    assert (frame.dst, frame.src, frame.frame_no, frame.from_host) == (0xE2, 0xFF, 0x18, False)
    assert rule == "default"


def test_vector_5_segment_request() -> None:
    _, msg, rule = decode(5)
    assert msg == SegmentRequest(content=4, s_offset=0x1234, seg=0x24)
    assert rule == "default"


def test_vector_6_download_info_empty() -> None:
    frame, msg, rule = decode(6)
    assert msg == DownloadInfo(total_len=0, content=4)
    assert (frame.frame_no, frame.from_host) == (0x0B, True)
    assert rule == "ctrl_b6"


def test_vector_7_segment_data() -> None:
    _, msg, rule = decode(7)
    assert msg == SegmentData(content=4, s_offset=0xFFFD, seg=0x63, data=bytes(range(1, 13)))
    assert rule == "ctrl_b6"


def test_vector_8_white_list_segment() -> None:
    frame, msg, rule = decode(8)
    assert len(frame.data) == 245  # LEN BCD 02 45
    assert isinstance(msg, SegmentData)
    assert (msg.content, msg.s_offset, msg.seg) == (3, 0x3D, 15)
    asns = [msg.data[i : i + 10].hex() for i in range(0, len(msg.data), 10)]
    assert asns == list(VECTOR_8_ASNS)
    assert len(asns) == 24
    assert rule == "ctrl_b6"


def test_vector_9_nozzle_info() -> None:
    frame, msg, rule = decode(9)
    assert len(frame.data) == 88
    card = CardInserted(
        nzn=0x12,
        asn="12345678901234567890",
        card_st=0x4455,
        bal=0x99221133,
        ic_data=bytes.fromhex("96 54 32 11 22 33"),
    )
    fuel = Fuelling(nzn=0x08, p_unit=0x01, amn=0x223344, vol=0x556677, prc=0x8907)
    assert msg == NozzleInfo((card, fuel, card, card))
    assert rule == "command"


def test_vector_10_transaction_record() -> None:
    frame, msg, rule = decode(10)
    assert rule == "default"
    assert (frame.dst, frame.src, frame.ctrl) == (0xE2, 0xFF, 0x1A)
    assert isinstance(msg, RecordUpload)
    rec = msg.record
    # the values the spec states
    assert rec.pos_ttc == 305419896
    assert rec.time == dt.datetime(2017, 2, 23, 0, 0, 0)
    assert rec.bal == 1450674320
    assert rec.amn == 74291
    assert rec.ctc == 38279
    assert rec.ver == 0x12
    assert rec.nzn == 9
    assert rec.g_code == "0102"
    assert rec.vol == 0x010203
    assert rec.prc == 0x0202
    assert rec.emp == 9
    assert rec.v_tot == 0x12348899
    assert rec.t_mac == 0x12345678
    # and the rest of the 95 bytes, read off the vector
    assert rec.t_type == 0
    assert rec.asn == "98765432109876543210"
    assert (rec.tac, rec.gmac, rec.psam_tac) == (0x44448888, 0x55551111, 0x66662222)
    assert rec.psam_asn == "01234567890123456789"
    assert rec.psam_tid == bytes.fromhex("123456123456")
    assert rec.psam_ttc == 0x22333311
    assert (rec.ds, rec.unit, rec.c_type) == (0, 0, 0)
    assert rec.rfu == bytes(11)


def test_vector_11_poll_reply() -> None:
    frame, msg, rule = decode(11)
    assert (frame.dst, frame.src, frame.ctrl) == (0x00, 0xE0, 0x48)
    assert msg == PollReply(
        pc_time=dt.datetime(2013, 11, 17, 7, 6, 0),
        bl_ver=500,
        add_bl_ver=88,
        del_bl_ver=77,
        wh_ver=66,
        prc_ver=55,
        sta_ver=44,
        self_d_ver=0,
        soft_flag=0,
    )
    assert rule == "ctrl_b6"


def test_vector_12_record_ack_needs_the_address_rule() -> None:
    frame, msg, rule = decode(12)
    assert frame.ctrl == 0x2A
    assert not frame.from_host  # CTRL b6 is clear although the controller sent it
    assert msg == RecordAck(result=0)
    assert rule == "src_address"


def test_vector_13_empty_nozzle_info() -> None:
    _, msg, rule = decode(13)
    assert msg == NozzleInfo(())
    assert rule == "command"


def test_the_vectors_come_from_the_repository_itself() -> None:
    """The project builds and tests from its own clone: the Part C copy is inside it, nothing reaches out."""
    root = Path(__file__).resolve().parents[2]
    assert SPEC.is_relative_to(root) and SPEC.is_file()
    assert "Source:" in SPEC.read_text(encoding="utf-8").split("## Part C")[0]
    outside = (
        "../" + "shared",
        '/ "' + 'shared"',
        "/spec/" + "dispenser-protocol.md",
    )  # apart: not found here
    offenders = [
        str(path.relative_to(root))
        for pattern in ("*.py", "*.toml", "*.sh", "Makefile", "*.cfg", "*.ini")
        for path in root.rglob(pattern)
        if ".venv" not in path.parts
        and any(text in path.read_text(encoding="utf-8", errors="replace") for text in outside)
    ]
    assert offenders == []
