"""`station decode` run as a real process, plus `message_to_json` in-process."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from edge.commands.decode import message_to_json
from protocol.cng import CngProfile, ConsumptionMode
from protocol.codec import decode_message, encode_message
from protocol.frame import Frame, encode_frame
from protocol.messages import CardInserted, Direction, ListReply, NozzleInfo, RecordUpload
from protocol.reasons import RefusalReason, encode_m_flag

ROOT = Path(__file__).resolve().parents[2]

RECORD = bytes.fromhex(
    "FA E2 FF 1A 00 96 32 12 34 56 78 00 20 17 02 23 00 00 00 98 76 54 32 10 98 76 54 32 10 56 77 88 90 01 22"
    " 33 95 87 44 44 88 88 55 55 11 11 66 66 22 22 01 23 45 67 89 01 23 45 67 89 12 34 56 12 34 56 22 33 33 11"
    " 00 00 00 12 09 01 02 01 02 03 02 02 09 12 34 88 99 00 00 00 00 00 00 00 00 00 00 00 12 34 56 78 37 55"
)
ACK = bytes.fromhex("FA 00 E0 2A 00 02 32 00 06 BB")
IDLE = bytes.fromhex("FA E0 00 05 00 02 31 00 9E 99")


@dataclasses.dataclass
class Result:
    code: int
    objects: list[dict[str, Any]]
    errors: list[str]


def station_decode(*args: str, stdin: bytes = b"") -> Result:
    proc = subprocess.run(
        [sys.executable, "-m", "edge.cli", "decode", *args],
        input=stdin,
        capture_output=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    lines = proc.stdout.decode().splitlines()
    return Result(proc.returncode, [json.loads(line) for line in lines], proc.stderr.decode().splitlines())


def _escaped_record() -> Frame:
    """Vector 10 with 0xFA in POS_TTC and BAL, and T_MAC 0x0D so that the CRC is FA E0."""
    msg = decode_message(RECORD[6:-2], Direction.P)
    assert isinstance(msg, RecordUpload)
    record = dataclasses.replace(msg.record, pos_ttc=0x12FA34FA, bal=0xFA0000FA, t_mac=0x0D)
    return Frame(0xE2, 0xFF, 0x1A, encode_message(RecordUpload(record)))


def test_vector_10_as_an_argument() -> None:
    result = station_decode(RECORD.hex(" ").upper())
    assert result.code == 0
    assert result.errors == []
    [obj] = result.objects
    assert obj == {
        "cmd": "0x32",
        "direction": "P",
        "direction_rule": "default",
        "dst": 0xE2,
        "src": 0xFF,
        "ctrl": 0x1A,
        "frame_no": 0x1A,
        "pos_ttc": 305419896,
        "t_type": 0,
        "time": "2017-02-23T00:00:00",
        "asn": "98765432109876543210",
        "bal": 1450674320,
        "amn": 74291,
        "ctc": 38279,
        "tac": 0x44448888,
        "gmac": 0x55551111,
        "psam_tac": 0x66662222,
        "psam_asn": "01234567890123456789",
        "psam_tid": "123456123456",
        "psam_ttc": 0x22333311,
        "ds": 0,
        "unit": 0,
        "c_type": 0,
        "ver": 0x12,
        "nzn": 9,
        "g_code": "0102",
        "vol": 0x010203,
        "prc": 0x0202,
        "emp": 9,
        "v_tot": 0x12348899,
        "rfu": "00" * 11,
        "t_mac": 0x12345678,
        "raw": RECORD[7:-2].hex(),
    }


def test_arguments_with_a_damaged_frame() -> None:
    bad = bytearray(ACK)
    bad[-1] ^= 0x01
    result = station_decode(ACK.hex(), bytes(bad).hex(" "), IDLE.hex())
    assert result.code == 0  # something decoded
    assert [(o["cmd"], o["direction"], o["direction_rule"]) for o in result.objects] == [
        ("0x32", "H", "src_address"),
        ("0x31", "P", "command"),
    ]
    assert result.objects[0]["result"] == 0
    assert result.objects[1]["entries"] == []
    assert len(result.errors) == 1
    assert "CrcError" in result.errors[0]
    assert result.errors[0].endswith(bytes(bad).hex())


def test_nothing_decoded_is_exit_1() -> None:
    bad = bytearray(ACK)
    bad[3] ^= 0x01
    result = station_decode(bytes(bad).hex(), "zz", "FA 00 E0")
    assert result.code == 1
    assert result.objects == []
    assert len(result.errors) == 3
    assert "CrcError" in result.errors[0]
    assert "bad argument" in result.errors[1]
    assert "incomplete frame" in result.errors[2]


def test_payload_error_is_reported_not_emitted() -> None:
    frame = Frame(0xE2, 0xFF, 0x1A, b"\x32\x00\x00")  # a record must be 96 bytes, an ack 2
    result = station_decode(encode_frame(frame).hex())
    assert result.code == 1
    assert result.objects == []
    [error] = result.errors
    assert error.startswith("PayloadError")
    assert error.endswith(encode_frame(frame).hex())


def test_controller_address_changes_the_rule() -> None:
    result = station_decode("--controller-address", "01", ACK.hex())
    assert [(o["direction"], o["direction_rule"]) for o in result.objects] == [("H", "length")]


def test_logical_form_with_an_unescaped_fa_is_accepted() -> None:
    frame = _escaped_record()
    result = station_decode(frame.logical_bytes().hex())
    assert result.code == 0
    assert [(o["pos_ttc"], o["bal"], o["t_mac"]) for o in result.objects] == [(0x12FA34FA, 0xFA0000FA, 0x0D)]


def _noisy_stream() -> tuple[bytes, bytes]:
    damaged = bytearray(encode_frame(Frame(0xE0, 0x01, 0x02, b"\x30")))
    damaged[-1] ^= 0x55
    stream = b"\x00\x13" + encode_frame(_escaped_record()) + b"\x11" + bytes(damaged) + ACK + b"\x77" + IDLE
    return stream, bytes(damaged)


@pytest.mark.parametrize("form", ["hex", "binary", "auto-hex", "auto-binary"])
def test_stream(form: str) -> None:
    stream, damaged = _noisy_stream()
    text = "\n".join(stream[i : i + 16].hex(" ") for i in range(0, len(stream), 16)).encode()
    args = {"hex": ["--hex"], "binary": ["--binary"]}.get(form, [])
    data = text if form in ("hex", "auto-hex") else stream
    result = station_decode("--stream", *args, stdin=data)
    assert result.code == 0
    assert [o["cmd"] for o in result.objects] == ["0x32", "0x32", "0x31"]
    record = result.objects[0]
    assert (record["direction"], record["pos_ttc"], record["bal"]) == ("P", 0x12FA34FA, 0xFA0000FA)
    assert record["raw"] == _escaped_record().data[1:].hex()
    assert result.objects[1]["direction"] == "H"
    [error] = result.errors
    assert error.startswith("CrcError")
    assert error.endswith(damaged.hex())


def test_stream_empty_and_noise_only() -> None:
    assert station_decode("--stream", stdin=b"") == Result(0, [], [])
    assert station_decode("--stream", stdin=b" \n\t") == Result(0, [], [])
    noise = station_decode("--stream", stdin=b"\x00\x01\x02")
    assert (noise.code, noise.objects) == (1, [])
    assert noise.errors == ["no frame found in 3 bytes"]


def test_stream_forced_hex_that_is_not() -> None:
    result = station_decode("--stream", "--hex", stdin=ACK)
    assert result.code == 1
    assert len(result.errors) == 1
    assert result.errors[0].startswith("bad input")


def test_usage_errors() -> None:
    assert station_decode().code == 2
    assert station_decode("--stream", ACK.hex()).code == 2
    assert station_decode("--binary", ACK.hex()).code == 2
    assert station_decode("--controller-address", "FA", ACK.hex()).code == 2


def test_help_documents_the_exit_status() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "edge.cli", "decode", "--help"], capture_output=True, cwd=ROOT, check=True
    )
    text = proc.stdout.decode()
    assert "exit status" in text
    assert "at least one frame decoded" in text


# --- message_to_json, in-process (the daemon's traces use it) -----------------------------------------


def test_message_to_json_cng_profile() -> None:
    profile = CngProfile(
        card_class=2,
        mode=ConsumptionMode.CREDIT_VOLUME,
        price_level=1,
        cylinder_valid_until=dt.date(2027, 1, 31),
        plate="粤B12345",
        per_fill_cap=5000,
        fills_per_day=2,
        amount_per_day=0,
    )
    msg = NozzleInfo((CardInserted(4, "10000112345678901234", 0x0001, 2500, profile.build()),))
    frame = Frame(0xE0, 0x04, 0x07, encode_message(msg))
    obj = message_to_json(frame, msg, Direction.P, "command")
    [entry] = obj["entries"]
    assert entry["st"] == 1
    assert entry["ic_data"] == profile.build().hex()
    assert entry["cng"] == {
        "card_class": 2,
        "mode": 3,
        "mode_name": "credit_volume",
        "price_level": 1,
        "cylinder_valid_until": "2027-01-31",
        "plate": "粤B12345",
        "per_fill_cap": 5000,
        "fills_per_day": 2,
        "amount_per_day": 0,
    }
    json.dumps(obj)


def test_message_to_json_damaged_cng_profile() -> None:
    msg = NozzleInfo((CardInserted(4, "10000112345678901234", 0, 0, b"C\x01\x00"),))
    obj = message_to_json(Frame(0xE0, 0x04, 0x07, encode_message(msg)), msg, Direction.P, "command")
    assert "cng" not in obj["entries"][0]
    assert "CNG profile" in obj["entries"][0]["cng_error"]


def test_message_to_json_list_reply_reason() -> None:
    m_flag = encode_m_flag(True, RefusalReason.CYLINDER_EXPIRED)
    msg = ListReply(m_flag, "10000112345678901234")
    obj = message_to_json(Frame(0x04, 0xE0, 0x47, encode_message(msg)), msg, Direction.H, "ctrl_b6")
    assert (obj["m_flag"], obj["refuse"], obj["reason"]) == (m_flag, True, "cylinder_expired")
    assert obj["asn"] == "10000112345678901234"
