"""Finding this station's grey records (T_TYPE low nibble 1) for a 0x35 query.

Layer: edge (adapter over the journal). The match rule of the spec: ASN, BAL, CTC, DS and TIME of the
stored grey record equal the query's; the answer carries that record's AMN, GMAC, PSAM_TID, PSAM_TTC.
"""

from __future__ import annotations

from typing import Any

from protocol.messages import GreyQuery
from protocol.record import RECORD_STRUCT
from storage.journal import Journal


class JournalGreyFinder:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    async def find_grey(self, query: GreyQuery) -> dict[str, Any] | None:
        stored = await self.journal.find_grey(query.asn, query.bal, query.ctc, query.ds, query.time)
        if stored is None:
            return None
        rec = RECORD_STRUCT.parse(stored.raw)
        return {"amn": rec.amn, "gmac": rec.gmac, "psam_tid": rec.psam_tid, "psam_ttc": rec.psam_ttc}
