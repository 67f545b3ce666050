"""`guess_direction`: which side sent a frame, by the rules in the codec's docstring."""

from __future__ import annotations

import pytest
from protocol_testkit import decode_vector

from protocol.codec import DEFAULT_CONTROLLER_ADDRESS, decode_message, guess_direction
from protocol.frame import Frame
from protocol.messages import Direction

P, H = Direction.P, Direction.H
E0 = DEFAULT_CONTROLLER_ADDRESS
RECORD = b"\x32" + bytes(95)
POLL_REPLY = b"\x30" + bytes.fromhex("20131117070600") + bytes(9)

CASES = [
    # (data, src, ctrl, controller address, expected direction, rule)
    # 1. a command defined in one direction only decides, whatever the flags say
    (b"\x31\x00", E0, 0x40, E0, P, "command"),
    (b"\x3b\x00", 0x01, 0x40, E0, P, "command"),
    (b"\x3c\x3b\x00", 0x01, 0x00, E0, H, "command"),
    (b"\x3e\x00\x00\x00\x01", 0x01, 0x00, E0, H, "command"),
    (b"\x3f\x00\x00\x00\x01", E0, 0x40, E0, P, "command"),
    # 2. CTRL b6 set: the controller
    (POLL_REPLY, 0x01, 0x48, E0, H, "ctrl_b6"),
    (b"\x32\x00", 0x01, 0x6A, E0, H, "ctrl_b6"),
    # 3. else SRC equal to the controller address
    (b"\x32\x00", E0, 0x2A, E0, H, "src_address"),
    (b"\x36\x01" + bytes(10), 0x10, 0x05, 0x10, H, "src_address"),
    # 4. else the dispenser
    (b"\x30", 0x01, 0x05, E0, P, "default"),
    (RECORD, 0x01, 0x05, E0, P, "default"),
    (b"\x36" + bytes(10), 0x10, 0x05, E0, P, "default"),
    (b"\x38\x01\x01\x00\x00\x00\x05", 0x01, 0x00, E0, P, "default"),
    # and a length that fits only the other direction wins
    (b"\x32\x00", 0x01, 0x05, E0, H, "length"),  # an ack from a controller at another address
    (RECORD, 0x01, 0x45, E0, P, "length"),  # b6 set on a record: still the dispenser's
    (POLL_REPLY, 0x01, 0x05, E0, H, "length"),
    (b"\x30", E0, 0x45, E0, P, "length"),
    (b"\x38", 0x01, 0x05, E0, H, "length"),  # 1 byte: the read, not the totals
    (b"\x3a", 0x01, 0x05, E0, H, "length"),
    (b"\x34\x04\x00\x00\x01", 0x01, 0x05, E0, P, "default"),  # fits both: the rules decide
    (b"\x34\x04\x00\x00\x01" + bytes(16), 0x01, 0x05, E0, H, "length"),
    (b"\x33\x04\x12\x34", 0x01, 0x44, E0, P, "length"),
]


@pytest.mark.parametrize(("data", "src", "ctrl", "controller", "direction", "rule"), CASES)
def test_guess_direction(
    data: bytes, src: int, ctrl: int, controller: int, direction: Direction, rule: str
) -> None:
    frame = Frame(0x02, src, ctrl, data)
    assert guess_direction(frame, controller) == (direction, rule)
    decode_message(data, direction)  # and the guess decodes


def test_unknown_command_falls_back_to_the_flags() -> None:
    assert guess_direction(Frame(0x02, 0x01, 0x40, b"\x99")) == (H, "ctrl_b6")
    assert guess_direction(Frame(0x02, 0x01, 0x00, b"\x99")) == (P, "default")


def test_vector_12_needs_the_address_rule() -> None:
    # CTRL 0x2A has b6 clear although the controller sent it: only SRC E0 tells
    frame, _, rule = decode_vector(12)
    assert not frame.from_host
    assert rule == "src_address"
    # with another controller address it would still be an ack, by its length
    assert guess_direction(frame, 0x01) == (H, "length")
