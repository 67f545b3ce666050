"""PBOC 2.0 electronic-purse cryptography: 3DES, CBC-MACs, session keys, diversification.

Layer: protocol (pure). Shared by the station's software PSAM and the simulator's virtual card, so the
two compute every MAC the same way. All keys and values are `bytes`; a wrong length is a `CryptoError`.

Primitives (JR/T 0025 practice)::

    des(k8, block)              single DES, ECB, one 8-byte block
    tdes(k16, block)            2-key triple DES (EDE, K1 K2 K1), one block
    pad80(data)                 data || 80 || 00.. up to a multiple of 8 (always adds the 80)
    mac_des(k8, data, iv)       single-DES CBC-MAC over pad80(data), first 4 bytes of the last block
    mac_tdes(k16, data, iv)     ISO 9797-1 algorithm 3 ("retail MAC"): DES CBC with the left half,
                                the last block 3DES; first 4 bytes (secure messaging, UPDATE BINARY)

Keys::

    diversify(MK16, ASN10)      card key = 3DES(MK, ASN[2:10]) || 3DES(MK, ~ASN[2:10])
    session_key(K16, input8)    3DES(K, input)     purchase: RND(4) || CTC(2) || TTC[2:4]
                                                   load:     RND(4) || online counter(2) || 80 00
    tac_key(K16)                K[0:8] XOR K[8:16]  (the TAC is a single-DES MAC with it)

The public purchase vector (spec section 6.1, copied into tests/protocol/vectors/pboc_purchase.toml):
key 11223344556677888877665544332211, RND 11223344, CTC 0000, TTC 00000001 -> session key
003238ABC57659DD; MAC1 over 00001000 06 001122334455 20120229 135100 = F15CAB75; MAC2 over 00001000 =
56988A13.
"""

from __future__ import annotations

import warnings

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from protocol.errors import ProtocolError

BLOCK = 8
MAC_LEN = 4
KEY_LEN = 16
ZERO_IV = bytes(BLOCK)


class CryptoError(ProtocolError):
    """A key, block or IV of the wrong length was handed to a PBOC primitive."""


def _need(name: str, value: bytes, length: int) -> None:
    if len(value) != length:
        raise CryptoError(f"{name} must be {length} bytes, got {len(value)}: {value.hex().upper()}")


def _ecb(key24: bytes, data: bytes) -> bytes:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the decrepit module warns on import paths, not our 24-byte keys
        enc = Cipher(TripleDES(key24), modes.ECB()).encryptor()
    return enc.update(data) + enc.finalize()


def des(key8: bytes, block: bytes) -> bytes:
    """Single DES of one block (3DES with K1 = K2 = K3)."""
    _need("DES key", key8, BLOCK)
    _need("block", block, BLOCK)
    return _ecb(key8 * 3, block)


def tdes(key16: bytes, block: bytes) -> bytes:
    """2-key triple DES (EDE with K1 K2 K1) of one block."""
    _need("3DES key", key16, KEY_LEN)
    _need("block", block, BLOCK)
    return _ecb(key16 + key16[:BLOCK], block)


def tdes_decrypt(key16: bytes, block: bytes) -> bytes:
    """Inverse of `tdes` (used only by tests and key checks)."""
    _need("3DES key", key16, KEY_LEN)
    _need("block", block, BLOCK)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dec = Cipher(TripleDES(key16 + key16[:BLOCK]), modes.ECB()).decryptor()
    return dec.update(block) + dec.finalize()


def pad80(data: bytes) -> bytes:
    """ISO 9797-1 method 2: append 80, then 00s to a multiple of 8 (a full block when already aligned)."""
    padded = data + b"\x80"
    return padded + bytes(-len(padded) % BLOCK)


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def mac_des(key8: bytes, data: bytes, iv: bytes = ZERO_IV) -> bytes:
    """Single-DES CBC-MAC over pad80(data), truncated to 4 bytes (MAC1, MAC2, TAC, GTAC, GMAC)."""
    _need("MAC key", key8, BLOCK)
    _need("IV", iv, BLOCK)
    chain = iv
    padded = pad80(data)
    for i in range(0, len(padded), BLOCK):
        chain = des(key8, _xor(chain, padded[i : i + BLOCK]))
    return chain[:MAC_LEN]


def mac_tdes(key16: bytes, data: bytes, iv: bytes = ZERO_IV) -> bytes:
    """Retail MAC (ISO 9797-1 alg. 3) over pad80(data): DES CBC with the left half, last block 3DES."""
    _need("MAC key", key16, KEY_LEN)
    _need("IV", iv, BLOCK)
    left = key16[:BLOCK]
    padded = pad80(data)
    chain = iv
    last = len(padded) - BLOCK
    for i in range(0, last, BLOCK):
        chain = des(left, _xor(chain, padded[i : i + BLOCK]))
    return tdes(key16, _xor(chain, padded[last:]))[:MAC_LEN]


def diversify(master16: bytes, asn: bytes) -> bytes:
    """Card key from a master key and the 10-byte ASN: 3DES of its last 8 bytes and of their complement."""
    _need("master key", master16, KEY_LEN)
    _need("ASN", asn, 10)
    tail = asn[2:]
    return tdes(master16, tail) + tdes(master16, bytes(b ^ 0xFF for b in tail))


def session_key(key16: bytes, seed8: bytes) -> bytes:
    """Session key: 3DES of an 8-byte seed under the card key (see the module docstring for seeds)."""
    return tdes(key16, seed8)


def purchase_seed(rnd: bytes, ctc: int, ttc: int) -> bytes:
    """Purchase / grey-lock session seed: RND(4) || offline counter(2) || terminal serial low 2 bytes."""
    _need("RND", rnd, 4)
    return rnd + (ctc & 0xFFFF).to_bytes(2, "big") + (ttc & 0xFFFF).to_bytes(2, "big")


def load_seed(rnd: bytes, online_counter: int) -> bytes:
    """Load session seed: RND(4) || online counter(2) || 80 00."""
    _need("RND", rnd, 4)
    return rnd + (online_counter & 0xFFFF).to_bytes(2, "big") + b"\x80\x00"


def tac_key(key16: bytes) -> bytes:
    """The TAC key: left half XOR right half of the card's TAC key."""
    _need("TAC key", key16, KEY_LEN)
    return _xor(key16[:BLOCK], key16[BLOCK:])
