"""Price tables (several price levels per nozzle, with the time they take effect) and their receipts.

Layer: storage. A price table file (TOML or JSON, docs/rules.md "Price table files") is read with
`storage.pricefile.read_price_file`, which reports every problem with the file, line and key;
`PriceStore` keeps the accepted tables (`price_tables`) and the dispensers' T_TYPE 8 receipts
(`price_receipts`).

    version = 7                         1..65535; dispensers see the low byte, which may not be 0
    effective = 2026-03-01T06:00        station local time, whole minutes (TOML date-time or text)

    [[products]]                        prices of every nozzle of this product
    g_code = "0092"
    prices = [750, 740, 730]            fen per unit for price levels 0, 1, 2 (1 to 3 values)
    density = 7250                      optional, raw 32-bit DENSITY of the download (default 0)

    [[nozzles]]                         optional: one nozzle's own prices (wins over its product's)
    nzn = 3
    prices = [760, 750, 740]

A new table must have a version above every stored one (and a different low byte from the one in force)
and an effective time not before the latest stored table's: schedules only move forward. Nozzles and
products a table does not mention keep the prices they had (`resolve_tables`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from protocol.downloads import PriceRecord
from storage.clock import Clock, iso_instant, iso_local, parse_instant, utc_now
from storage.db import Database
from storage.errors import StorageError

__all__ = [
    "CONFIG_PRICE_VERSION",
    "MAX_PRICE_LEVELS",
    "NozzlePrices",
    "PriceSchedule",
    "PriceStore",
    "PriceVersionError",
    "ProductPrices",
    "Receipt",
    "check_forward",
    "resolve_tables",
]

MAX_PRICE_LEVELS: Final = 3
MAX_VERSION: Final = 0xFFFF
CONFIG_PRICE_VERSION: Final = 1
"""The version of the prices from the configuration ([[products]] prices), in force until a table is
imported."""


class PriceVersionError(StorageError):
    """The table's version or effective time does not move the schedule forward."""


@dataclass(frozen=True, slots=True)
class ProductPrices:
    g_code: str
    prices: tuple[int, ...]
    density: int = 0


@dataclass(frozen=True, slots=True)
class NozzlePrices:
    nzn: int
    prices: tuple[int, ...]
    density: int | None = None


@dataclass(frozen=True, slots=True)
class PriceSchedule:
    """One imported price table: the prices taking effect at `effective` (naive station local)."""

    version: int
    effective: dt.datetime
    products: tuple[ProductPrices, ...] = ()
    nozzles: tuple[NozzlePrices, ...] = ()
    source: str = ""
    imported_at: dt.datetime | None = None
    activated_at: dt.datetime | None = None

    @property
    def wire_version(self) -> int:
        """PRC_VER in the 0x30 reply and VER of the download: the low byte."""
        return self.version & 0xFF

    def body(self) -> dict[str, Any]:
        return {
            "products": [
                {"g_code": p.g_code, "prices": list(p.prices), "density": p.density} for p in self.products
            ],
            "nozzles": [
                {
                    "nzn": n.nzn,
                    "prices": list(n.prices),
                    **({} if n.density is None else {"density": n.density}),
                }
                for n in self.nozzles
            ],
        }

    @classmethod
    def from_body(cls, version: int, effective: dt.datetime, body: Mapping[str, Any]) -> PriceSchedule:
        return cls(
            version,
            effective,
            tuple(
                ProductPrices(p["g_code"], tuple(p["prices"]), int(p.get("density", 0)))
                for p in body["products"]
            ),
            tuple(NozzlePrices(n["nzn"], tuple(n["prices"]), n.get("density")) for n in body["nozzles"]),
        )


@dataclass(frozen=True, slots=True)
class Receipt:
    line: str
    dispenser: int
    version: int
    pos_ttc: int
    received_at: dt.datetime


# --- resolution ------------------------------------------------------------------------------------


def resolve_tables(
    schedules: Sequence[PriceSchedule],
    nozzles: Sequence[tuple[int, str]],
    base: Mapping[int, PriceRecord],
) -> list[tuple[PriceRecord, ...]]:
    """The per-nozzle records of each schedule (in the order given, oldest first).

    `nozzles`: the station's (NZN, G_CODE), `base`: the records before any schedule (the configuration's
    prices). A nozzle takes its own entry, else its product's, else what it had before."""
    current = dict(base)
    out: list[tuple[PriceRecord, ...]] = []
    for schedule in schedules:
        by_code = {p.g_code: p for p in schedule.products}
        by_nzn = {n.nzn: n for n in schedule.nozzles}
        for nzn, g_code in nozzles:
            previous = current.get(nzn)
            product = by_code.get(g_code)
            own = by_nzn.get(nzn)
            if own is not None:
                density = own.density
                if density is None:
                    density = (
                        product.density if product is not None else (previous.density if previous else 0)
                    )
                current[nzn] = PriceRecord(nzn, g_code, density, own.prices)
            elif product is not None:
                current[nzn] = PriceRecord(nzn, g_code, product.density, product.prices)
        out.append(tuple(current[nzn] for nzn, _ in sorted(nozzles) if nzn in current))
    return out


