"""The PSAM: the security module that holds the master keys and makes or checks every MAC for the desk.

Layer: edge (pure core; a real PSAM in a second reader slot will implement the same `Psam` protocol
over APDUs, hence the async methods). `SoftPsam` is a software PSAM with master keys in memory: the
project's TEST master keys by default (`protocol.card.keys.TEST_MASTER_KEYS`), which protect nothing.

Every card key is the master diversified by the card's ASN; formulas in `protocol.card.macs`.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from typing import Protocol

from edge.devices.desk.errors import CardNotGenuine
from protocol.card import macs
from protocol.card.apdu import LoadInit, PurchaseInit
from protocol.card.files import GreyStatus, TxType, asn_bytes, stamp_bcd
from protocol.card.keys import TEST_MASTER_KEYS, KeySet
from protocol.pboc_crypto import load_seed, purchase_seed, session_key, tac_key

log = logging.getLogger(__name__)

TERMINAL_ID_LEN = 6


class Psam(Protocol):
    """What the desk asks of a security module. `asn` is the card number as 20 digits."""

    @property
    def terminal_id(self) -> bytes:
        """The 6-byte terminal number the PSAM is issued to (goes into every MAC and log record)."""
        ...

    async def next_serial(self) -> int:
        """The next terminal transaction serial (TTC)."""
        ...

    async def load_mac2(self, asn: str, tx_type: int, init: LoadInit, amount: int, stamp: bytes) -> bytes:
        """Check the card's load MAC1 (`CardNotGenuine` if wrong), then give MAC2 for CREDIT FOR LOAD."""
        ...

    async def load_tac_ok(
        self, asn: str, tx_type: int, init: LoadInit, amount: int, stamp: bytes, tac: bytes
    ) -> bool:
        """Whether the TAC a card returned for a load is right."""
        ...

    async def purchase_mac1(
        self, asn: str, tx_type: int, init: PurchaseInit, amount: int, ttc: int, stamp: bytes
    ) -> bytes:
        """MAC1 of DEBIT FOR PURCHASE."""
        ...

    async def purchase_ok(
        self,
        asn: str,
        tx_type: int,
        init: PurchaseInit,
        amount: int,
        ttc: int,
        stamp: bytes,
        tac: bytes,
        mac2: bytes,
    ) -> bool:
        """Whether TAC and MAC2 a card returned for a purchase are right."""
        ...

    async def online_unlock_tac_ok(
        self, asn: str, init: LoadInit, amount: int, stamp: bytes, tac: bytes
    ) -> bool:
        """Whether the TAC a card returned for ONLINE UNLOCK (MAC2 as `load_mac2` with type 93) is right."""
        ...

    async def grey_lock_mac1(self, asn: str, init: PurchaseInit, ttc: int, stamp: bytes) -> bytes:
        """MAC1 of GREY LOCK."""
        ...

    async def grey_lock_ok(
        self, asn: str, init: PurchaseInit, ttc: int, stamp: bytes, gtac: bytes, mac2: bytes
    ) -> bool:
        """Whether GTAC and MAC2 a card returned for a grey lock are right."""
        ...

    async def gmac(self, asn: str, grey: GreyStatus, amount: int) -> bytes:
        """GMAC of DEBIT FOR UNLOCK for the lock `grey` and the amount owed."""
        ...

    async def unlock_tac_ok(self, asn: str, amount: int, ttc: int, stamp: bytes, tac: bytes) -> bool:
        """Whether the TAC a card returned for DEBIT FOR UNLOCK is right."""
        ...

    async def update_mac(self, asn: str, challenge: bytes, header_and_data: bytes) -> bytes:
        """Secure-messaging MAC of UPDATE BINARY (after GET CHALLENGE)."""
        ...

    async def pin_reload_mac(self, asn: str, pin: bytes) -> bytes:
        """MAC of RELOAD PIN."""
        ...


