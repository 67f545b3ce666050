"""Card access: the typed, async API of the desk over one card in a reader.

Layer: edge (pure core over an injected `Channel`; no pyscard here). The desk service builds on
`CardAccess`; the reader shell (`edge.devices.desk.reader`) supplies a `Channel` over PC/SC, and tests
supply one over the simulator's virtual card.

A `Channel` moves one APDU to the card and its response (data || SW1 SW2) back, raising `CardRemoved`
when the card does not answer (pulled, lost power) and `ReaderGone` when the reader vanished.

Operations and their APDUs (docs/desk.md, `protocol.card.apdu`)::

    read()          SELECT 1001, READ BINARY EF15 EF16 EF0D EF1C EF1B, GET BALANCE+counters EP/ED,
                    GREY STATUS, READ RECORD EF18 1..n, VERIFY (no data: tries left)
    verify_pin      VERIFY                       change_pin   CHANGE PIN      reload_pin  RELOAD PIN
    load            INITIALIZE FOR LOAD -> PSAM (check MAC1, make MAC2) -> CREDIT FOR LOAD -> TAC
    unlock_grey     GREY STATUS, GET BALANCE -> PSAM (GMAC) -> DEBIT FOR UNLOCK -> TAC
    grey_lock       INITIALIZE FOR GREY LOCK -> PSAM (MAC1) -> GREY LOCK -> GTAC, MAC2
    write           GET CHALLENGE -> PSAM (secure-messaging MAC) -> UPDATE BINARY with MAC

A money operation that loses the card raises a `LoadTorn` / `UnlockTorn` carrying the intent (balance
before, counter, amount); the caller re-reads the card and decides by the two-phase rule.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, TypeVar

from edge.devices.desk.errors import (
    CardError,
    CardNotGrey,
    CardRefused,
    CardRemoved,
    CardUnreadable,
    ForeignCard,
    LoadIntent,
    LoadTorn,
    PinIncorrect,
    PinLocked,
    ReaderGone,
    TornPhase,
    UnlockIntent,
    UnlockTorn,
    WriteTorn,
)
from edge.devices.desk.psam import Psam
from protocol.card import apdu
from protocol.card.apdu import LoadInit, PurchaseInit, Purse, PurseState, UnlockRequest
from protocol.card.errors import (
    ApduError,
    CardFileError,
    FileNotFound,
    InsNotSupported,
    PinBlocked,
    PinWrong,
    ProofNotAvailable,
    RecordNotFound,
    StatusWordError,
    WrongLength,
    WrongParameters,
)
from protocol.card.files import (
    CreditFile,
    GreyStatus,
    HolderFile,
    IssuerFile,
    IssueState,
    LimitsFile,
    LogRecord,
    TxType,
    VehicleFile,
    stamp_bcd,
)
from protocol.card.keys import KEY_INDEX

__all__ = [
    "CardAccess",
    "CardFile",
    "CardImage",
    "CardKind",
    "Channel",
    "GreyLockResult",
    "LoadResult",
    "PreparedLoad",
    "UnlockResult",
]

log = logging.getLogger(__name__)

LOG_RECORDS_READ = 10
_ABSENT = (FileNotFound, RecordNotFound, WrongParameters, InsNotSupported)

_F = TypeVar("_F")

CardFile = IssuerFile | HolderFile | VehicleFile | LimitsFile | CreditFile


class Channel(Protocol):
    """One card in one reader: send an APDU, get data || SW1 SW2 back."""

    async def transmit(self, apdu: bytes) -> bytes:
        """The card's response; `CardRemoved` if the card does not answer, `ReaderGone` if the reader left."""
        ...


class CardKind(StrEnum):
    """ASN byte 2; a user card with a vehicle file (EF0D) is a CNG card."""

    USER = "user"
    CNG = "cng"
    EMPLOYEE = "employee"
    MAINTENANCE = "maintenance"
    VERIFY = "verify"
    OTHER = "other"


_KIND_BY_CODE = {
    "01": CardKind.USER,
    "04": CardKind.EMPLOYEE,
    "05": CardKind.MAINTENANCE,
    "06": CardKind.VERIFY,
}