# --- the store -------------------------------------------------------------------------------------


def _schedule(row: Any) -> PriceSchedule:
    base = PriceSchedule.from_body(
        int(row["version"]), dt.datetime.fromisoformat(row["effective"]), json.loads(row["body"])
    )
    return PriceSchedule(
        base.version,
        base.effective,
        base.products,
        base.nozzles,
        source=row["source"],
        imported_at=parse_instant(row["imported_at"]),
        activated_at=None if row["activated_at"] is None else parse_instant(row["activated_at"]),
    )


class PriceStore:
    """`price_tables` and `price_receipts` on the daemon's `Database`."""

    def __init__(self, db: Database, *, clock: Clock = utc_now) -> None:
        self._db = db
        self._clock = clock

    async def tables(self) -> list[PriceSchedule]:
        """Every stored table, by version."""
        rows = await self._db.fetchall("SELECT * FROM price_tables ORDER BY version")
        return [_schedule(r) for r in rows]

    async def add(self, schedule: PriceSchedule) -> PriceSchedule:
        """Store a new table; `PriceVersionError` unless it moves the schedule forward."""
        async with self._db.transaction() as tx:
            latest = await tx.fetchone(
                "SELECT version, effective FROM price_tables ORDER BY version DESC LIMIT 1"
            )
            check_forward(
                schedule,
                None if latest is None else int(latest["version"]),
                None if latest is None else dt.datetime.fromisoformat(latest["effective"]),
            )
            now = self._clock()
            await tx.execute(
                "INSERT INTO price_tables (version, effective, body, source, imported_at) VALUES (?, ?, ?, ?, ?)",
                (
                    schedule.version,
                    iso_local(schedule.effective),
                    json.dumps(schedule.body(), sort_keys=True),
                    schedule.source,
                    iso_instant(now),
                ),
            )
        return PriceSchedule(
            schedule.version,
            schedule.effective,
            schedule.products,
            schedule.nozzles,
            schedule.source,
            imported_at=now,
        )

    async def mark_activated(self, version: int, at: dt.datetime) -> None:
        async with self._db.transaction() as tx:
            await tx.execute(
                "UPDATE price_tables SET activated_at = ? WHERE version = ? AND activated_at IS NULL",
                (iso_instant(at), version),
            )

    async def add_receipt(
        self, line: str, dispenser: int, version: int, pos_ttc: int, record_time: dt.datetime | None
    ) -> bool:
        """Store a T_TYPE 8 receipt; False if this dispenser had already confirmed this version."""
        async with self._db.transaction() as tx:
            rows = await tx.execute(
                "INSERT OR IGNORE INTO price_receipts (line, dispenser, version, pos_ttc, record_time, received_at) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING version",
                (
                    line,
                    dispenser,
                    version,
                    pos_ttc,
                    None if record_time is None else iso_local(record_time),
                    iso_instant(self._clock()),
                ),
            )
        return bool(rows)

    async def receipts(self, version: int | None = None) -> list[Receipt]:
        if version is None:
            rows = await self._db.fetchall("SELECT * FROM price_receipts ORDER BY received_at")
        else:
            rows = await self._db.fetchall(
                "SELECT * FROM price_receipts WHERE version = ? ORDER BY received_at", (version,)
            )
        return [
            Receipt(
                r["line"],
                int(r["dispenser"]),
                int(r["version"]),
                int(r["pos_ttc"]),
                parse_instant(r["received_at"]),
            )
            for r in rows
        ]


def check_forward(
    schedule: PriceSchedule, latest_version: int | None, latest_effective: dt.datetime | None
) -> None:
    """Raise `PriceVersionError` unless `schedule` comes after the latest stored table (or, with none
    stored, after the configuration's prices, version `CONFIG_PRICE_VERSION`)."""
    if latest_version is None:
        latest_version = CONFIG_PRICE_VERSION
    if schedule.version <= latest_version:
        raise PriceVersionError(
            f"price table version {schedule.version} is not above the latest stored version {latest_version}"
        )
    if schedule.wire_version == latest_version & 0xFF:
        raise PriceVersionError(
            f"price table version {schedule.version} has the same low byte as version {latest_version}: "
            "dispensers would not notice the change"
        )
    if latest_effective is not None and schedule.effective < latest_effective:
        raise PriceVersionError(
            f"effective {schedule.effective:%Y-%m-%d %H:%M} is before that of version {latest_version} "
            f"({latest_effective:%Y-%m-%d %H:%M}): schedules only move forward"
        )
