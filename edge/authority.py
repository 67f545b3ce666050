"""Card questions on the wire (0x36 list query, 0x35 grey query) answered from local data.

Layer: edge (adapter between the session and the stores). The 0x36 answer follows the spec: a user
card (ASN byte 2 = 01) is looked up in the effective blacklist (matched ⇒ M_FLAG b0 = 0 ⇒ refuse);
internal cards (04, 05, 06) in the white list (matched ⇒ b0 = 0 ⇒ allow). The 0x35 answer returns a
grey record (T_TYPE low nibble 1) of this station whose ASN, BAL, CTC, DS and TIME equal the query.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from edge.session import Where
from protocol.messages import GREY_FOUND, GREY_NOT_FOUND, GreyQuery, GreyReply, ListQuery, ListReply
from storage.lists import ListStore

log = logging.getLogger(__name__)

USER_CARD = "01"
INTERNAL_CARDS = ("04", "05", "06")
M_FLAG_MATCHED = 0
M_FLAG_NOT_MATCHED = 1


class GreyFinder(Protocol):
    async def find_grey(self, query: GreyQuery) -> Any: ...


def card_type(asn: str) -> str:
    """ASN byte 2 as two digits ("01" user, "04" employee …)."""
    return asn[4:6]


class ListAuthority:
    """Answers 0x36 from the list store and 0x35 from stored grey records."""

    def __init__(self, lists: ListStore, greys: GreyFinder) -> None:
        self.lists = lists
        self.greys = greys

    async def list_query(self, where: Where, query: ListQuery) -> ListReply:
        current = self.lists.current
        if card_type(query.asn) in INTERNAL_CARDS:
            matched = current.is_whitelisted(query.asn)
        else:
            matched = current.is_blacklisted(query.asn)
        log.info(
            "0x36 %s at %s/%d: %s",
            query.asn,
            where.line,
            where.dispenser,
            "matched" if matched else "not matched",
        )
        return ListReply(m_flag=M_FLAG_MATCHED if matched else M_FLAG_NOT_MATCHED, asn=query.asn)

    async def grey_query(self, where: Where, query: GreyQuery) -> GreyReply:
        row = await self.greys.find_grey(query)
        if row is None:
            return GreyReply(GREY_NOT_FOUND, query.asn, query.bal, 0, query.ctc, query.ds, query.time)
        return GreyReply(
            GREY_FOUND,
            query.asn,
            query.bal,
            int(row["amn"]),
            query.ctc,
            query.ds,
            query.time,
            gmac=int(row["gmac"]),
            psam_tid=bytes(row["psam_tid"]),
            psam_ttc=int(row["psam_ttc"]),
        )
