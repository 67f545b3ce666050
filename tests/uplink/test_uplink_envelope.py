"""Signed documents: the envelope, the parts, reassembly (bounded), every refusal reason."""

from __future__ import annotations

import base64
import datetime as dt
import json
import random

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from uplink.assembler import Assembler
from uplink.envelope import (
    DocKind,
    Part,
    document_id,
    encode_body,
    make_parts,
    parse_body,
    parse_part,
    public_key_from_text,
    public_key_text,
    sign,
    verify,
)
from uplink.errors import DownlinkRejected, Reason

KEY = Ed25519PrivateKey.generate()
NOW = dt.datetime(2024, 5, 1, 8, 0, tzinfo=dt.UTC)
LIMITS = {"max_part_bytes": 1 << 20, "max_document_bytes": 1 << 22}


def body_of(payload: dict[str, object], kind: str = "config", version: int = 1) -> bytes:
    return encode_body(kind, "S1", version, payload, issued_at=NOW)


@settings(max_examples=60, deadline=None)
@given(st.binary(min_size=1, max_size=3000), st.integers(1, 700), st.randoms(use_true_random=False))
def test_parts_reassemble_in_any_order(body: bytes, chunk: int, rnd: random.Random) -> None:
    parts = [parse_part(m, **LIMITS) for m in make_parts(body, sign(KEY, body), chunk)]
    rnd.shuffle(parts)
    assembler = Assembler(max_docs=2, max_bytes=1 << 22)
    results = [assembler.add(part) for part in parts]
    assert [r for r in results if r is not None] == [body]
    assert results[-1] == body
    assert assembler.pending_docs == 0
    assert verify([KEY.public_key()], body, parts[0].sig)


def test_signature_covers_every_byte_and_keys_rotate() -> None:
    body = body_of({"settings": {"a": {"b": 1}}})
    sig = sign(KEY, body)
    new_key = Ed25519PrivateKey.generate()
    keys = [new_key.public_key(), public_key_from_text(public_key_text(KEY.public_key()))]
    assert verify(keys, body, sig)
    assert not verify([new_key.public_key()], body, sig)
    for i in (0, len(body) // 2, len(body) - 1):
        tampered = body[:i] + bytes([body[i] ^ 1]) + body[i + 1 :]
        assert not verify(keys, tampered, sig)


def test_body_parses_back() -> None:
    parsed = parse_body(body_of({"settings": {}}, "config", 7))
    assert (parsed.kind, parsed.station, parsed.version, parsed.issued_at) == (DocKind.CONFIG, "S1", 7, NOW)


def reason_of(message: bytes, **limits: int) -> Reason:
    with pytest.raises(DownlinkRejected) as info:
        parse_part(message, **{**LIMITS, **limits})
    return info.value.reason


def part_obj(body: bytes = b'{"x":1}') -> dict[str, object]:
    obj: dict[str, object] = json.loads(make_parts(body, sign(KEY, body), 1 << 20)[0])
    return obj


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        (b"\x00\x01 not json", Reason.MALFORMED),
        (b"[1, 2]", Reason.MALFORMED),
        (json.dumps({k: v for k, v in part_obj().items() if k != "sig"}).encode(), Reason.UNSIGNED),
        (json.dumps({**part_obj(), "sig": ""}).encode(), Reason.UNSIGNED),
        (json.dumps({**part_obj(), "sig": "!!!"}).encode(), Reason.BAD_SIGNATURE),
        (
            json.dumps({**part_obj(), "sig": base64.b64encode(b"x" * 10).decode()}).encode(),
            Reason.BAD_SIGNATURE,
        ),
        (json.dumps({**part_obj(), "v": 2}).encode(), Reason.SCHEMA),
        (json.dumps({**part_obj(), "extra": 1}).encode(), Reason.SCHEMA),
        (json.dumps({**part_obj(), "doc": "abc"}).encode(), Reason.SCHEMA),
        (json.dumps({**part_obj(), "part": 3, "parts": 2}).encode(), Reason.SCHEMA),
        (json.dumps({**part_obj(), "parts": -1}).encode(), Reason.SCHEMA),
        (json.dumps({**part_obj(), "data": "%%%"}).encode(), Reason.MALFORMED),
        (json.dumps({**part_obj(), "size": 99}).encode(), Reason.TRUNCATED),
        (json.dumps({**part_obj(), "size": 1 << 30}).encode(), Reason.OVERSIZED),
    ],
)
def test_part_refusals(message: bytes, reason: Reason) -> None:
    assert reason_of(message) is reason


def test_oversized_message() -> None:
    assert reason_of(b"{" + b" " * 5000 + b"}", max_part_bytes=4096) is Reason.OVERSIZED


def test_body_refusals() -> None:
    for body, fragment in [
        (b"not json", "not JSON"),
        (b'{"v":1}', "missing"),
        (json.dumps({**json.loads(body_of({})), "v": 9}).encode(), "envelope version"),
        (json.dumps({**json.loads(body_of({})), "kind": "firmware"}).encode(), "unknown kind"),
        (json.dumps({**json.loads(body_of({})), "version": 0}).encode(), "version"),
        (json.dumps({**json.loads(body_of({})), "issued_at": "2024-05-01T08:00"}).encode(), "no UTC offset"),
        (json.dumps({**json.loads(body_of({})), "payload": []}).encode(), "payload"),
    ]:
        with pytest.raises(DownlinkRejected, match=fragment) as info:
            parse_body(body)
        assert info.value.reason is Reason.SCHEMA


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def split(body: bytes, chunk: int) -> list[Part]:
    return [parse_part(m, **LIMITS) for m in make_parts(body, sign(KEY, body), chunk)]


def test_assembler_bounds_and_timeouts() -> None:
    clock = FakeClock()
    assembler = Assembler(max_docs=2, max_bytes=1 << 20, timeout_s=10, clock=clock)
    a, b, c = (split(bytes([n]) * 100, 30) for n in (1, 2, 3))
    assert assembler.add(a[0]) is None
    clock.now = 1
    assert assembler.add(b[0]) is None
    clock.now = 2
    assert assembler.add(c[0]) is None  # evicts the oldest (a)
    dropped = assembler.take_dropped()
    assert [d.doc for d in dropped] == [document_id(bytes([1]) * 100)]
    assert "evicted" in dropped[0].why
    clock.now = 11.5  # b started at 1: timed out; c (started at 2) not yet
    assembler.expire()
    assert [d.doc for d in assembler.take_dropped()] == [document_id(bytes([2]) * 100)]
    assert assembler.pending_docs == 1


def test_assembler_refuses_contradicting_parts() -> None:
    assembler = Assembler()
    body = b"y" * 90
    parts = split(body, 30)
    assembler.add(parts[0])
    assert assembler.add(parts[0]) is None  # an identical duplicate is harmless
    forged = json.loads(make_parts(body, sign(KEY, body), 30)[1])
    forged["data"] = base64.b64encode(b"z" * 30).decode()
    with_other_data = parse_part(json.dumps(forged).encode(), **LIMITS)
    assert assembler.add(with_other_data) is None  # accepted as part 1 ...
    with pytest.raises(DownlinkRejected) as info:
        assembler.add(parts[2])  # ... so the whole does not match its id
    assert info.value.reason is Reason.TRUNCATED
