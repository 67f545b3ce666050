"""The software PSAM against the public PBOC purchase vector, and against the virtual card's MACs."""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path

import pytest

from edge.devices.desk.errors import CardNotGenuine
from edge.devices.desk.psam import SoftPsam
from protocol.card import macs
from protocol.card.apdu import LoadInit, PurchaseInit
from protocol.card.files import GreyState, GreyStatus, TxType, stamp_bcd
from protocol.card.keys import TEST_MASTER_KEYS, KeySet
from protocol.pboc_crypto import load_seed, session_key, tac_key

VECTOR = tomllib.loads(
    (Path(__file__).resolve().parents[2] / "protocol" / "vectors" / "pboc_purchase.toml").read_text()
)
ASN = "10000101100000000017"


def vector_psam() -> SoftPsam:
    key = bytes.fromhex(VECTOR["key"])
    keys = KeySet(purchase=key, load=key, tac=key, maintenance=key, pin_reload=key)
    return SoftPsam(bytes.fromhex(VECTOR["mac1_terminal"]), card_keys={ASN: keys})


def vector_init() -> PurchaseInit:
    return PurchaseInit(0x10000, VECTOR["ctc"], 0, 1, 0, bytes.fromhex(VECTOR["rnd"]))


async def test_purchase_mac1_is_the_public_vector() -> None:
    stamp = bytes.fromhex(VECTOR["mac1_date"] + VECTOR["mac1_time"])
    mac1 = await vector_psam().purchase_mac1(ASN, 0x06, vector_init(), 0x1000, VECTOR["ttc"], stamp)
    assert mac1.hex().upper() == VECTOR["mac1"]


async def test_purchase_mac2_of_the_public_vector_verifies() -> None:
    psam = vector_psam()
    stamp = bytes.fromhex(VECTOR["mac1_date"] + VECTOR["mac1_time"])
    key = bytes.fromhex(VECTOR["key"])
    tac = macs.purchase_tac(tac_key(key), 0x1000, 0x06, psam.terminal_id, VECTOR["ttc"], stamp)
    mac2 = bytes.fromhex(VECTOR["mac2"])
    assert await psam.purchase_ok(ASN, 0x06, vector_init(), 0x1000, VECTOR["ttc"], stamp, tac, mac2)
    assert not await psam.purchase_ok(ASN, 0x06, vector_init(), 0x1000, VECTOR["ttc"], stamp, tac, bytes(4))


async def test_load_mac2_only_after_a_genuine_mac1() -> None:
    psam = SoftPsam(bytes.fromhex("000000000042"))
    keys = TEST_MASTER_KEYS.diversified(bytes.fromhex(ASN))
    rnd = bytes.fromhex("CAFEBABE")
    sk = session_key(keys.load, load_seed(rnd, 7))
    stamp = stamp_bcd(dt.datetime(2026, 12, 2, 9, 30, 0))
    good = LoadInit(5000, 7, 1, 0, rnd, macs.load_mac1(sk, 5000, 2500, TxType.EP_LOAD, psam.terminal_id))
    mac2 = await psam.load_mac2(ASN, TxType.EP_LOAD, good, 2500, stamp)
    assert mac2 == macs.load_mac2(sk, 2500, TxType.EP_LOAD, psam.terminal_id, stamp)
    tac = macs.load_tac(tac_key(keys.tac), 7500, 7, 2500, TxType.EP_LOAD, psam.terminal_id, stamp)
    assert await psam.load_tac_ok(ASN, TxType.EP_LOAD, good, 2500, stamp, tac)
    forged = LoadInit(5000, 7, 1, 0, rnd, bytes(4))
    with pytest.raises(CardNotGenuine):
        await psam.load_mac2(ASN, TxType.EP_LOAD, forged, 2500, stamp)


async def test_serials_advance_and_terminal_ids_are_checked() -> None:
    psam = SoftPsam(bytes(6), first_serial=41)
    assert [await psam.next_serial() for _ in range(3)] == [41, 42, 43]
    with pytest.raises(ValueError):
        SoftPsam(bytes(5))


async def test_gmac_needs_a_lock_time() -> None:
    with pytest.raises(ValueError):
        await SoftPsam(bytes(6)).gmac(ASN, GreyStatus(GreyState.GREY), 100)