@dataclass(frozen=True, slots=True)
class CardImage:
    """Everything the desk shows of a card, read in one pass."""

    issuer: IssuerFile
    holder: HolderFile
    ep: PurseState
    ed: PurseState | None
    grey: GreyStatus
    vehicle: VehicleFile | None = None
    limits: LimitsFile | None = None
    credit: CreditFile | None = None
    log: tuple[LogRecord, ...] = ()
    pin_tries_left: int | None = None  # None: the card does not tell; 0: blocked
    atr: bytes = b""

    @property
    def asn(self) -> str:
        return self.issuer.asn

    @property
    def kind(self) -> CardKind:
        kind = _KIND_BY_CODE.get(self.issuer.kind_code, CardKind.OTHER)
        return CardKind.CNG if kind is CardKind.USER and self.vehicle is not None else kind

    @property
    def issued(self) -> bool:
        return self.issuer.issue_state is IssueState.ISSUED

    @property
    def balance(self) -> int:
        """The EP balance in fen (or 0.01 volume unit for the volume consumption modes)."""
        return self.ep.balance

    @property
    def price_level(self) -> int | None:
        return self.holder.price_level

    @property
    def cylinder_valid_until(self) -> dt.date | None:
        return None if self.vehicle is None else self.vehicle.cylinder_valid_until

    def cylinder_days_left(self, today: dt.date) -> int | None:
        """Days from `today` to the cylinder valid-until date (negative: overdue); None without a date."""
        until = self.cylinder_valid_until
        return None if until is None else (until - today).days

    @property
    def is_grey(self) -> bool:
        return self.grey.is_grey

    @property
    def pin_blocked(self) -> bool:
        return self.pin_tries_left == 0


@dataclass(frozen=True, slots=True)
class PreparedLoad:
    """A load between INITIALIZE FOR LOAD and CREDIT FOR LOAD: record `intent`, then `commit_load`."""

    intent: LoadIntent
    init: LoadInit
    stamp: bytes
    mac2: bytes


@dataclass(frozen=True, slots=True)
class LoadResult:
    """A completed load: the card now holds `balance_after`, its online counter is `online_counter + 1`."""

    asn: str
    purse: Purse
    amount: int
    balance_before: int
    balance_after: int
    online_counter: int  # the counter the load used (before the card advanced it)
    terminal_id: bytes
    when: dt.datetime
    tac: bytes
    tac_ok: bool


@dataclass(frozen=True, slots=True)
class UnlockResult:
    """A completed grey unlock: `amount` debited, the card normal again (see `UnlockIntent`)."""

    asn: str
    amount: int
    balance_before: int
    balance_after: int
    grey: GreyStatus  # the lock that was cleared
    terminal_id: bytes
    terminal_serial: int
    when: dt.datetime
    tac: bytes
    tac_ok: bool
    online: bool = False


@dataclass(frozen=True, slots=True)
class GreyLockResult:
    asn: str
    balance: int
    offline_counter: int
    terminal_id: bytes
    terminal_serial: int
    when: dt.datetime
    gtac: bytes
    mac2_ok: bool


def _refused(exc: StatusWordError) -> CardRefused:
    if isinstance(exc, PinWrong):
        return PinIncorrect(exc, exc.tries_left)
    if isinstance(exc, PinBlocked):
        return PinLocked(exc)
    return CardRefused(exc)


