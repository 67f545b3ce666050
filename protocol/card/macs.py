"""The MACs and TACs of the card's transactions: who MACs what, with which key.

Layer: protocol (pure). The virtual card and the PSAM call the same functions. `sk` is a session key
(8 bytes), `tk` the TAC key (`tac_key(DTK)`, 8 bytes), `stamp` date (4) || time (3) BCD, amounts 4 bytes
big-endian, terminal ids 6 bytes, terminal serials (TTC) 4 bytes, counters 2 bytes. All single-DES
CBC-MACs with 80 00 padding, 4 bytes (`mac_des`).

PBOC purchase and load (JR/T 0025)::

    purchase  SK   = 3DES(DPK, RND || CTC || TTC[2:4])
              MAC1 = MAC(SK, amount || type || terminal || stamp)          terminal -> card
              MAC2 = MAC(SK, amount)                                       card -> terminal
              TAC  = MAC(TK, amount || type || terminal || TTC || stamp)
    load      SK   = 3DES(DLK, RND || online counter || 80 00)
              MAC1 = MAC(SK, balance || amount || type || terminal)        card -> host (PSAM)
              MAC2 = MAC(SK, amount || type || terminal || stamp)          host -> card
              TAC  = MAC(TK, new balance || online counter || amount || type || terminal || stamp)

Fuel-card grey lock, project-defined [P] in the same style (type 91 lock, 92 unlock)::

    lock      SK   = 3DES(DPK, RND || CTC || TTC[2:4])                     as a purchase
              MAC1 = MAC(SK, 91 || terminal || TTC || stamp)               terminal -> card
              GTAC = MAC(TK, balance || CTC || 91 || terminal || TTC || stamp)
              MAC2 = MAC(SK, GTAC || balance)                              card -> terminal
    unlock    GK   = 3DES(DPK, GTAC || CTC(lock) || 80 00)
              GMAC = MAC(GK, amount || CTC(lock) || lock terminal || lock TTC || lock stamp)
              TAC  = MAC(TK, amount || 92 || terminal || TTC || stamp)     the unlocking terminal

GMAC depends only on the lock (recorded in the grey status and the dispenser's grey record) and the
amount owed, so any PSAM of the system can compute it, and a GMAC from a grey record can be replayed
by another terminal; the card accepts it once (it leaves the grey state).

Secure messaging (UPDATE BINARY with MAC, CLA 04) [P: PBOC line protection]::

    MAC = retail MAC(DAMK, CLA INS P1 P2 Lc || data, IV = challenge(4) || 00000000)
    Lc counts the 4 MAC bytes.

PIN reload (80 5E 00 00): MAC = retail MAC(DRPK, PIN bytes, IV = 0) [P].
"""

from __future__ import annotations

from protocol.pboc_crypto import mac_des, mac_tdes, session_key

TYPE_GREY_LOCK = 0x91
TYPE_GREY_UNLOCK = 0x92


def _u32(value: int) -> bytes:
    return value.to_bytes(4, "big")


def _u16(value: int) -> bytes:
    return (value & 0xFFFF).to_bytes(2, "big")


def purchase_mac1(sk: bytes, amount: int, tx_type: int, terminal: bytes, stamp: bytes) -> bytes:
    return mac_des(sk, _u32(amount) + bytes((tx_type,)) + terminal + stamp)


def purchase_mac2(sk: bytes, amount: int) -> bytes:
    return mac_des(sk, _u32(amount))


def purchase_tac(tk: bytes, amount: int, tx_type: int, terminal: bytes, ttc: int, stamp: bytes) -> bytes:
    return mac_des(tk, _u32(amount) + bytes((tx_type,)) + terminal + _u32(ttc) + stamp)


def load_mac1(sk: bytes, balance: int, amount: int, tx_type: int, terminal: bytes) -> bytes:
    return mac_des(sk, _u32(balance) + _u32(amount) + bytes((tx_type,)) + terminal)


def load_mac2(sk: bytes, amount: int, tx_type: int, terminal: bytes, stamp: bytes) -> bytes:
    return mac_des(sk, _u32(amount) + bytes((tx_type,)) + terminal + stamp)


def load_tac(
    tk: bytes, new_balance: int, online_counter: int, amount: int, tx_type: int, terminal: bytes, stamp: bytes
) -> bytes:
    return mac_des(
        tk, _u32(new_balance) + _u16(online_counter) + _u32(amount) + bytes((tx_type,)) + terminal + stamp
    )


def grey_mac1(sk: bytes, terminal: bytes, ttc: int, stamp: bytes) -> bytes:
    return mac_des(sk, bytes((TYPE_GREY_LOCK,)) + terminal + _u32(ttc) + stamp)


def gtac(tk: bytes, balance: int, ctc: int, terminal: bytes, ttc: int, stamp: bytes) -> bytes:
    return mac_des(tk, _u32(balance) + _u16(ctc) + bytes((TYPE_GREY_LOCK,)) + terminal + _u32(ttc) + stamp)


def grey_mac2(sk: bytes, gtac_value: bytes, balance: int) -> bytes:
    return mac_des(sk, gtac_value + _u32(balance))


def gmac_key(purchase_key: bytes, gtac_value: bytes, ctc: int) -> bytes:
    return session_key(purchase_key, gtac_value + _u16(ctc) + b"\x80\x00")


def gmac(gk: bytes, amount: int, ctc: int, terminal: bytes, ttc: int, stamp: bytes) -> bytes:
    return mac_des(gk, _u32(amount) + _u16(ctc) + terminal + _u32(ttc) + stamp)


def unlock_tac(tk: bytes, amount: int, terminal: bytes, ttc: int, stamp: bytes) -> bytes:
    return mac_des(tk, _u32(amount) + bytes((TYPE_GREY_UNLOCK,)) + terminal + _u32(ttc) + stamp)


def sm_mac(maintenance_key: bytes, challenge: bytes, header_and_data: bytes) -> bytes:
    return mac_tdes(maintenance_key, header_and_data, challenge + bytes(4))


def pin_reload_mac(pin_reload_key: bytes, pin: bytes) -> bytes:
    return mac_tdes(pin_reload_key, pin)
