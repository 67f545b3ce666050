"""The virtual fuel card: a PBOC 2.0 ED/EP application with the fuel-card grey lock and CNG files.

Layer: firmware-sim (pure: no I/O, no clock; randomness from an injected `random.Random`).
`VirtualCard.process(apdu) -> response` is the whole card; `power_on()` / `power_off()` bound a
session. Persistent state is `CardState` (`changed` tells the shell to save it); the session state
(selected application, the pending INITIALIZE, the challenge, PIN verified) dies with the power.

Commands and status words: `protocol.card.apdu` and `protocol.card.errors`; MACs: `protocol.card.macs`.
Card keys are the simulator's master keys diversified by the ASN, as a personalised card would hold.

Rules the card enforces:
- every command but SELECT needs the fuel application selected (SELECT 1001) -> 69 85;
- a blank card (EF15 issue state 00) refuses money commands -> 69 85;
- a grey card refuses purchases, loads and a new lock -> 69 85; DEBIT FOR UNLOCK needs a grey card;
- CREDIT FOR LOAD / DEBIT FOR PURCHASE / GREY LOCK must follow their INITIALIZE directly (any other
  command in between cancels it) -> 69 85; a wrong MAC -> 93 02 and the INITIALIZE is cancelled;
- VERIFY: 3 tries, 63 Cx, then 69 83 for good; RELOAD PIN with the right MAC resets it;
- UPDATE BINARY with MAC needs a GET CHALLENGE just before; the ASN in EF15 cannot be changed;
- ONLINE UNLOCK (E0 7A 09 / E0 7E 09, issuing outlets) runs like a load with the load key on a grey card:
  the amount owed is debited, the online counter advances, the grey lock is cleared [P].
"""

from __future__ import annotations

import datetime as dt
import hmac
import random
from dataclasses import dataclass

from protocol.card import apdu, macs
from protocol.card.apdu import Command, LoadInit, PurchaseInit, UnlockRequest
from protocol.card.errors import ApduError, CardFileError, StatusWordError
from protocol.card.files import (
    MAX_MONEY,
    CreditFile,
    GreyState,
    GreyStatus,
    HolderFile,
    IssuerFile,
    IssueState,
    LimitsFile,
    LogRecord,
    TxType,
    VehicleFile,
    asn_bytes,
    bcd_date,
    bcd_time,
)
from protocol.card.keys import KEY_INDEX, TEST_MASTER_KEYS, KeySet
from protocol.pboc_crypto import load_seed, purchase_seed, session_key, tac_key
from station_sim.card.state import PIN_TRIES, PROOF_SLOTS, CardState, Purse

KEY_VERSION = 0x01
ALGORITHM_3DES = 0x00
SW_MAX_BALANCE = 0x9402

WRITABLE_SIZES: dict[int, tuple[int, ...]] = {
    IssuerFile.SFI: (IssuerFile.SIZE,),
    HolderFile.SFI: (HolderFile.SIZE, HolderFile.CNG_SIZE),
    VehicleFile.SFI: (VehicleFile.SIZE,),
    LimitsFile.SFI: (LimitsFile.SIZE,),
    CreditFile.SFI: (CreditFile.SIZE,),
}


class Refuse(Exception):
    """Internal: answer this status word."""

    def __init__(self, sw: int) -> None:
        super().__init__(f"{sw:04X}")
        self.sw = sw


@dataclass(frozen=True, slots=True)
class _PendingLoad:
    purse: str
    amount: int
    terminal: bytes
    sk: bytes


@dataclass(frozen=True, slots=True)
class _PendingPurchase:
    purse: str
    amount: int
    terminal: bytes
    rnd: bytes
    grey: bool


