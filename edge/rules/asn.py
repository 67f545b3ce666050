"""What a card number (ASN) says by itself: the card kind and the issuing province.

Layer: edge (pure rules core). The ASN is 10 bytes of packed BCD, handled here as its 20 decimal digits::

    digit  1 2 | 3 4 | 5 6  | 7 8  | 9 10 | ... | 19 20
    byte     0 |   1 |   2  |   3  |   4  | ... |   9
                       kind   ..P    P..
                              (low    (high
                              nibble) nibble)

- kind = byte 2 (digits 5-6): 0x01 user; 0x04 employee; 0x05 / 0x06 other internal cards.
- province = ((ASN[3] & 0x0F) << 4) | (ASN[4] >> 4), i.e. digits 8 and 9 read as one BCD byte, returned
  as an int in the same form the station info carries it (0x11 Beijing, 0x32 Jiangsu, 0x44 Guangdong).

CNG systems often use shorter card numbers (8 digits): they are accepted (`MIN_ASN_DIGITS`..
`MAX_ASN_DIGITS`), but kind and province cannot be read from them, so the caller must supply both.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

from edge.rules.errors import BadCardNumber

__all__ = [
    "FULL_ASN_DIGITS",
    "MAX_ASN_DIGITS",
    "MIN_ASN_DIGITS",
    "CardKind",
    "card_kind_from_asn",
    "check_asn",
    "province_from_asn",
]

FULL_ASN_DIGITS: Final = 20
MIN_ASN_DIGITS: Final = 4
MAX_ASN_DIGITS: Final = 20


class CardKind(IntEnum):
    """Card type, ASN byte 2. Which internal code is maintenance and which pump verification varies by
    issuer, so 0x05 and 0x06 keep neutral names."""

    USER = 0x01
    EMPLOYEE = 0x04
    INTERNAL_05 = 0x05
    INTERNAL_06 = 0x06

    @property
    def internal(self) -> bool:
        """Internal cards are checked against the white list, user cards against the blacklist."""
        return self is not CardKind.USER


_KINDS: Final = {f"{kind.value:02d}": kind for kind in CardKind}


def check_asn(asn: str) -> str:
    """Return `asn` unchanged if it is a card number of an accepted width, else raise `BadCardNumber`."""
    if not isinstance(asn, str) or not (MIN_ASN_DIGITS <= len(asn) <= MAX_ASN_DIGITS) or not asn.isdigit():
        raise BadCardNumber(asn)
    return asn


def card_kind_from_asn(asn: str) -> CardKind | None:
    """The card kind from a 20-digit ASN; None for a short number or an unknown kind code."""
    if len(asn) != FULL_ASN_DIGITS:
        return None
    return _KINDS.get(asn[4:6])


def province_from_asn(asn: str) -> int | None:
    """The issuing province from a 20-digit ASN (e.g. 0x11); None for a short number."""
    if len(asn) != FULL_ASN_DIGITS:
        return None
    return (int(asn[7]) << 4) | int(asn[8])
