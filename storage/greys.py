"""Grey records of other stations (distributed by the centre) that this station may unlock.

Layer: storage. The set is replaced as a whole by each import (`replace_all`): the centre always sends
the complete set (docs/rules.md, "Grey records from the centre"). `find` matches a 0x35 query exactly as
the journal does for this station's own records: ASN, BAL, CTC, DS and TIME.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from storage.clock import Clock, iso_instant, iso_local, utc_now
from storage.db import Database

__all__ = ["RemoteGrey", "RemoteGreyStore"]

_COLUMNS: Final = (
    "asn, bal, ctc, ds, time, amn, gmac, psam_tid, psam_ttc, station_id, province, line, dispenser, "
    "locked_at, raw"
)


@dataclass(frozen=True, slots=True)
class RemoteGrey:
    """One grey record of another station, with where and when the card was locked."""

    asn: str
    bal: int
    ctc: int
    ds: int
    time: dt.datetime
    amn: int
    gmac: int
    psam_tid: bytes
    psam_ttc: int
    station_id: str
    province: int
    dispenser: int
    line: str = ""
    locked_at: dt.datetime | None = None
    """When the card was locked; None = the record's TIME."""
    raw: bytes | None = None

    @property
    def lock_time(self) -> dt.datetime:
        return self.locked_at if self.locked_at is not None else self.time


def _row(row: Any) -> RemoteGrey:
    return RemoteGrey(
        asn=row["asn"],
        bal=int(row["bal"]),
        ctc=int(row["ctc"]),
        ds=int(row["ds"]),
        time=dt.datetime.fromisoformat(row["time"]),
        amn=int(row["amn"]),
        gmac=int(row["gmac"]),
        psam_tid=bytes(row["psam_tid"]),
        psam_ttc=int(row["psam_ttc"]),
        station_id=row["station_id"],
        province=int(row["province"]),
        line=row["line"],
        dispenser=int(row["dispenser"]),
        locked_at=dt.datetime.fromisoformat(row["locked_at"]),
        raw=None if row["raw"] is None else bytes(row["raw"]),
    )


class RemoteGreyStore:
    """`remote_greys` on the daemon's `Database`."""

    def __init__(self, db: Database, *, clock: Clock = utc_now) -> None:
        self._db = db
        self._clock = clock

    async def replace_all(self, records: Sequence[RemoteGrey]) -> int:
        """Replace the whole set in one transaction; returns how many records are held now."""
        stamp = iso_instant(self._clock())
        async with self._db.transaction() as tx:
            await tx.execute("DELETE FROM remote_greys")
            for g in records:
                await tx.execute(
                    f"INSERT INTO remote_greys ({_COLUMNS}, imported_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        g.asn,
                        g.bal,
                        g.ctc,
                        g.ds,
                        iso_local(g.time),
                        g.amn,
                        g.gmac,
                        g.psam_tid,
                        g.psam_ttc,
                        g.station_id,
                        g.province,
                        g.line,
                        g.dispenser,
                        iso_local(g.lock_time),
                        g.raw,
                        stamp,
                    ),
                )
        return len(records)

    async def find(self, asn: str, bal: int, ctc: int, ds: int, time: dt.datetime) -> RemoteGrey | None:
        row = await self._db.fetchone(
            f"SELECT {_COLUMNS} FROM remote_greys WHERE asn = ? AND ctc = ? AND bal = ? AND ds = ? "
            "AND time = ? ORDER BY id LIMIT 1",
            (asn, ctc, bal, ds, iso_local(time)),
        )
        return None if row is None else _row(row)

    async def count(self) -> int:
        row = await self._db.fetchone("SELECT count(*) FROM remote_greys")
        return 0 if row is None else int(row[0])