class SoftPsam:
    """A software PSAM: master keys in memory, a terminal id and a serial counter.

    `card_keys` gives some cards fixed keys instead of diversified ones (the public test vectors use a
    card key directly).
    """

    def __init__(
        self,
        terminal_id: bytes,
        masters: KeySet = TEST_MASTER_KEYS,
        first_serial: int = 1,
        card_keys: Mapping[str, KeySet] | None = None,
    ) -> None:
        if len(terminal_id) != TERMINAL_ID_LEN:
            raise ValueError(f"terminal id must be {TERMINAL_ID_LEN} bytes, got {terminal_id.hex()}")
        self._terminal_id = terminal_id
        self._masters = masters
        self._serial = first_serial
        self._card_keys = dict(card_keys or {})

    @property
    def terminal_id(self) -> bytes:
        return self._terminal_id

    def keys(self, asn: str) -> KeySet:
        fixed = self._card_keys.get(asn)
        return fixed if fixed is not None else self._masters.diversified(asn_bytes(asn))

    async def next_serial(self) -> int:
        serial = self._serial
        self._serial = (self._serial + 1) & 0xFFFFFFFF
        return serial

    def _load_sk(self, asn: str, init: LoadInit) -> bytes:
        return session_key(self.keys(asn).load, load_seed(init.rnd, init.online_counter))

    async def load_mac2(self, asn: str, tx_type: int, init: LoadInit, amount: int, stamp: bytes) -> bytes:
        sk = self._load_sk(asn, init)
        expected = macs.load_mac1(sk, init.balance, amount, tx_type, self._terminal_id)
        if not hmac.compare_digest(expected, init.mac1):
            log.warning("card %s: load MAC1 %s does not verify", asn, init.mac1.hex().upper())
            raise CardNotGenuine(f"card {asn}: load MAC1 does not verify with the system's keys")
        return macs.load_mac2(sk, amount, tx_type, self._terminal_id, stamp)

    async def load_tac_ok(
        self, asn: str, tx_type: int, init: LoadInit, amount: int, stamp: bytes, tac: bytes
    ) -> bool:
        tk = tac_key(self.keys(asn).tac)
        expected = macs.load_tac(
            tk, init.balance + amount, init.online_counter, amount, tx_type, self._terminal_id, stamp
        )
        return hmac.compare_digest(expected, tac)

    async def online_unlock_tac_ok(
        self, asn: str, init: LoadInit, amount: int, stamp: bytes, tac: bytes
    ) -> bool:
        tk = tac_key(self.keys(asn).tac)
        expected = macs.load_tac(
            tk,
            init.balance - amount,
            init.online_counter,
            amount,
            TxType.ONLINE_UNLOCK,
            self._terminal_id,
            stamp,
        )
        return hmac.compare_digest(expected, tac)

    def _purchase_sk(self, asn: str, init: PurchaseInit, ttc: int) -> bytes:
        return session_key(self.keys(asn).purchase, purchase_seed(init.rnd, init.offline_counter, ttc))

    async def purchase_mac1(
        self, asn: str, tx_type: int, init: PurchaseInit, amount: int, ttc: int, stamp: bytes
    ) -> bytes:
        sk = self._purchase_sk(asn, init, ttc)
        return macs.purchase_mac1(sk, amount, tx_type, self._terminal_id, stamp)

    async def purchase_ok(
        self,
        asn: str,
        tx_type: int,
        init: PurchaseInit,
        amount: int,
        ttc: int,
        stamp: bytes,
        tac: bytes,
        mac2: bytes,
    ) -> bool:
        sk = self._purchase_sk(asn, init, ttc)
        tk = tac_key(self.keys(asn).tac)
        want_tac = macs.purchase_tac(tk, amount, tx_type, self._terminal_id, ttc, stamp)
        return hmac.compare_digest(macs.purchase_mac2(sk, amount), mac2) and hmac.compare_digest(
            want_tac, tac
        )

    async def grey_lock_mac1(self, asn: str, init: PurchaseInit, ttc: int, stamp: bytes) -> bytes:
        return macs.grey_mac1(self._purchase_sk(asn, init, ttc), self._terminal_id, ttc, stamp)

    async def grey_lock_ok(
        self, asn: str, init: PurchaseInit, ttc: int, stamp: bytes, gtac: bytes, mac2: bytes
    ) -> bool:
        tk = tac_key(self.keys(asn).tac)
        want_gtac = macs.gtac(tk, init.balance, init.offline_counter, self._terminal_id, ttc, stamp)
        want_mac2 = macs.grey_mac2(self._purchase_sk(asn, init, ttc), gtac, init.balance)
        return hmac.compare_digest(want_gtac, gtac) and hmac.compare_digest(want_mac2, mac2)

    async def gmac(self, asn: str, grey: GreyStatus, amount: int) -> bytes:
        if grey.locked_at is None:
            raise ValueError("a GMAC needs the lock time of a grey card")
        gk = macs.gmac_key(self.keys(asn).purchase, grey.gtac, grey.offline_counter)
        return macs.gmac(
            gk,
            amount,
            grey.offline_counter,
            grey.terminal_id,
            grey.terminal_serial,
            stamp_bcd(grey.locked_at),
        )

    async def unlock_tac_ok(self, asn: str, amount: int, ttc: int, stamp: bytes, tac: bytes) -> bool:
        tk = tac_key(self.keys(asn).tac)
        return hmac.compare_digest(macs.unlock_tac(tk, amount, self._terminal_id, ttc, stamp), tac)

    async def update_mac(self, asn: str, challenge: bytes, header_and_data: bytes) -> bytes:
        return macs.sm_mac(self.keys(asn).maintenance, challenge, header_and_data)

    async def pin_reload_mac(self, asn: str, pin: bytes) -> bytes:
        return macs.pin_reload_mac(self.keys(asn).pin_reload, pin)
