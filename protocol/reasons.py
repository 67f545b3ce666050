"""Refusal reason codes and the M_FLAG byte of the 0x36 (list query) answer.

Layer: protocol (pure). The codes are the project's own (spec Part B6): the station's rules answer every
card query through one byte, and the attendant sees the same code and words on the terminal UI; the
centre receives the code with the event.

The 0x36 answer's M_FLAG byte::

      7   6   5   4   3   2   1   0
    +---+---+---+---+---+---+---+---+
    |   reason code (1..127, 0 = none)  | b0 |
    +---+---+---+---+---+---+---+---+

b0 keeps its public meaning, "0 = matched in the list", and the list depends on the card kind (ASN byte 2):

- user cards (0x01) are checked against the blacklist, "matched" means refuse. Project choice: every
  refusal of a user card, whatever the rule, is sent as b0 = 0 (as if blacklisted) with the reason in
  bits 7..1; b0 = 1 means allow. Real dispensers read only b0, so they refuse whatever the reason.
- internal cards (0x04 employee, 0x05, 0x06) are checked against the white list, "matched" means allow:
  b0 = 0 allows and b0 = 1 refuses, again with the reason in bits 7..1.

An allowed card always carries reason 0; a refused card never does. `encode_m_flag` enforces this and
`decode_m_flag` reverses it. Codes a newer peer may send that this build does not know come back as
plain ints.

Codes are grouped so a field engineer can place them at a glance: 1..19 the card itself, 20..29 grey
lock, 30..39 CNG vehicle, 40..59 limits, 60..69 station set-up. Values are part of the wire contract:
never renumber, only add.
"""

from __future__ import annotations

from enum import IntEnum
from types import MappingProxyType
from typing import Final

from protocol.i18n import N_

__all__ = ["REASON_TEXT", "RefusalReason", "decode_m_flag", "encode_m_flag"]


class RefusalReason(IntEnum):
    """Why a card was refused. 0 means "not refused"."""

    NONE = 0

    # -- the card itself (1..19)
    CARD_EXPIRED = 1
    CARD_NOT_YET_VALID = 2
    CARD_TYPE_UNKNOWN = 3
    BLACKLISTED = 4
    CARD_LOST = 5
    CARD_CANCELLED = 6
    CARD_REPLACED = 7
    CARD_DAMAGED = 8
    NOT_WHITELISTED = 9
    STAFF_CARD_OTHER_STATION = 10
    PIN_LOCKED = 11
    PROVINCE_NOT_ACCEPTED = 12
    CARD_DATA_MISSING = 13

    # -- grey lock (20..29)
    GREY_OTHER_PUMP_AFTER_LOCK_DAY = 20
    GREY_WAIT_DELAY = 21
    GREY_OTHER_PROVINCE = 22
    GREY_RECORD_NOT_FOUND = 23

    # -- CNG vehicle (30..39)
    CARD_CLASS_NOT_ACCEPTED = 30
    CYLINDER_EXPIRED = 31
    CYLINDER_NOT_REGISTERED = 32

    # -- limits (40..59)
    PER_SALE_CAP = 40
    FILLS_PER_DAY_REACHED = 41
    AMOUNT_PER_DAY_REACHED = 42
    VOLUME_PER_DAY_REACHED = 43
    RESTRICTED_PRODUCT = 44
    RESTRICTED_PLATE = 45
    FIXED_STATION_ELSEWHERE = 46
    CREDIT_LINE_EXHAUSTED = 47
    BALANCE_TOO_LOW = 48

    # -- station set-up (60..69)
    NO_PRICE_FOR_CARD = 60
    CONTROLLER_UNREACHABLE = 61

    @property
    def words(self) -> str:
        """What the attendant reads: what is wrong and what to do (English, the catalogs' message id;
        translated where it is shown: `protocol.i18n`)."""
        return REASON_TEXT[self]


