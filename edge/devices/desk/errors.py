"""Typed errors of the desk card access: what a desk operation can meet at the card and the reader.

Layer: edge (pure). `CardError` is the root. The card's own refusals (status words) arrive as
`CardRefused` carrying the protocol's `StatusWordError`; an interrupted money operation arrives as an
`OperationTorn` leaf carrying what the caller needs to decide afterwards (the two-phase rule).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from edge.errors import EdgeError
from protocol.card.apdu import Purse
from protocol.card.errors import StatusWordError
from protocol.card.files import GreyStatus

__all__ = [
    "CardError",
    "CardNotGenuine",
    "CardNotGrey",
    "CardRefused",
    "CardRemoved",
    "CardUnreadable",
    "ForeignCard",
    "LoadIntent",
    "LoadTorn",
    "NoCard",
    "OperationTorn",
    "PinIncorrect",
    "PinLocked",
    "PsamError",
    "ReaderGone",
    "TornPhase",
    "UnlockIntent",
    "UnlockTorn",
    "WriteTorn",
]


class CardError(EdgeError):
    """Root of every error of the desk's card access."""


class CardRemoved(CardError):
    """The card left the reader (or lost power) during an exchange: no answer to the APDU."""


class NoCard(CardError):
    """No card in the reader."""


class ReaderGone(CardError):
    """The reader vanished (unplugged, driver gone, pcscd stopped)."""

    def __init__(self, reader: str, message: str = "") -> None:
        super().__init__(f"reader {reader!r} is gone" + (f": {message}" if message else ""))
        self.reader = reader


class ForeignCard(CardError):
    """The card has no fuel-card application (a bank card, an ID card, a card of another system)."""

    def __init__(self, atr: bytes = b"", message: str = "no fuel-card application") -> None:
        super().__init__(f"foreign card: {message}")
        self.atr = atr


class CardUnreadable(CardError):
    """A file of the card does not fit its layout (a card with garbage files)."""

    def __init__(self, file: str, message: str, raw: bytes = b"") -> None:
        super().__init__(f"card file {file} is unreadable: {message}")
        self.file = file
        self.raw = raw


class CardRefused(CardError):
    """The card answered a refusing status word; `error` is the protocol's typed status-word error."""

    def __init__(self, error: StatusWordError) -> None:
        super().__init__(str(error))
        self.error = error
        self.sw = error.sw
        self.command = error.command


class PinIncorrect(CardRefused):
    """Wrong PIN; `tries_left` more tries before the card blocks its PIN."""

    def __init__(self, error: StatusWordError, tries_left: int) -> None:
        super().__init__(error)
        self.tries_left = tries_left


class PinLocked(CardRefused):
    """The PIN is blocked (three wrong tries): the holder must go to an issuing outlet."""


class CardNotGrey(CardError):
    """An unlock was asked of a card that is not grey-locked."""


class CardNotGenuine(CardError):
    """A MAC from the card did not verify with the system's keys (a card of another system, a fake)."""


class PsamError(CardError):
    """The security module failed or refused."""


class TornPhase(StrEnum):
    """Where an operation was interrupted: before the card could apply it, or at the applying APDU."""

    BEFORE_WRITE = "before_write"  # preparing APDUs: the card applied nothing
    AT_WRITE = "at_write"  # the applying APDU got no answer: applied or not, the card decides


@dataclass(frozen=True, slots=True)
class LoadIntent:
    """What a load was about to do: record it before the write (the two-phase rule)."""

    asn: str
    purse: Purse
    amount: int
    balance_before: int
    online_counter: int  # before the load; a load that happened leaves it + 1
    terminal_id: bytes
    when: dt.datetime

    @property
    def balance_after(self) -> int:
        return self.balance_before + self.amount


@dataclass(frozen=True, slots=True)
class UnlockIntent:
    """What an unlock was about to do: debit `amount` from `balance_before` and clear the grey lock.

    `terminal_serial` is the terminal's TTC of a DEBIT FOR UNLOCK, or the card's online counter before
    an online unlock (`online`), which a done online unlock leaves + 1.
    """

    asn: str
    amount: int
    balance_before: int
    grey: GreyStatus
    terminal_id: bytes
    terminal_serial: int
    when: dt.datetime
    online: bool = False

    @property
    def balance_after(self) -> int:
        return self.balance_before - self.amount


class OperationTorn(CardError):
    """The card or the reader went away during a money or file operation; `cause` says which."""

    def __init__(self, message: str, phase: TornPhase, cause: CardError) -> None:
        super().__init__(f"{message} ({phase.value}: {cause})")
        self.phase = phase
        self.cause = cause


class LoadTorn(OperationTorn):
    """A load interrupted. `intent` is None when it tore before the card told its balance."""

    def __init__(self, intent: LoadIntent | None, phase: TornPhase, cause: CardError) -> None:
        super().__init__("load interrupted", phase, cause)
        self.intent = intent


class UnlockTorn(OperationTorn):
    """A grey unlock interrupted. `intent` is None when it tore before the card told its state."""

    def __init__(self, intent: UnlockIntent | None, phase: TornPhase, cause: CardError) -> None:
        super().__init__("grey unlock interrupted", phase, cause)
        self.intent = intent


class WriteTorn(OperationTorn):
    """A file write interrupted; read the file back to see whether it was written."""

    def __init__(self, file: str, phase: TornPhase, cause: CardError) -> None:
        super().__init__(f"write of {file} interrupted", phase, cause)
        self.file = file
