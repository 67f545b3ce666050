"""Finding the grey record (T_TYPE low nibble 1) of a 0x35 query: this station's, or one the centre sent.

Layer: edge (adapter over the journal and `storage.greys`). The match rule of the spec: ASN, BAL, CTC, DS
and TIME of the stored grey record equal the query's; the answer carries that record's AMN, GMAC,
PSAM_TID and PSAM_TTC. This station's own journal is asked first, then the grey records of other
stations the centre distributed (`remote_greys`). Either way the result says where and when the card
was locked, as an `edge.rules.GreyLock` for `may_unlock`:

    own record      station = this station's S_ID, dispenser = the record's (line, POS-P), province =
                    this station's, locked at = the record's TIME
    centre's record station, province, dispenser (line) and lock time as distributed

Within a station a dispenser is identified as `line/POS-P` (`Place.terminal_id`): POS-P addresses are
only unique per line.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from edge.rules import GreyLock, Place
from protocol.messages import GreyQuery
from protocol.record import RECORD_STRUCT
from storage.greys import RemoteGrey

__all__ = ["FoundGrey", "GreyFinder", "StationPlace", "dispenser_key"]


def dispenser_key(line: str, dispenser: int) -> str:
    """How a dispenser is told apart within a station (`Place.terminal_id`)."""
    return f"{line}/{dispenser}"


@dataclass(frozen=True, slots=True)
class StationPlace:
    """This station: its S_ID, the other ids it may be known by, and its province (0x11 form)."""

    station_id: str
    province: int
    aliases: frozenset[str] = frozenset()

    def here(self, line: str, dispenser: int) -> Place:
        return Place(self.station_id, dispenser, self.province, dispenser_key(line, dispenser))

    def is_me(self, station: str) -> bool:
        return station == self.station_id or station in self.aliases


@dataclass(frozen=True, slots=True)
class FoundGrey:
    """A grey record that matches a 0x35 query, and where it was locked."""

    lock: GreyLock
    amn: int
    gmac: int
    psam_tid: bytes
    psam_ttc: int
    source: str
    """`journal` (this station's record) or `centre`."""
    line: str = ""
    dispenser: int = 0


class GreyRow(Protocol):
    """What the journal returns (`storage.journal.StoredRecord`)."""

    @property
    def raw(self) -> bytes: ...
    @property
    def line(self) -> str: ...
    @property
    def dispenser(self) -> int: ...


class OwnGreys(Protocol):
    async def find_grey(self, asn: str, bal: int, ctc: int, ds: int, time: dt.datetime) -> GreyRow | None: ...


class RemoteGreys(Protocol):
    async def find(self, asn: str, bal: int, ctc: int, ds: int, time: dt.datetime) -> RemoteGrey | None: ...


class GreyFinder:
    """The journal first, then the centre's grey records."""

    def __init__(self, journal: OwnGreys, remote: RemoteGreys | None, station: StationPlace) -> None:
        self.journal = journal
        self.remote = remote
        self.station = station

    async def find(self, query: GreyQuery) -> FoundGrey | None:
        own = await self.journal.find_grey(query.asn, query.bal, query.ctc, query.ds, query.time)
        if own is not None:
            line, dispenser = own.line, own.dispenser
            rec = RECORD_STRUCT.parse(own.raw)
            locked_at = rec.time if isinstance(rec.time, dt.datetime) else query.time
            where = Place(
                self.station.station_id, dispenser, self.station.province, dispenser_key(line, dispenser)
            )
            return FoundGrey(
                GreyLock(query.asn, locked_at, where, int(rec.amn)),
                int(rec.amn),
                int(rec.gmac),
                bytes(rec.psam_tid),
                int(rec.psam_ttc),
                "journal",
                line,
                dispenser,
            )
        if self.remote is None:
            return None
        grey = await self.remote.find(query.asn, query.bal, query.ctc, query.ds, query.time)
        if grey is None:
            return None
        mine = self.station.is_me(grey.station_id)
        station_id = self.station.station_id if mine else grey.station_id
        terminal = dispenser_key(grey.line, grey.dispenser) if mine and grey.line else None
        where = Place(station_id, grey.dispenser, grey.province, terminal)
        return FoundGrey(
            GreyLock(query.asn, grey.lock_time, where, grey.amn),
            grey.amn,
            grey.gmac,
            grey.psam_tid,
            grey.psam_ttc,
            "centre",
            grey.line,
            grey.dispenser,
        )