REASON_TEXT: Final = MappingProxyType(
    {
        RefusalReason.NONE: N_("Card accepted."),
        RefusalReason.CARD_EXPIRED: N_(
            "Card has expired. The holder must renew it at a card service outlet."
        ),
        RefusalReason.CARD_NOT_YET_VALID: N_("Card is not valid yet. Ask for another way to pay."),
        RefusalReason.CARD_TYPE_UNKNOWN: N_("Card type not recognised here. Ask for another card."),
        RefusalReason.BLACKLISTED: N_(
            "Card is blocked (blacklist). Do not fuel; the holder must contact a card service outlet."
        ),
        RefusalReason.CARD_LOST: N_("Card was reported lost. Do not fuel; call the station manager."),
        RefusalReason.CARD_CANCELLED: N_("Card has been cancelled. Ask for another way to pay."),
        RefusalReason.CARD_REPLACED: N_("Card was replaced by a new card. Ask for the new card."),
        RefusalReason.CARD_DAMAGED: N_(
            "Card is recorded as damaged. The holder must replace it at a card service outlet."
        ),
        RefusalReason.NOT_WHITELISTED: N_(
            "Staff card is not registered at this station. Call the station manager."
        ),
        RefusalReason.STAFF_CARD_OTHER_STATION: N_(
            "Staff card belongs to another station. It only works at its own station."
        ),
        RefusalReason.PIN_LOCKED: N_(
            "Card PIN is locked after 3 wrong tries. The holder must unlock it at a card service outlet."
        ),
        RefusalReason.PROVINCE_NOT_ACCEPTED: N_(
            "Cards from this province are not accepted here. Ask for another way to pay."
        ),
        RefusalReason.CARD_DATA_MISSING: N_(
            "The card's data did not reach the station controller. Take the card out and insert it again."
        ),
        RefusalReason.GREY_OTHER_PUMP_AFTER_LOCK_DAY: N_(
            "Card is locked by an unfinished sale at another pump "
            "of this station. Unlock it at that pump, or wait for the unlock delay."
        ),
        RefusalReason.GREY_WAIT_DELAY: N_(
            "Card is locked by an unfinished sale at another station. It can be "
            "unlocked here only after the waiting period."
        ),
        RefusalReason.GREY_OTHER_PROVINCE: N_(
            "Card is locked by an unfinished sale in another province. "
            "Unlock it there or at a card service outlet."
        ),
        RefusalReason.GREY_RECORD_NOT_FOUND: N_(
            "Card is locked by an unfinished sale and this station has no "
            "record of it yet. Try again later or send the holder to a card service outlet."
        ),
        RefusalReason.CARD_CLASS_NOT_ACCEPTED: N_("This class of gas card is not accepted at this station."),
        RefusalReason.CYLINDER_EXPIRED: N_(
            "Vehicle gas cylinder inspection has expired. Do not fill; the vehicle needs a new inspection."
        ),
        RefusalReason.CYLINDER_NOT_REGISTERED: N_(
            "No cylinder inspection date for this vehicle. Do not fill; "
            "the cylinder must be registered first."
        ),
        RefusalReason.PER_SALE_CAP: N_("Preset is above this card's limit for one fill. Lower the preset."),
        RefusalReason.FILLS_PER_DAY_REACHED: N_("Card has used all its fills for today."),
        RefusalReason.AMOUNT_PER_DAY_REACHED: N_("Card has reached its spending limit for today."),
        RefusalReason.VOLUME_PER_DAY_REACHED: N_("Card has reached its volume limit for today."),
        RefusalReason.RESTRICTED_PRODUCT: N_(
            "Card may not buy this product. Use a nozzle with an allowed product."
        ),
        RefusalReason.RESTRICTED_PLATE: N_(
            "Card belongs to another vehicle plate. Do not fill this vehicle with it."
        ),
        RefusalReason.FIXED_STATION_ELSEWHERE: N_("Card can only be used at its own station."),
        RefusalReason.CREDIT_LINE_EXHAUSTED: N_(
            "Card's credit limit is used up. The holder must settle with the back office."
        ),
        RefusalReason.BALANCE_TOO_LOW: N_("Card balance is too low. Top up the card or pay another way."),
        RefusalReason.NO_PRICE_FOR_CARD: N_(
            "No price is set at this nozzle for this card. Call the station manager."
        ),
        RefusalReason.CONTROLLER_UNREACHABLE: N_(
            "The station controller does not answer, so this card cannot be checked. "
            "Pay another way and call the station manager."
        ),
    }
)

_MAX_REASON: Final = 0x7F


def encode_m_flag(refuse: bool, reason: RefusalReason, *, internal: bool = False) -> int:
    """Build the 0x36 answer's M_FLAG byte.

    `internal` is True for internal cards (ASN byte 2 = 0x04/0x05/0x06), which flips b0 (white list:
    "matched" = allow). Raises `ValueError` for an allowed card with a reason or a refusal without one.
    """
    if refuse == (reason is RefusalReason.NONE):
        raise ValueError(f"refuse={refuse} does not fit reason {reason!r}")
    matched = not refuse if internal else refuse
    return (int(reason) << 1) | (0 if matched else 1)


def decode_m_flag(m_flag: int, *, internal: bool = False) -> tuple[bool, RefusalReason | int]:
    """Split an M_FLAG byte into (refuse, reason); an unknown reason code comes back as an int."""
    if not 0 <= m_flag <= 0xFF:
        raise ValueError(f"M_FLAG {m_flag!r} is not a byte")
    matched = (m_flag & 1) == 0
    refuse = not matched if internal else matched
    code = (m_flag >> 1) & _MAX_REASON
    try:
        return refuse, RefusalReason(code)
    except ValueError:
        return refuse, code
