"""PBOC cryptography: the public purchase vector, and properties of the primitives."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.card import macs
from protocol.pboc_crypto import (
    CryptoError,
    des,
    diversify,
    load_seed,
    mac_des,
    mac_tdes,
    pad80,
    purchase_seed,
    session_key,
    tac_key,
    tdes,
    tdes_decrypt,
)

VECTOR = tomllib.loads((Path(__file__).parent / "vectors" / "pboc_purchase.toml").read_text())
keys16 = st.binary(min_size=16, max_size=16)
keys8 = st.binary(min_size=8, max_size=8)
blocks = st.binary(min_size=8, max_size=8)


def h(name: str) -> bytes:
    return bytes.fromhex(VECTOR[name])


def test_public_vector_session_key() -> None:
    seed = purchase_seed(h("rnd"), VECTOR["ctc"], VECTOR["ttc"])
    assert seed.hex().upper() == "1122334400000001"
    assert session_key(h("key"), seed) == h("session_key")


def test_public_vector_mac1_and_mac2() -> None:
    sk = h("session_key")
    amount = int(VECTOR["mac1_data"], 16)
    stamp = h("mac1_date") + h("mac1_time")
    assert macs.purchase_mac1(sk, amount, int(VECTOR["mac1_type"], 16), h("mac1_terminal"), stamp) == h("mac1")
    assert macs.purchase_mac2(sk, amount) == h("mac2")
    assert mac_des(sk, h("mac2_data")) == h("mac2")


def test_a_changed_byte_changes_the_mac() -> None:
    sk = h("session_key")
    assert mac_des(sk, bytes.fromhex("00001001")) != h("mac2")
    assert mac_des(bytes(8), h("mac2_data")) != h("mac2")


def test_single_des_known_answer() -> None:
    # FIPS 81 / NBS example: key 0123456789ABCDEF, "Now is t" -> 3FA40E8A984D4815
    assert des(bytes.fromhex("0123456789ABCDEF"), b"Now is t").hex().upper() == "3FA40E8A984D4815"


@given(keys8, blocks)
def test_tdes_with_equal_halves_is_single_des(key: bytes, block: bytes) -> None:
    assert tdes(key + key, block) == des(key, block)


@given(keys16, blocks)
def test_tdes_round_trip(key: bytes, block: bytes) -> None:
    assert tdes_decrypt(key, tdes(key, block)) == block


@given(st.binary(max_size=64))
def test_pad80_always_pads_to_a_block_with_80(data: bytes) -> None:
    padded = pad80(data)
    assert len(padded) % 8 == 0
    assert padded.startswith(data + b"\x80")
    assert set(padded[len(data) + 1 :]) <= {0}
    assert len(padded) - len(data) in range(1, 9)


@given(keys8, st.binary(max_size=40))
def test_mac_des_is_the_last_cbc_block(key: bytes, data: bytes) -> None:
    chain = bytes(8)
    padded = pad80(data)
    for i in range(0, len(padded), 8):
        chain = des(key, bytes(a ^ b for a, b in zip(chain, padded[i : i + 8], strict=True)))
    assert mac_des(key, data) == chain[:4]


@given(keys8, st.binary(max_size=40))
def test_retail_mac_with_equal_halves_is_the_des_mac(key: bytes, data: bytes) -> None:
    assert mac_tdes(key + key, data) == mac_des(key, data)


@given(keys16, st.binary(min_size=10, max_size=10), st.binary(min_size=10, max_size=10))
def test_diversified_keys_differ_per_card(master: bytes, asn1: bytes, asn2: bytes) -> None:
    k1, k2 = diversify(master, asn1), diversify(master, asn2)
    assert len(k1) == 16
    assert (k1 == k2) == (asn1[2:] == asn2[2:])


def test_diversify_formula() -> None:
    master = bytes(range(16))
    asn = bytes.fromhex("10000101100000000017")
    tail = asn[2:]
    assert diversify(master, asn) == tdes(master, tail) + tdes(master, bytes(b ^ 0xFF for b in tail))


def test_tac_key_and_load_seed() -> None:
    key = bytes.fromhex("0102030405060708F0F0F0F0F0F0F0F0")
    assert tac_key(key).hex().upper() == "F1F2F3F4F5F6F7F8"
    assert load_seed(bytes.fromhex("AABBCCDD"), 0x0102).hex().upper() == "AABBCCDD01028000"


@pytest.mark.parametrize(
    "call",
    [
        lambda: des(bytes(7), bytes(8)),
        lambda: tdes(bytes(8), bytes(8)),
        lambda: mac_des(bytes(8), b"x", iv=bytes(4)),
        lambda: diversify(bytes(16), bytes(8)),
        lambda: purchase_seed(bytes(3), 0, 0),
    ],
)
def test_wrong_lengths_are_typed_errors(call: object) -> None:
    with pytest.raises(CryptoError):
        call()  # type: ignore[operator]
