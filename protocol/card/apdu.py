"""APDUs of the fuel card: command builders, command parsing (the card's side) and response parsers.

Layer: protocol (pure). A command APDU (ISO 7816-4, short lengths)::

    CLA INS P1 P2 [Lc data] [Le]

A response is data || SW1 SW2. `Command.parse` is what a card does with the bytes; the builders are
what a terminal sends; each response dataclass has `parse` (terminal) and `encode` (card).

    command                    CLA INS P1 P2   data                                         response
    SELECT by FID              00  A4  00 00   FID (2): 3F00 MF, 1001 fuel application      (FCI)
    READ BINARY by SFI         00  B0  80|SFI off  -                                        file bytes
    READ RECORD                00  B2  rec SFI<<3|4  -                                      record
    VERIFY                     00  20  00 00   PIN (2..6, BCD, F-padded)                    63Cx / 6983
    VERIFY, no data            00  20  00 00   -  (tries left: 63Cx; 9000 already verified) 63Cx / 6983
    CHANGE PIN                 80  5E  01 00   old PIN || FF || new PIN
    RELOAD PIN                 80  5E  00 00   PIN || MAC (4)
    GET CHALLENGE              00  84  00 00   Le 04                                        RND (4)
    UPDATE BINARY with MAC     04  D6  80|SFI off  data || MAC (4)
    GET BALANCE                80  5C  00 01|02   Le 04 (01 ED, 02 EP)                      balance (4)
    GET BALANCE + counters [P] 80  5C  01 01|02   Le 08              balance || online ctr || offline ctr
    INITIALIZE FOR LOAD        80  50  00 01|02   key idx || amount (4) || terminal (6)     LoadInit (16)
    CREDIT FOR LOAD            80  52  00 00   date || time || MAC2                         TAC (4)
    INITIALIZE FOR PURCHASE    80  50  01 01|02   key idx || amount (4) || terminal (6)     PurchaseInit (15)
    DEBIT FOR PURCHASE         80  54  01 00   TTC (4) || date || time || MAC1              TAC || MAC2
    GET TRANSACTION PROVE      80  5A  00 type counter (2)                                  MAC/00 (4) || TAC
    INITIALIZE FOR GREY LOCK   E0  7A  08 01   key idx || terminal (6)                      PurchaseInit (15)
    GREY LOCK                  E0  7C  08 00   91 || TTC (4) || date || time || MAC1        GTAC || MAC2
    DEBIT FOR UNLOCK           E0  7E  08 00   amount || CTC || terminal || TTC || date || time || GMAC (27)
                                                                                            TAC (4)
    GREY STATUS                E0  CA  00 00   Le 1E                                        GreyStatus (30)
    INIT FOR ONLINE UNLOCK [P] E0  7A  09 01   key idx || amount owed (4) || terminal (6)   LoadInit (16)
    ONLINE UNLOCK [P]          E0  7E  09 00   date || time || MAC2                         TAC (4)

Le 00 asks for whatever the card has.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from protocol.card.errors import ApduError, WrongLength, check_sw
from protocol.card.files import TERMINAL_LEN

FID_MF = 0x3F00
FID_FUEL_APP = 0x1001
PIN_MIN_DIGITS = 4
PIN_MAX_DIGITS = 12


class Purse(Enum):
    """The two purses of a PBOC application: P2 of GET BALANCE and the INITIALIZE commands."""

    ED = 0x01
    EP = 0x02


@dataclass(frozen=True, slots=True)
class Command:
    """A parsed command APDU (the card's view)."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes = b""
    le: int | None = None

    @classmethod
    def parse(cls, raw: bytes) -> Command:
        """ISO 7816-4 short cases 1..4; `ApduError` when the length bytes do not add up."""
        if len(raw) < 4:
            raise ApduError(f"APDU of {len(raw)} bytes", raw)
        cla, ins, p1, p2 = raw[0], raw[1], raw[2], raw[3]
        body = raw[4:]
        if not body:
            return cls(cla, ins, p1, p2)
        if len(body) == 1:
            return cls(cla, ins, p1, p2, le=body[0] or 256)
        lc = body[0]
        if lc == 0 or len(body) not in (1 + lc, 2 + lc):
            raise ApduError(f"Lc {lc} does not match {len(body) - 1} bytes", raw)
        le = (body[1 + lc] or 256) if len(body) == 2 + lc else None
        return cls(cla, ins, p1, p2, body[1 : 1 + lc], le)

    def encode(self) -> bytes:
        out = bytes((self.cla, self.ins, self.p1, self.p2))
        if self.data:
            if len(self.data) > 255:
                raise ApduError(f"command data of {len(self.data)} bytes", self.data)
            out += bytes((len(self.data),)) + self.data
        if self.le is not None:
            out += bytes((self.le & 0xFF,))
        return out


def split_response(raw: bytes, command: str) -> tuple[bytes, int]:
    """data, SW of a response; `ApduError` when it has no status word."""
    if len(raw) < 2:
        raise ApduError(f"{command}: response of {len(raw)} bytes has no status word", raw)
    return raw[:-2], (raw[-2] << 8) | raw[-1]


def expect_data(raw: bytes, command: str, length: int | None = None) -> bytes:
    """The data of a 90 00 response (typed error otherwise), checked against `length` if given."""
    data, sw = split_response(raw, command)
    check_sw(sw, command)
    if length is not None and len(data) != length:
        raise ApduError(f"{command}: {len(data)} data bytes, expected {length}", raw)
    return data


def ok(data: bytes = b"") -> bytes:
    return data + b"\x90\x00"


def status(sw: int) -> bytes:
    return sw.to_bytes(2, "big")


def _u32(value: int) -> bytes:
    if not 0 <= value <= 0xFFFFFFFF:
        raise ValueError(f"amount {value} does not fit 4 bytes")
    return value.to_bytes(4, "big")


def _terminal(terminal: bytes) -> bytes:
    if len(terminal) != TERMINAL_LEN:
        raise ValueError(f"terminal id must be {TERMINAL_LEN} bytes, got {terminal.hex()}")
    return terminal


# --------------------------------------------------------------------------------------- builders


def select_fid(fid: int) -> bytes:
    return Command(0x00, 0xA4, 0x00, 0x00, fid.to_bytes(2, "big")).encode()


def read_binary(sfi: int, offset: int = 0, le: int = 0) -> bytes:
    return Command(0x00, 0xB0, 0x80 | sfi, offset, le=le).encode()


def read_record(sfi: int, record: int, le: int = 0) -> bytes:
    return Command(0x00, 0xB2, record, (sfi << 3) | 0x04, le=le).encode()


def pin_bytes(pin: str) -> bytes:
    """PIN digits as BCD, an odd count padded with F; `ValueError` for a PIN that is not 4..12 digits."""
    if not (PIN_MIN_DIGITS <= len(pin) <= PIN_MAX_DIGITS) or not pin.isascii() or not pin.isdigit():
        raise ValueError(f"a PIN is {PIN_MIN_DIGITS} to {PIN_MAX_DIGITS} digits")
    return bytes.fromhex(pin + ("F" if len(pin) % 2 else ""))


def verify_pin(pin: str) -> bytes:
    return Command(0x00, 0x20, 0x00, 0x00, pin_bytes(pin)).encode()


def pin_tries() -> bytes:
    """VERIFY without data: the card answers 63Cx with the tries left (ISO 7816-4)."""
    return Command(0x00, 0x20, 0x00, 0x00).encode()


def change_pin(old: str, new: str) -> bytes:
    return Command(0x80, 0x5E, 0x01, 0x00, pin_bytes(old) + b"\xff" + pin_bytes(new)).encode()


def reload_pin(pin: str, mac: bytes) -> bytes:
    return Command(0x80, 0x5E, 0x00, 0x00, pin_bytes(pin) + mac).encode()


def get_challenge() -> bytes:
    return Command(0x00, 0x84, 0x00, 0x00, le=4).encode()


def update_binary_header(sfi: int, offset: int, data_len: int) -> bytes:
    """CLA INS P1 P2 Lc of UPDATE BINARY with MAC: what the secure-messaging MAC covers first."""
    return bytes((0x04, 0xD6, 0x80 | sfi, offset, data_len + 4))


def update_binary(sfi: int, offset: int, data: bytes, mac: bytes) -> bytes:
    return Command(0x04, 0xD6, 0x80 | sfi, offset, data + mac).encode()


def get_balance(purse: Purse) -> bytes:
    return Command(0x80, 0x5C, 0x00, purse.value, le=4).encode()


def get_counters(purse: Purse) -> bytes:
    """[P] GET BALANCE with P1 01: balance (4) || online counter (2) || offline counter (2)."""
    return Command(0x80, 0x5C, 0x01, purse.value, le=8).encode()


@dataclass(frozen=True, slots=True)
class PurseState:
    """A purse as the card tells it: balance and its two transaction counters."""

    balance: int
    online_counter: int
    offline_counter: int

    SIZE = 8

    @classmethod
    def parse(cls, data: bytes) -> PurseState:
        if len(data) != cls.SIZE:
            raise ApduError(f"GET BALANCE with counters: {len(data)} bytes, expected {cls.SIZE}", data)
        return cls(
            int.from_bytes(data[0:4], "big"),
            int.from_bytes(data[4:6], "big"),
            int.from_bytes(data[6:8], "big"),
        )

    def encode(self) -> bytes:
        return (
            _u32(self.balance)
            + self.online_counter.to_bytes(2, "big")
            + self.offline_counter.to_bytes(2, "big")
        )


def init_load(purse: Purse, key_index: int, amount: int, terminal: bytes) -> bytes:
    data = bytes((key_index,)) + _u32(amount) + _terminal(terminal)
    return Command(0x80, 0x50, 0x00, purse.value, data, le=0x10).encode()


def credit_load(stamp: bytes, mac2: bytes) -> bytes:
    return Command(0x80, 0x52, 0x00, 0x00, stamp + mac2, le=4).encode()


def init_purchase(purse: Purse, key_index: int, amount: int, terminal: bytes) -> bytes:
    data = bytes((key_index,)) + _u32(amount) + _terminal(terminal)
    return Command(0x80, 0x50, 0x01, purse.value, data, le=0x0F).encode()


def debit_purchase(ttc: int, stamp: bytes, mac1: bytes) -> bytes:
    return Command(0x80, 0x54, 0x01, 0x00, _u32(ttc) + stamp + mac1, le=8).encode()


def get_transaction_prove(tx_type: int, counter: int) -> bytes:
    return Command(0x80, 0x5A, 0x00, tx_type, counter.to_bytes(2, "big"), le=8).encode()


def init_grey_lock(key_index: int, terminal: bytes) -> bytes:
    return Command(0xE0, 0x7A, 0x08, 0x01, bytes((key_index,)) + _terminal(terminal), le=0x0F).encode()


def grey_lock(ttc: int, stamp: bytes, mac1: bytes) -> bytes:
    return Command(0xE0, 0x7C, 0x08, 0x00, b"\x91" + _u32(ttc) + stamp + mac1, le=8).encode()


@dataclass(frozen=True, slots=True)
class UnlockRequest:
    """DEBIT FOR UNLOCK data (27 bytes): the amount owed, the lock's CTC, the unlocking terminal, GMAC."""

    amount: int
    offline_counter: int
    terminal_id: bytes
    terminal_serial: int
    stamp: bytes
    gmac: bytes

    SIZE = 27

    def encode(self) -> bytes:
        return (
            _u32(self.amount)
            + self.offline_counter.to_bytes(2, "big")
            + _terminal(self.terminal_id)
            + _u32(self.terminal_serial)
            + self.stamp
            + self.gmac
        )

    @classmethod
    def parse(cls, data: bytes) -> UnlockRequest:
        if len(data) != cls.SIZE:
            raise WrongLength(0x6700, "DEBIT FOR UNLOCK", f"{len(data)} data bytes, expected {cls.SIZE}")
        return cls(
            amount=int.from_bytes(data[0:4], "big"),
            offline_counter=int.from_bytes(data[4:6], "big"),
            terminal_id=data[6:12],
            terminal_serial=int.from_bytes(data[12:16], "big"),
            stamp=data[16:23],
            gmac=data[23:27],
        )


def debit_unlock(request: UnlockRequest) -> bytes:
    return Command(0xE0, 0x7E, 0x08, 0x00, request.encode(), le=4).encode()


def init_online_unlock(key_index: int, amount: int, terminal: bytes) -> bytes:
    data = bytes((key_index,)) + _u32(amount) + _terminal(terminal)
    return Command(0xE0, 0x7A, 0x09, 0x01, data, le=0x10).encode()


def online_unlock(stamp: bytes, mac2: bytes) -> bytes:
    return Command(0xE0, 0x7E, 0x09, 0x00, stamp + mac2, le=4).encode()


def grey_status() -> bytes:
    return Command(0xE0, 0xCA, 0x00, 0x00, le=0x1E).encode()


# -------------------------------------------------------------------------------------- responses


@dataclass(frozen=True, slots=True)
class LoadInit:
    """INITIALIZE FOR LOAD response (16 bytes)."""

    balance: int
    online_counter: int
    key_version: int
    algorithm: int
    rnd: bytes
    mac1: bytes

    SIZE = 16

    @classmethod
    def parse(cls, data: bytes) -> LoadInit:
        if len(data) != cls.SIZE:
            raise ApduError(f"INITIALIZE FOR LOAD: {len(data)} bytes, expected {cls.SIZE}", data)
        return cls(
            balance=int.from_bytes(data[0:4], "big"),
            online_counter=int.from_bytes(data[4:6], "big"),
            key_version=data[6],
            algorithm=data[7],
            rnd=data[8:12],
            mac1=data[12:16],
        )

    def encode(self) -> bytes:
        return (
            _u32(self.balance)
            + self.online_counter.to_bytes(2, "big")
            + bytes((self.key_version, self.algorithm))
            + self.rnd
            + self.mac1
        )


@dataclass(frozen=True, slots=True)
class PurchaseInit:
    """INITIALIZE FOR PURCHASE / GREY LOCK response (15 bytes)."""

    balance: int
    offline_counter: int
    overdraft_limit: int
    key_version: int
    algorithm: int
    rnd: bytes

    SIZE = 15

    @classmethod
    def parse(cls, data: bytes) -> PurchaseInit:
        if len(data) != cls.SIZE:
            raise ApduError(f"INITIALIZE FOR PURCHASE: {len(data)} bytes, expected {cls.SIZE}", data)
        return cls(
            balance=int.from_bytes(data[0:4], "big"),
            offline_counter=int.from_bytes(data[4:6], "big"),
            overdraft_limit=int.from_bytes(data[6:9], "big"),
            key_version=data[9],
            algorithm=data[10],
            rnd=data[11:15],
        )

    def encode(self) -> bytes:
        return (
            _u32(self.balance)
            + self.offline_counter.to_bytes(2, "big")
            + self.overdraft_limit.to_bytes(3, "big")
            + bytes((self.key_version, self.algorithm))
            + self.rnd
        )