def _u32(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


def _stamp_datetime(stamp: bytes) -> dt.datetime:
    try:
        date = bcd_date(stamp[:4], "APDU", "date")
        time = bcd_time(stamp[4:7], "APDU")
    except CardFileError as exc:  # a malformed date in the command
        raise Refuse(0x6A80) from exc
    if date is None or time is None:
        raise Refuse(0x6A80)
    return dt.datetime.combine(date, time)


class VirtualCard:
    """One card: `process(apdu)` answers like the card would; `state` is what it keeps."""

    def __init__(
        self, state: CardState, masters: KeySet = TEST_MASTER_KEYS, rng: random.Random | None = None
    ):
        self.state = state
        self.keys = masters.diversified(asn_bytes(state.asn))
        self._rng = rng or random.Random()
        self.powered = False
        self.changed = False
        self._reset_session()

    # -------------------------------------------------------------------------------- power

    def _reset_session(self) -> None:
        self._selected = False
        self._pin_ok = False
        self._challenge: bytes | None = None
        self._pending: _PendingLoad | _PendingPurchase | None = None

    def power_on(self) -> bytes:
        """Power up (or reset): a fresh session; the ATR."""
        self.powered = True
        self._reset_session()
        return self.state.atr

    def power_off(self) -> None:
        self.powered = False
        self._reset_session()

    # ------------------------------------------------------------------------------ dispatch

    def process(self, raw: bytes) -> bytes:
        """Answer one command APDU. Sets `changed` when the persistent state changed."""
        self.changed = False
        try:
            cmd = Command.parse(raw)
        except ApduError:  # the length bytes do not add up
            return apdu.status(0x6700)
        pending, self._pending = self._pending, None
        challenge, self._challenge = self._challenge, None
        try:
            return self._dispatch(cmd, pending, challenge)
        except Refuse as exc:
            return apdu.status(exc.sw)

    def _dispatch(
        self, cmd: Command, pending: _PendingLoad | _PendingPurchase | None, challenge: bytes | None
    ) -> bytes:
        key = (cmd.cla, cmd.ins)
        if key == (0x00, 0xA4):
            return self._select(cmd)
        if cmd.cla not in (0x00, 0x04, 0x80, 0xE0):
            raise Refuse(0x6E00)
        if not self._selected:
            raise Refuse(0x6985)
        match key:
            case (0x00, 0xB0):
                return self._read_binary(cmd)
            case (0x00, 0xB2):
                return self._read_record(cmd)
            case (0x00, 0x20):
                return self._verify(cmd)
            case (0x80, 0x5E):
                return self._change_or_reload_pin(cmd)
            case (0x00, 0x84):
                return self._get_challenge(cmd)
            case (0x04, 0xD6):
                return self._update_binary(cmd, challenge)
            case (0x80, 0x5C):
                return self._get_balance(cmd)
            case (0x80, 0x50):
                return self._initialize(cmd)
            case (0x80, 0x52):
                return self._credit_for_load(cmd, pending)
            case (0x80, 0x54):
                return self._debit_for_purchase(cmd, pending)
            case (0x80, 0x5A):
                return self._transaction_prove(cmd)
            case (0xE0, 0x7A) if cmd.p1 == 0x09:
                return self._init_online_unlock(cmd)
            case (0xE0, 0x7A):
                return self._init_grey_lock(cmd)
            case (0xE0, 0x7C):
                return self._grey_lock(cmd, pending)
            case (0xE0, 0x7E) if cmd.p1 == 0x09:
                return self._online_unlock(cmd, pending)
            case (0xE0, 0x7E):
                return self._debit_for_unlock(cmd)
            case (0xE0, 0xCA):
                return apdu.ok(self.state.grey)
            case _:
                raise Refuse(0x6D00)

    # --------------------------------------------------------------------------------- files

    def _select(self, cmd: Command) -> bytes:
        if cmd.p1 != 0x00 or len(cmd.data) != 2:
            raise Refuse(0x6A86)
        fid = int.from_bytes(cmd.data, "big")
        if fid == apdu.FID_MF:
            self._selected = False
            return apdu.ok()
        if fid == apdu.FID_FUEL_APP and not self.state.foreign:
            self._selected = True
            return apdu.ok()
        raise Refuse(0x6A82)

    def _read_binary(self, cmd: Command) -> bytes:
        if not cmd.p1 & 0x80:
            raise Refuse(0x6A86)
        raw = self.state.files.get(cmd.p1 & 0x1F)
        if raw is None:
            raise Refuse(0x6A82)
        if cmd.p2 > len(raw):
            raise Refuse(0x6B00)
        length = len(raw) - cmd.p2 if cmd.le in (None, 256) else cmd.le
        return apdu.ok(raw[cmd.p2 : cmd.p2 + length])

    def _read_record(self, cmd: Command) -> bytes:
        if cmd.p2 & 0x07 != 0x04 or cmd.p2 >> 3 != LogRecord.SFI:
            raise Refuse(0x6A82)
        if not 1 <= cmd.p1 <= len(self.state.log):
            raise Refuse(0x6A83)
        return apdu.ok(self.state.log[cmd.p1 - 1])

    def _get_challenge(self, cmd: Command) -> bytes:
        if cmd.le != 4:
            raise Refuse(0x6700)
        self._challenge = self._rng.randbytes(4)
        return apdu.ok(self._challenge)

    def _update_binary(self, cmd: Command, challenge: bytes | None) -> bytes:
        if challenge is None:
            raise Refuse(0x6982)
        if not cmd.p1 & 0x80 or len(cmd.data) < 5:
            raise Refuse(0x6A86)
        sfi, offset = cmd.p1 & 0x1F, cmd.p2
        data, mac = cmd.data[:-4], cmd.data[-4:]
        sizes = WRITABLE_SIZES.get(sfi)
        if sizes is None:
            raise Refuse(0x6A82)
        header = bytes((cmd.cla, cmd.ins, cmd.p1, cmd.p2, len(cmd.data)))
        if not hmac.compare_digest(macs.sm_mac(self.keys.maintenance, challenge, header + data), mac):
            raise Refuse(0x9302)
        current = self.state.files.get(sfi, b"")
        updated = current[:offset] + data + current[offset + len(data) :]
        if offset > len(current) or len(updated) not in sizes:
            raise Refuse(0x6700)
        if sfi == IssuerFile.SFI and updated[10:20] != asn_bytes(self.state.asn):
            raise Refuse(0x6985)
        self.state.files[sfi] = updated
        self.changed = True
        return apdu.ok()

    def _issued(self) -> bool:
        raw = self.state.files.get(IssuerFile.SFI, b"")
        return len(raw) == IssuerFile.SIZE and raw[28] == IssueState.ISSUED

    def _grey(self) -> GreyStatus:
        return GreyStatus.parse(self.state.grey)

    # ----------------------------------------------------------------------------------- PIN

    def _check_pin(self, pin: bytes) -> None:
        if self.state.pin_tries == 0:
            raise Refuse(0x6983)
        if hmac.compare_digest(pin, apdu.pin_bytes(self.state.pin)):
            if self.state.pin_tries != PIN_TRIES:
                self.state.pin_tries = PIN_TRIES
                self.changed = True
            self._pin_ok = True
            return
        self.state.pin_tries -= 1
        self.changed = True
        self._pin_ok = False
        raise Refuse(0x6983 if self.state.pin_tries == 0 else 0x63C0 | self.state.pin_tries)

    def _verify(self, cmd: Command) -> bytes:
        if cmd.p1 != 0 or cmd.p2 != 0:
            raise Refuse(0x6A86)
        if not cmd.data:
            if self.state.pin_tries == 0:
                raise Refuse(0x6983)
            if self._pin_ok:
                return apdu.ok()
            raise Refuse(0x63C0 | self.state.pin_tries)
        self._check_pin(cmd.data)
        return apdu.ok()

    @staticmethod
    def _pin_text(raw: bytes) -> str:
        digits = raw.hex().rstrip("f")
        if not digits.isdigit() or not apdu.PIN_MIN_DIGITS <= len(digits) <= apdu.PIN_MAX_DIGITS:
            raise Refuse(0x6A80)
        return digits

    def _change_or_reload_pin(self, cmd: Command) -> bytes:
        if cmd.p1 == 0x01 and cmd.p2 == 0x00:
            old, sep, new = cmd.data.partition(b"\xff")
            if not sep:
                raise Refuse(0x6A80)
            new_pin = self._pin_text(new)
            self._check_pin(old)
            self.state.pin = new_pin
            self.changed = True
            return apdu.ok()
        if cmd.p1 == 0x00 and cmd.p2 == 0x00:
            if len(cmd.data) < 6:
                raise Refuse(0x6700)
            pin, mac = cmd.data[:-4], cmd.data[-4:]
            if not hmac.compare_digest(macs.pin_reload_mac(self.keys.pin_reload, pin), mac):
                raise Refuse(0x9302)
            self.state.pin = self._pin_text(pin)
            self.state.pin_tries = PIN_TRIES
            self.changed = True
            return apdu.ok()
        raise Refuse(0x6A86)

    # --------------------------------------------------------------------------------- purses

    def _purse(self, p2: int) -> tuple[str, Purse]:
        if p2 == apdu.Purse.EP.value:
            return "EP", self.state.ep
        if p2 == apdu.Purse.ED.value and self.state.ed is not None:
            return "ED", self.state.ed
        raise Refuse(0x6A82 if p2 == apdu.Purse.ED.value else 0x6A86)

    def _purse_by_name(self, name: str) -> Purse:
        purse = self.state.ep if name == "EP" else self.state.ed
        if purse is None:
            raise Refuse(0x6A82)
        return purse

    def _get_balance(self, cmd: Command) -> bytes:
        _, purse = self._purse(cmd.p2)
        if cmd.p1 == 0x00:
            return apdu.ok(purse.balance.to_bytes(4, "big"))
        if cmd.p1 == 0x01:
            return apdu.ok(
                apdu.PurseState(purse.balance, purse.online_counter, purse.offline_counter).encode()
            )
        raise Refuse(0x6A86)

    def _money_allowed(self) -> None:
        if not self._issued() or self._grey().state is not GreyState.NORMAL:
            raise Refuse(0x6985)

    def _initialize(self, cmd: Command) -> bytes:
        if len(cmd.data) != 11:
            raise Refuse(0x6700)
        if cmd.data[0] != KEY_INDEX:
            raise Refuse(0x9403)
        name, purse = self._purse(cmd.p2)
        amount, terminal = _u32(cmd.data[1:5]), cmd.data[5:11]
        self._money_allowed()
        rnd = self._rng.randbytes(4)
        if cmd.p1 == 0x00:  # INITIALIZE FOR LOAD
            if purse.balance + amount > MAX_MONEY:
                raise Refuse(SW_MAX_BALANCE)
            sk = session_key(self.keys.load, load_seed(rnd, purse.online_counter))
            tx = TxType.ED_LOAD if name == "ED" else TxType.EP_LOAD
            mac1 = macs.load_mac1(sk, purse.balance, amount, tx, terminal)
            self._pending = _PendingLoad(name, amount, terminal, sk)
            init = LoadInit(purse.balance, purse.online_counter, KEY_VERSION, ALGORITHM_3DES, rnd, mac1)
            return apdu.ok(init.encode())
        if cmd.p1 == 0x01:  # INITIALIZE FOR PURCHASE
            if name == "ED" and not self._pin_ok:
                raise Refuse(0x6982)
            if amount > purse.balance:
                raise Refuse(0x9401)
            self._pending = _PendingPurchase(name, amount, terminal, rnd, grey=False)
            init_p = PurchaseInit(purse.balance, purse.offline_counter, 0, KEY_VERSION, ALGORITHM_3DES, rnd)
            return apdu.ok(init_p.encode())
        raise Refuse(0x6A86)

    def _log(self, counter: int, amount: int, tx_type: int, terminal: bytes, when: dt.datetime) -> None:
        record = LogRecord(counter & 0xFFFF, amount, tx_type, terminal, when).encode()
        self.state.log = [record, *self.state.log][: LogRecord.RECORDS]

    def _prove(self, tx_type: int, counter: int, mac: bytes, tac: bytes) -> None:
        self.state.proofs[f"{tx_type:02X}:{counter & 0xFFFF:04X}"] = mac + tac
        while len(self.state.proofs) > PROOF_SLOTS:
            del self.state.proofs[next(iter(self.state.proofs))]

    def _credit_for_load(self, cmd: Command, pending: _PendingLoad | _PendingPurchase | None) -> bytes:
        if not isinstance(pending, _PendingLoad):
            raise Refuse(0x6985)
        if len(cmd.data) != 11:
            raise Refuse(0x6700)
        stamp, mac2 = cmd.data[:7], cmd.data[7:]
        when = _stamp_datetime(stamp)
        purse = self._purse_by_name(pending.purse)
        tx = TxType.ED_LOAD if pending.purse == "ED" else TxType.EP_LOAD
        if not hmac.compare_digest(
            macs.load_mac2(pending.sk, pending.amount, tx, pending.terminal, stamp), mac2
        ):
            raise Refuse(0x9302)
        counter = purse.online_counter
        purse.balance += pending.amount
        purse.online_counter = (counter + 1) & 0xFFFF
        tac = macs.load_tac(
            tac_key(self.keys.tac), purse.balance, counter, pending.amount, tx, pending.terminal, stamp
        )
        self._log(counter, pending.amount, tx, pending.terminal, when)
        self._prove(tx, counter, bytes(4), tac)
        self.changed = True
        return apdu.ok(tac)

    def _debit_for_purchase(self, cmd: Command, pending: _PendingLoad | _PendingPurchase | None) -> bytes:
        if not isinstance(pending, _PendingPurchase) or pending.grey:
            raise Refuse(0x6985)
        if len(cmd.data) != 15:
            raise Refuse(0x6700)
        ttc, stamp, mac1 = _u32(cmd.data[0:4]), cmd.data[4:11], cmd.data[11:15]
        when = _stamp_datetime(stamp)
        purse = self._purse_by_name(pending.purse)
        tx = TxType.ED_PURCHASE if pending.purse == "ED" else TxType.EP_PURCHASE
        sk = session_key(self.keys.purchase, purchase_seed(pending.rnd, purse.offline_counter, ttc))
        if not hmac.compare_digest(macs.purchase_mac1(sk, pending.amount, tx, pending.terminal, stamp), mac1):
            raise Refuse(0x9302)
        counter = purse.offline_counter
        purse.balance -= pending.amount
        purse.offline_counter = (counter + 1) & 0xFFFF
        tac = macs.purchase_tac(tac_key(self.keys.tac), pending.amount, tx, pending.terminal, ttc, stamp)
        mac2 = macs.purchase_mac2(sk, pending.amount)
        self._log(counter, pending.amount, tx, pending.terminal, when)
        self._prove(tx, counter, mac2, tac)
        self.changed = True
        return apdu.ok(tac + mac2)

    def _transaction_prove(self, cmd: Command) -> bytes:
        if len(cmd.data) != 2:
            raise Refuse(0x6700)
        proof = self.state.proofs.get(f"{cmd.p2:02X}:{cmd.data.hex().upper()}")
        if proof is None:
            raise Refuse(0x9406)
        return apdu.ok(proof)

    # ----------------------------------------------------------------------------------- grey

    def _init_grey_lock(self, cmd: Command) -> bytes:
        if cmd.p1 != 0x08 or cmd.p2 != 0x01:
            raise Refuse(0x6A86)
        if len(cmd.data) != 7:
            raise Refuse(0x6700)
        if cmd.data[0] != KEY_INDEX:
            raise Refuse(0x9403)
        self._money_allowed()
        rnd = self._rng.randbytes(4)
        purse = self.state.ep
        self._pending = _PendingPurchase("EP", 0, cmd.data[1:7], rnd, grey=True)
        init = PurchaseInit(purse.balance, purse.offline_counter, 0, KEY_VERSION, ALGORITHM_3DES, rnd)
        return apdu.ok(init.encode())

    def lock(self, terminal: bytes, ttc: int, when: dt.datetime) -> bytes:
        """Apply a grey lock (the card's side of GREY LOCK, after MAC1 checked); the GTAC."""
        purse = self.state.ep
        stamp = when.strftime("%Y%m%d%H%M%S")
        raw_stamp = bytes.fromhex(stamp)
        gtac = macs.gtac(
            tac_key(self.keys.tac), purse.balance, purse.offline_counter, terminal, ttc, raw_stamp
        )
        grey = GreyStatus(
            state=GreyState.GREY,
            tx_type=TxType.GREY_LOCK,
            balance=purse.balance,
            offline_counter=purse.offline_counter,
            key_index=KEY_INDEX,
            terminal_id=terminal,
            terminal_serial=ttc,
            locked_at=when,
            gtac=gtac,
        )
        self.state.grey = grey.encode()
        self._log(purse.offline_counter, 0, TxType.GREY_LOCK, terminal, when)
        self.changed = True
        return gtac

    def _grey_lock(self, cmd: Command, pending: _PendingLoad | _PendingPurchase | None) -> bytes:
        if cmd.p1 != 0x08 or cmd.p2 != 0x00:
            raise Refuse(0x6A86)
        if not isinstance(pending, _PendingPurchase) or not pending.grey:
            raise Refuse(0x6985)
        if len(cmd.data) != 16 or cmd.data[0] != TxType.GREY_LOCK:
            raise Refuse(0x6700)
        ttc, stamp, mac1 = _u32(cmd.data[1:5]), cmd.data[5:12], cmd.data[12:16]
        when = _stamp_datetime(stamp)
        purse = self.state.ep
        sk = session_key(self.keys.purchase, purchase_seed(pending.rnd, purse.offline_counter, ttc))
        if not hmac.compare_digest(macs.grey_mac1(sk, pending.terminal, ttc, stamp), mac1):
            raise Refuse(0x9302)
        gtac = self.lock(pending.terminal, ttc, when)
        return apdu.ok(gtac + macs.grey_mac2(sk, gtac, purse.balance))

    def _init_online_unlock(self, cmd: Command) -> bytes:
        """INITIALIZE FOR ONLINE UNLOCK: a load-style session (load key) on a grey card [P]."""
        if cmd.p2 != 0x01:
            raise Refuse(0x6A86)
        if len(cmd.data) != 11:
            raise Refuse(0x6700)
        if cmd.data[0] != KEY_INDEX:
            raise Refuse(0x9403)
        if not self._grey().is_grey:
            raise Refuse(0x6985)
        amount, terminal = _u32(cmd.data[1:5]), cmd.data[5:11]
        purse = self.state.ep
        if amount > purse.balance:
            raise Refuse(0x9401)
        rnd = self._rng.randbytes(4)
        sk = session_key(self.keys.load, load_seed(rnd, purse.online_counter))
        mac1 = macs.load_mac1(sk, purse.balance, amount, TxType.ONLINE_UNLOCK, terminal)
        self._pending = _PendingLoad("UNLOCK", amount, terminal, sk)
        init = LoadInit(purse.balance, purse.online_counter, KEY_VERSION, ALGORITHM_3DES, rnd, mac1)
        return apdu.ok(init.encode())

    def _online_unlock(self, cmd: Command, pending: _PendingLoad | _PendingPurchase | None) -> bytes:
        """ONLINE UNLOCK: debit the amount owed, clear the grey lock, advance the online counter [P]."""
        if not isinstance(pending, _PendingLoad) or pending.purse != "UNLOCK":
            raise Refuse(0x6985)
        if cmd.p2 != 0x00:
            raise Refuse(0x6A86)
        if len(cmd.data) != 11:
            raise Refuse(0x6700)
        stamp, mac2 = cmd.data[:7], cmd.data[7:]
        when = _stamp_datetime(stamp)
        tx = TxType.ONLINE_UNLOCK
        if not hmac.compare_digest(
            macs.load_mac2(pending.sk, pending.amount, tx, pending.terminal, stamp), mac2
        ):
            raise Refuse(0x9302)
        purse = self.state.ep
        counter = purse.online_counter
        purse.balance -= pending.amount
        purse.online_counter = (counter + 1) & 0xFFFF
        self._clear_grey()
        tac = macs.load_tac(
            tac_key(self.keys.tac), purse.balance, counter, pending.amount, tx, pending.terminal, stamp
        )
        self._log(counter, pending.amount, tx, pending.terminal, when)
        self._prove(tx, counter, bytes(4), tac)
        self.changed = True
        return apdu.ok(tac)

    def _clear_grey(self) -> None:
        """Back to normal; the last lock's details stay readable (a torn unlock is recognised by them)."""
        grey = self._grey()
        self.state.grey = GreyStatus(
            state=GreyState.NORMAL,
            tx_type=grey.tx_type,
            balance=grey.balance,
            offline_counter=grey.offline_counter,
            key_index=grey.key_index,
            terminal_id=grey.terminal_id,
            terminal_serial=grey.terminal_serial,
            locked_at=grey.locked_at,
            gtac=grey.gtac,
        ).encode()

    def _debit_for_unlock(self, cmd: Command) -> bytes:
        if cmd.p1 != 0x08 or cmd.p2 != 0x00:
            raise Refuse(0x6A86)
        try:
            req = UnlockRequest.parse(cmd.data)
        except StatusWordError as exc:
            raise Refuse(exc.sw) from exc
        grey = self._grey()
        if grey.state is not GreyState.GREY or grey.locked_at is None:
            raise Refuse(0x6985)
        if req.offline_counter != grey.offline_counter:
            raise Refuse(0x9302)
        when = _stamp_datetime(req.stamp)
        gk = macs.gmac_key(self.keys.purchase, grey.gtac, grey.offline_counter)
        lock_stamp = bytes.fromhex(grey.locked_at.strftime("%Y%m%d%H%M%S"))
        want = macs.gmac(
            gk, req.amount, grey.offline_counter, grey.terminal_id, grey.terminal_serial, lock_stamp
        )
        if not hmac.compare_digest(want, req.gmac):
            raise Refuse(0x9302)
        purse = self.state.ep
        if req.amount > purse.balance:
            raise Refuse(0x9401)
        counter = purse.offline_counter
        purse.balance -= req.amount
        purse.offline_counter = (counter + 1) & 0xFFFF
        self._clear_grey()
        tac = macs.unlock_tac(
            tac_key(self.keys.tac), req.amount, req.terminal_id, req.terminal_serial, req.stamp
        )
        self._log(counter, req.amount, TxType.GREY_UNLOCK, req.terminal_id, when)
        self._prove(TxType.GREY_UNLOCK, counter, bytes(4), tac)
        self.changed = True
        return apdu.ok(tac)