class CardAccess:
    """The card operations of the desk over one `Channel` and one `Psam`."""

    def __init__(self, channel: Channel, psam: Psam, atr: bytes = b"") -> None:
        self._channel = channel
        self._psam = psam
        self._atr = atr
        self._asn: str | None = None

    # ------------------------------------------------------------------------------- exchanges

    async def _send(self, command: bytes, name: str, length: int | None = None) -> bytes:
        """One APDU; the data of its 90 00 answer, a `CardRefused` leaf otherwise."""
        log.debug("card <- %s %s", name, command.hex().upper())
        response = await self._channel.transmit(command)
        log.debug("card -> %s %s", name, response.hex().upper())
        try:
            return apdu.expect_data(response, name, length)
        except StatusWordError as exc:
            raise _refused(exc) from exc
        except ApduError as exc:
            raise CardUnreadable(name, str(exc), response) from exc

    async def _optional(self, command: bytes, name: str, length: int | None = None) -> bytes | None:
        """Like `_send`, but None when the card does not have the file / record / command."""
        try:
            return await self._send(command, name, length)
        except CardRefused as exc:
            if isinstance(exc.error, _ABSENT):
                return None
            raise

    async def select(self) -> None:
        """Select the fuel application; `ForeignCard` if the card has none."""
        try:
            await self._send(apdu.select_fid(apdu.FID_FUEL_APP), "SELECT")
        except CardRefused as exc:
            raise ForeignCard(self._atr, f"SELECT of the fuel application answered {exc.sw:04X}") from exc

    async def _read_file(self, parse: Callable[[bytes], _F], sfi: int, name: str) -> _F | None:
        raw = await self._optional(apdu.read_binary(sfi), f"READ {name}")
        if raw is None:
            return None
        try:
            return parse(raw)
        except CardFileError as exc:
            raise CardUnreadable(name, str(exc), raw) from exc

    # ------------------------------------------------------------------------------------ read

    async def read_issuer(self) -> IssuerFile:
        await self.select()
        issuer = await self._read_file(IssuerFile.parse, IssuerFile.SFI, IssuerFile.NAME)
        if issuer is None:
            raise ForeignCard(self._atr, "no issuer file EF15")
        self._asn = issuer.asn
        return issuer

    async def read_purse(self, purse: Purse = Purse.EP) -> PurseState | None:
        """Balance and counters of a purse; None if the card has no such purse."""
        raw = await self._optional(apdu.get_counters(purse), f"GET BALANCE {purse.name}", PurseState.SIZE)
        return None if raw is None else PurseState.parse(raw)

    async def read_grey(self) -> GreyStatus:
        raw = await self._send(apdu.grey_status(), "GREY STATUS")
        try:
            return GreyStatus.parse(raw)
        except CardFileError as exc:
            raise CardUnreadable(GreyStatus.NAME, str(exc), raw) from exc

    async def read_log(self, records: int = LOG_RECORDS_READ) -> tuple[LogRecord, ...]:
        """The newest `records` log records (fewer if the card holds fewer)."""
        out: list[LogRecord] = []
        for number in range(1, records + 1):
            raw = await self._optional(apdu.read_record(LogRecord.SFI, number, LogRecord.SIZE), "READ EF18")
            if raw is None or LogRecord.is_empty(raw):
                break
            try:
                out.append(LogRecord.parse(raw))
            except CardFileError as exc:
                raise CardUnreadable(LogRecord.NAME, f"record {number}: {exc}", raw) from exc
        return tuple(out)

    async def pin_tries(self) -> int | None:
        """Tries left before the PIN blocks (0: blocked); None if the card does not tell."""
        try:
            await self._send(apdu.pin_tries(), "VERIFY")
        except PinIncorrect as exc:
            return exc.tries_left
        except PinLocked:
            return 0
        except CardRefused as exc:
            if isinstance(exc.error, (*_ABSENT, WrongLength)):
                return None
            raise
        return None  # 90 00: already verified in this session; the count is not told

    async def read(self) -> CardImage:
        """The whole card in one pass (`ForeignCard`, `CardUnreadable`, `CardRemoved`, `ReaderGone`)."""
        issuer = await self.read_issuer()
        holder = await self._read_file(HolderFile.parse, HolderFile.SFI, HolderFile.NAME)
        if holder is None:
            raise CardUnreadable(HolderFile.NAME, "the card has no holder file")
        vehicle = await self._read_file(VehicleFile.parse, VehicleFile.SFI, VehicleFile.NAME)
        limits = await self._read_file(LimitsFile.parse, LimitsFile.SFI, LimitsFile.NAME)
        credit = await self._read_file(CreditFile.parse, CreditFile.SFI, CreditFile.NAME)
        ep = await self.read_purse(Purse.EP)
        if ep is None:
            raise CardUnreadable("EP", "the card has no electronic purse")
        ed = await self.read_purse(Purse.ED)
        grey = await self.read_grey()
        records = await self.read_log()
        tries = await self.pin_tries()
        return CardImage(
            issuer=issuer,
            holder=holder,
            ep=ep,
            ed=ed,
            grey=grey,
            vehicle=vehicle,
            limits=limits,
            credit=credit,
            log=records,
            pin_tries_left=tries,
            atr=self._atr,
        )

    async def _require_asn(self) -> str:
        if self._asn is None:
            await self.read_issuer()
        assert self._asn is not None
        return self._asn

    # ------------------------------------------------------------------------------------- PIN

    async def verify_pin(self, pin: str) -> None:
        """`PinIncorrect` (tries left) or `PinLocked` when refused; `ValueError` for a malformed PIN."""
        await self._require_asn()
        await self._send(apdu.verify_pin(pin), "VERIFY")

    async def change_pin(self, old: str, new: str) -> None:
        await self._require_asn()
        await self._send(apdu.change_pin(old, new), "CHANGE PIN")

    async def reload_pin(self, new: str) -> None:
        """Reset a (blocked) PIN to `new` with the PSAM's PIN reload MAC: issuing outlets only."""
        asn = await self._require_asn()
        mac = await self._psam.pin_reload_mac(asn, apdu.pin_bytes(new))
        await self._send(apdu.reload_pin(new, mac), "RELOAD PIN")

    # ------------------------------------------------------------------------------------ load

    async def prepare_load(self, amount: int, when: dt.datetime, purse: Purse = Purse.EP) -> PreparedLoad:
        """INITIALIZE FOR LOAD and the PSAM's MAC2: the card has applied nothing yet."""
        if amount <= 0:
            raise ValueError(f"a load is a positive amount, got {amount}")
        terminal = self._psam.terminal_id
        try:
            asn = await self._require_asn()
            init_raw = await self._send(
                apdu.init_load(purse, KEY_INDEX, amount, terminal), "INITIALIZE FOR LOAD", LoadInit.SIZE
            )
        except (CardRemoved, ReaderGone) as exc:
            raise LoadTorn(None, TornPhase.BEFORE_WRITE, exc) from exc
        init = LoadInit.parse(init_raw)
        stamp = stamp_bcd(when)
        mac2 = await self._psam.load_mac2(asn, _load_type(purse), init, amount, stamp)
        intent = LoadIntent(
            asn=asn,
            purse=purse,
            amount=amount,
            balance_before=init.balance,
            online_counter=init.online_counter,
            terminal_id=terminal,
            when=when,
        )
        return PreparedLoad(intent, init, stamp, mac2)

    async def commit_load(self, prepared: PreparedLoad) -> LoadResult:
        """CREDIT FOR LOAD; the next APDU after `prepare_load`. `LoadTorn(AT_WRITE)` if unanswered."""
        intent = prepared.intent
        try:
            tac = await self._send(apdu.credit_load(prepared.stamp, prepared.mac2), "CREDIT FOR LOAD", 4)
        except (CardRemoved, ReaderGone) as exc:
            raise LoadTorn(intent, TornPhase.AT_WRITE, exc) from exc
        tac_ok = await self._psam.load_tac_ok(
            intent.asn, _load_type(intent.purse), prepared.init, intent.amount, prepared.stamp, tac
        )
        if not tac_ok:
            log.warning("card %s: load TAC %s does not verify", intent.asn, tac.hex().upper())
        return LoadResult(
            asn=intent.asn,
            purse=intent.purse,
            amount=intent.amount,
            balance_before=intent.balance_before,
            balance_after=intent.balance_after,
            online_counter=intent.online_counter,
            terminal_id=intent.terminal_id,
            when=intent.when,
            tac=tac,
            tac_ok=tac_ok,
        )

    async def load(
        self,
        amount: int,
        when: dt.datetime,
        purse: Purse = Purse.EP,
        on_intent: Callable[[LoadIntent], Awaitable[None]] | None = None,
    ) -> LoadResult:
        """Load `amount` onto the purse: prepare, `on_intent` (record it durably), commit."""
        prepared = await self.prepare_load(amount, when, purse)
        if on_intent is not None:
            await on_intent(prepared.intent)
        return await self.commit_load(prepared)

    # ----------------------------------------------------------------------------------- grey

    async def unlock_grey(
        self,
        amount: int,
        when: dt.datetime,
        gmac: bytes | None = None,
        on_intent: Callable[[UnlockIntent], Awaitable[None]] | None = None,
    ) -> UnlockResult:
        """DEBIT FOR UNLOCK of the amount owed; `gmac` from a grey record, or made by the PSAM."""
        if amount < 0:
            raise ValueError(f"the amount owed cannot be negative, got {amount}")
        terminal = self._psam.terminal_id
        try:
            asn = await self._require_asn()
            grey = await self.read_grey()
            purse = await self.read_purse(Purse.EP)
        except (CardRemoved, ReaderGone) as exc:
            raise UnlockTorn(None, TornPhase.BEFORE_WRITE, exc) from exc
        if not grey.is_grey:
            raise CardNotGrey(f"card {asn} is not grey ({grey.state.name})")
        if purse is None:
            raise CardUnreadable("EP", "the card has no electronic purse")
        mac = gmac if gmac is not None else await self._psam.gmac(asn, grey, amount)
        serial = await self._psam.next_serial()
        stamp = stamp_bcd(when)
        intent = UnlockIntent(asn, amount, purse.balance, grey, terminal, serial, when)
        if on_intent is not None:
            await on_intent(intent)
        request = UnlockRequest(amount, grey.offline_counter, terminal, serial, stamp, mac)
        try:
            tac = await self._send(apdu.debit_unlock(request), "DEBIT FOR UNLOCK", 4)
        except (CardRemoved, ReaderGone) as exc:
            raise UnlockTorn(intent, TornPhase.AT_WRITE, exc) from exc
        tac_ok = await self._psam.unlock_tac_ok(asn, amount, serial, stamp, tac)
        return UnlockResult(
            asn, amount, purse.balance, purse.balance - amount, grey, terminal, serial, when, tac, tac_ok
        )

    async def online_unlock(
        self,
        amount: int,
        when: dt.datetime,
        on_intent: Callable[[UnlockIntent], Awaitable[None]] | None = None,
    ) -> UnlockResult:
        """Online unlock at an issuing outlet: the amount owed debited under the load key [P].

        INITIALIZE FOR ONLINE UNLOCK (the PSAM checks the card's MAC1 and makes MAC2), then ONLINE UNLOCK;
        the card's online counter advances. `UnlockTorn` as for `unlock_grey`.
        """
        if amount < 0:
            raise ValueError(f"the amount owed cannot be negative, got {amount}")
        terminal = self._psam.terminal_id
        try:
            asn = await self._require_asn()
            grey = await self.read_grey()
            if not grey.is_grey:
                raise CardNotGrey(f"card {asn} is not grey ({grey.state.name})")
            raw = await self._send(
                apdu.init_online_unlock(KEY_INDEX, amount, terminal),
                "INITIALIZE FOR ONLINE UNLOCK",
                LoadInit.SIZE,
            )
        except (CardRemoved, ReaderGone) as exc:
            raise UnlockTorn(None, TornPhase.BEFORE_WRITE, exc) from exc
        init = LoadInit.parse(raw)
        stamp = stamp_bcd(when)
        mac2 = await self._psam.load_mac2(asn, TxType.ONLINE_UNLOCK, init, amount, stamp)
        intent = UnlockIntent(
            asn, amount, init.balance, grey, terminal, init.online_counter, when, online=True
        )
        if on_intent is not None:
            await on_intent(intent)
        try:
            tac = await self._send(apdu.online_unlock(stamp, mac2), "ONLINE UNLOCK", 4)
        except (CardRemoved, ReaderGone) as exc:
            raise UnlockTorn(intent, TornPhase.AT_WRITE, exc) from exc
        tac_ok = await self._psam.online_unlock_tac_ok(asn, init, amount, stamp, tac)
        return UnlockResult(
            asn,
            amount,
            init.balance,
            init.balance - amount,
            grey,
            terminal,
            init.online_counter,
            when,
            tac,
            tac_ok,
            online=True,
        )

    async def grey_lock(self, when: dt.datetime) -> GreyLockResult:
        """Grey-lock the card as a dispenser does before fuelling (tests, and the desk's own checks)."""
        terminal = self._psam.terminal_id
        asn = await self._require_asn()
        init = PurchaseInit.parse(
            await self._send(apdu.init_grey_lock(KEY_INDEX, terminal), "INITIALIZE FOR GREY LOCK")
        )
        serial = await self._psam.next_serial()
        stamp = stamp_bcd(when)
        mac1 = await self._psam.grey_lock_mac1(asn, init, serial, stamp)
        answer = await self._send(apdu.grey_lock(serial, stamp, mac1), "GREY LOCK", 8)
        gtac, mac2 = answer[:4], answer[4:]
        ok = await self._psam.grey_lock_ok(asn, init, serial, stamp, gtac, mac2)
        return GreyLockResult(asn, init.balance, init.offline_counter, terminal, serial, when, gtac, ok)

    # --------------------------------------------------------------------------------- writes

    async def write(self, record: CardFile, offset: int = 0) -> None:
        """UPDATE BINARY with MAC of a whole file (GET CHALLENGE, the PSAM's MAC, the write)."""
        data = record.encode()
        try:
            asn = await self._require_asn()
            challenge = await self._send(apdu.get_challenge(), "GET CHALLENGE", 4)
        except (CardRemoved, ReaderGone) as exc:
            raise WriteTorn(record.NAME, TornPhase.BEFORE_WRITE, exc) from exc
        header = apdu.update_binary_header(record.SFI, offset, len(data))
        mac = await self._psam.update_mac(asn, challenge, header + data)
        try:
            await self._send(apdu.update_binary(record.SFI, offset, data, mac), f"UPDATE {record.NAME}")
        except (CardRemoved, ReaderGone) as exc:
            raise WriteTorn(record.NAME, TornPhase.AT_WRITE, exc) from exc
        if isinstance(record, IssuerFile):
            self._asn = record.asn

    async def issue(
        self,
        issuer: IssuerFile,
        holder: HolderFile,
        vehicle: VehicleFile | None = None,
        limits: LimitsFile | None = None,
        credit: CreditFile | None = None,
    ) -> None:
        """Personalise a blank card: the holder and CNG files first, EF15 marked issued last.

        The ASN of `issuer` must be the card's own (the keys are diversified from it); a torn issue
        leaves the card blank (EF15 not yet marked), so it can simply be issued again.
        """
        current = await self.read_issuer()
        if issuer.asn != current.asn:
            raise ValueError(f"the card's number is {current.asn}, not {issuer.asn}")
        for record in (holder, vehicle, limits, credit):
            if record is not None:
                await self.write(record)
        await self.write(issuer)

    async def set_cylinder_date(self, valid_until: dt.date) -> VehicleFile:
        """Change the cylinder inspection valid-until date in EF0D; the rest of the file kept."""
        await self._require_asn()
        current = await self._read_file(VehicleFile.parse, VehicleFile.SFI, VehicleFile.NAME)
        if current is None:
            raise CardError("the card has no CNG vehicle file EF0D")
        updated = VehicleFile(
            cylinder_valid_until=valid_until,
            plate=current.plate,
            cylinder_id=current.cylinder_id,
            vehicle_class=current.vehicle_class,
            consumption_mode=current.consumption_mode,
        )
        await self.write(updated)
        return updated

    async def transaction_proof(self, tx_type: int, counter: int) -> bytes | None:
        """GET TRANSACTION PROVE: MAC || TAC of the card's transaction `counter`, None if it has none."""
        await self._require_asn()
        try:
            return await self._optional(
                apdu.get_transaction_prove(tx_type, counter), "GET TRANSACTION PROVE", 8
            )
        except CardRefused as exc:
            if isinstance(exc.error, ProofNotAvailable):
                return None
            raise


def _load_type(purse: Purse) -> int:
    return TxType.ED_LOAD if purse is Purse.ED else TxType.EP_LOAD
