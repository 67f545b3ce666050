"""Typed errors of the card protocol: status words and damaged files.

Layer: protocol (pure). `CardProtocolError` is the root (a `ProtocolError`). A status word other than
90 00 becomes a `StatusWordError` leaf chosen by `check_sw`; a file whose bytes do not fit its layout is
a `CardFileError` carrying the file id and the raw bytes.

    SW      leaf                         meaning
    63 Cx   PinWrong(tries_left=x)       VERIFY / CHANGE PIN with a wrong PIN, x tries left
    69 83   PinBlocked                   PIN blocked (three wrong tries): issuing outlet only
    69 82   SecurityNotSatisfied         PIN not verified, or no GET CHALLENGE before a MAC'd write
    69 85   ConditionsNotSatisfied       wrong state: card grey, not grey, not initialised, blank card
    93 02   MacRejected                  MAC1 / MAC2 / GMAC / secure-messaging MAC did not verify
    94 01   InsufficientBalance          debit larger than the purse
    94 03   KeyNotFound                  key index not on the card
    94 06   ProofNotAvailable            GET TRANSACTION PROVE: no such transaction on the card
    6A 82   FileNotFound                 SELECT / READ of a file or application the card does not have
    6A 83   RecordNotFound               READ RECORD beyond the last record
    6A 86   WrongParameters              P1 / P2 not supported
    67 00   WrongLength                  Lc / Le does not fit the command
    6D 00   InsNotSupported              unknown instruction
    6E 00   ClaNotSupported              unknown class
    other   StatusWordError              anything else (6F 00 ...)
"""

from __future__ import annotations

from protocol.errors import ProtocolError

SW_OK = 0x9000


class CardProtocolError(ProtocolError):
    """Root of every card protocol error."""


class ApduError(CardProtocolError):
    """An APDU or a response too short or too long to be one (the raw bytes attached)."""

    def __init__(self, message: str, raw: bytes = b"") -> None:
        super().__init__(message)
        self.raw = raw


class CardFileError(CardProtocolError):
    """A card file whose bytes do not fit its layout (a card with garbage files)."""

    def __init__(self, file: str, message: str, raw: bytes = b"") -> None:
        super().__init__(f"{file}: {message} ({raw.hex().upper()})")
        self.file = file
        self.detail = message
        self.raw = raw


class StatusWordError(CardProtocolError):
    """The card answered a status word other than 90 00."""

    def __init__(self, sw: int, command: str, message: str = "") -> None:
        text = message or "refused"
        super().__init__(f"{command}: {text} (SW {sw:04X})")
        self.sw = sw
        self.command = command


class PinWrong(StatusWordError):
    def __init__(self, sw: int, command: str) -> None:
        self.tries_left = sw & 0x0F
        super().__init__(sw, command, f"wrong PIN, {self.tries_left} tries left")


class PinBlocked(StatusWordError):
    pass


class SecurityNotSatisfied(StatusWordError):
    pass


class ConditionsNotSatisfied(StatusWordError):
    pass


class MacRejected(StatusWordError):
    pass


class InsufficientBalance(StatusWordError):
    pass


class KeyNotFound(StatusWordError):
    pass


class ProofNotAvailable(StatusWordError):
    pass


class FileNotFound(StatusWordError):
    pass


class RecordNotFound(StatusWordError):
    pass


class WrongParameters(StatusWordError):
    pass


class WrongLength(StatusWordError):
    pass


class InsNotSupported(StatusWordError):
    pass


class ClaNotSupported(StatusWordError):
    pass


_LEAVES: dict[int, tuple[type[StatusWordError], str]] = {
    0x6983: (PinBlocked, "PIN blocked"),
    0x6982: (SecurityNotSatisfied, "security status not satisfied"),
    0x6985: (ConditionsNotSatisfied, "conditions of use not satisfied"),
    0x9302: (MacRejected, "MAC rejected"),
    0x9401: (InsufficientBalance, "insufficient balance"),
    0x9403: (KeyNotFound, "key not found"),
    0x9406: (ProofNotAvailable, "no such transaction"),
    0x6A82: (FileNotFound, "file or application not found"),
    0x6A83: (RecordNotFound, "record not found"),
    0x6A86: (WrongParameters, "wrong P1 P2"),
    0x6700: (WrongLength, "wrong length"),
    0x6D00: (InsNotSupported, "instruction not supported"),
    0x6E00: (ClaNotSupported, "class not supported"),
}


def error_for(sw: int, command: str) -> StatusWordError:
    """The typed error of a refusing status word."""
    if sw & 0xFFF0 == 0x63C0:
        return PinWrong(sw, command)
    leaf = _LEAVES.get(sw)
    if leaf is None:
        return StatusWordError(sw, command)
    cls, text = leaf
    return cls(sw, command, text)


def check_sw(sw: int, command: str) -> None:
    """Raise the typed error of `sw` unless it is 90 00."""
    if sw != SW_OK:
        raise error_for(sw, command)
