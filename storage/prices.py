"""Price tables (several price levels per nozzle, with the time they take effect) and their receipts.

Layer: storage. A price table file (TOML or JSON, docs/rules.md "Price table files") is read with
`read_price_file`, which reports every problem with the file, line and key; `PriceStore` keeps the
accepted tables (`price_tables`) and the dispensers' T_TYPE 8 receipts (`price_receipts`).

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
import re
import tomllib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from protocol.downloads import PriceRecord
from storage.clock import Clock, iso_instant, iso_local, parse_instant, utc_now
from storage.db import Database
from storage.errors import StorageError

__all__ = [
    "CONFIG_PRICE_VERSION",
    "MAX_PRICE_LEVELS",
    "NozzlePrices",
    "PriceFileError",
    "PriceSchedule",
    "PriceStore",
    "PriceVersionError",
    "ProductPrices",
    "Receipt",
    "check_forward",
    "read_price_file",
    "resolve_tables",
]

MAX_PRICE_LEVELS: Final = 3
MAX_VERSION: Final = 0xFFFF
CONFIG_PRICE_VERSION: Final = 1
"""The version of the prices from the configuration ([[products]] prices), in force until a table is
imported."""


class PriceFileError(StorageError):
    """A price table file cannot be accepted; `problems` lists every one (`file: line N: key: what`)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid price table:\n  " + "\n  ".join(problems))
        self.problems = problems


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


# --- the file --------------------------------------------------------------------------------------

_TIME_RE: Final = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2})?$")


class _Problems:
    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.lines = text.splitlines()
        self.items: list[str] = []

    def line_of(self, key: str, table: str | None = None, index: int = 0) -> int | None:
        """Best-effort line (1-based) of `key` (in the index-th `[[table]]` when given)."""
        start, end = 0, len(self.lines)
        if table is not None:
            headers = [i for i, ln in enumerate(self.lines) if ln.strip().startswith(f"[[{table}]]")]
            if index >= len(headers):
                return None
            start = headers[index]
            end = next((i for i in range(start + 1, end) if self.lines[i].lstrip().startswith("[")), end)
            if not key:
                return start + 1
        pattern = re.compile(rf'(^|[\s{{,])"?{re.escape(key)}"?\s*[=:]')
        return next((i + 1 for i in range(start, end) if pattern.search(self.lines[i])), None)

    def add(self, key: str, what: str, line: int | None = None) -> None:
        where = f"line {line}: " if line is not None else ""
        self.items.append(f"{self.path.name}: {where}{key}: {what}")


def _int_list(value: Any) -> tuple[int, ...] | None:
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_PRICE_LEVELS:
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= 0xFFFF for v in value):
        return None
    return tuple(value)


def _effective(value: Any) -> dt.datetime | str:
    """A naive datetime, or the problem."""
    if isinstance(value, dt.datetime):
        moment = value
    elif isinstance(value, str):
        match = _TIME_RE.match(value.strip())
        if match is None:
            return f"{value!r} is not a station-local time YYYY-MM-DDThh:mm"
        try:
            moment = dt.datetime.fromisoformat(f"{match.group(1)}T{match.group(2)}{match.group(3) or ''}")
        except ValueError:
            return f"{value!r} is not a real date and time"
    else:
        return f"must be a local date-time YYYY-MM-DDThh:mm, got {type(value).__name__}"
    if moment.tzinfo is not None:
        return "must be station local time, without a UTC offset"
    if moment.second or moment.microsecond:
        return "must be whole minutes (the dispensers' EFFECTIVE is YYYYMMDDhhmm)"
    return moment


def read_price_file(
    path: str | Path, *, g_codes: Iterable[str] | None = None, nozzles: Iterable[int] | None = None
) -> PriceSchedule:
    """Read and check a price table file (TOML, or JSON when it starts with `{`).

    `g_codes` / `nozzles`: the station's products and nozzles, when known, to refuse unknown ones.
    Raises `PriceFileError` listing every problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise PriceFileError([f"{p.name}: cannot read the file: {exc}"]) from exc
    problems = _Problems(p, text)
    try:
        doc = json.loads(text) if text.lstrip().startswith("{") else tomllib.loads(text)
    except json.JSONDecodeError as exc:
        raise PriceFileError([f"{p.name}: line {exc.lineno}: not valid JSON: {exc.msg}"]) from exc
    except tomllib.TOMLDecodeError as exc:
        raise PriceFileError([f"{p.name}: not valid TOML: {exc}"]) from exc
    except RecursionError as exc:
        raise PriceFileError([f"{p.name}: nested too deeply"]) from exc
    if not isinstance(doc, dict):
        raise PriceFileError([f"{p.name}: must be a table (object) with version, effective, products"])
    for key in doc:
        if key not in ("version", "effective", "products", "nozzles"):
            problems.add(key, "unknown key", problems.line_of(key))
    version = doc.get("version")
    if "version" not in doc:
        problems.add("version", "missing")
    elif not isinstance(version, int) or isinstance(version, bool) or not 1 <= version <= MAX_VERSION:
        problems.add(
            "version", f"must be an integer 1..{MAX_VERSION}, got {version!r}", problems.line_of("version")
        )
    elif version & 0xFF == 0:
        problems.add(
            "version",
            f"{version}: dispensers see only the low byte, and 0 is ignored (use {version + 1})",
            problems.line_of("version"),
        )
    effective: dt.datetime | str = "missing"
    if "effective" in doc:
        effective = _effective(doc["effective"])
    if isinstance(effective, str):
        problems.add("effective", effective, problems.line_of("effective"))
    known_codes = None if g_codes is None else set(g_codes)
    known_nozzles = None if nozzles is None else set(nozzles)
    products = _products(problems, doc.get("products", []), known_codes)
    nozzle_prices = _nozzles(problems, doc.get("nozzles", []), known_nozzles)
    if not products and not nozzle_prices and not problems.items:
        problems.add("products", "a price table needs at least one [[products]] or [[nozzles]] entry")
    if problems.items:
        raise PriceFileError(problems.items)
    assert isinstance(version, int) and isinstance(effective, dt.datetime)
    return PriceSchedule(version, effective, products, nozzle_prices, source=str(p))


def _products(problems: _Problems, raw: Any, known: set[str] | None) -> tuple[ProductPrices, ...]:
    if not isinstance(raw, list):
        problems.add("products", "must be an array of tables ([[products]])", problems.line_of("products"))
        return ()
    out: list[ProductPrices] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        key = f"products[{i}]"
        line = problems.line_of("", "products", i)
        if not isinstance(item, dict):
            problems.add(key, "must be a table", line)
            continue
        for name in item:
            if name not in ("g_code", "prices", "density"):
                problems.add(f"{key}.{name}", "unknown key", problems.line_of(name, "products", i) or line)
        g_code = item.get("g_code")
        if not isinstance(g_code, str) or len(g_code) != 4 or not g_code.isdigit():
            problems.add(
                f"{key}.g_code",
                f"must be 4 digits, got {g_code!r}",
                problems.line_of("g_code", "products", i) or line,
            )
            continue
        if g_code in seen:
            problems.add(
                f"{key}.g_code", f"product {g_code} is already priced in products[{seen[g_code]}]", line
            )
            continue
        seen[g_code] = i
        if known is not None and g_code not in known:
            problems.add(f"{key}.g_code", f"product {g_code} is not in the station's [[products]]", line)
        prices = _int_list(item.get("prices"))
        if prices is None:
            problems.add(
                f"{key}.prices",
                f"must be 1 to {MAX_PRICE_LEVELS} prices in fen, each 1..65535, got {item.get('prices')!r}",
                problems.line_of("prices", "products", i) or line,
            )
            continue
        density = item.get("density", 0)
        if not isinstance(density, int) or isinstance(density, bool) or not 0 <= density <= 0xFFFFFFFF:
            problems.add(f"{key}.density", f"must be an integer 0..4294967295, got {density!r}", line)
            continue
        out.append(ProductPrices(g_code, prices, density))
    return tuple(out)


def _nozzles(problems: _Problems, raw: Any, known: set[int] | None) -> tuple[NozzlePrices, ...]:
    if not isinstance(raw, list):
        problems.add("nozzles", "must be an array of tables ([[nozzles]])", problems.line_of("nozzles"))
        return ()
    out: list[NozzlePrices] = []
    seen: dict[int, int] = {}
    for i, item in enumerate(raw):
        key = f"nozzles[{i}]"
        line = problems.line_of("", "nozzles", i)
        if not isinstance(item, dict):
            problems.add(key, "must be a table", line)
            continue
        for name in item:
            if name not in ("nzn", "prices", "density"):
                problems.add(f"{key}.{name}", "unknown key", line)
        nzn = item.get("nzn")
        if not isinstance(nzn, int) or isinstance(nzn, bool) or not 1 <= nzn <= 255:
            problems.add(f"{key}.nzn", f"must be a nozzle number 1..255, got {nzn!r}", line)
            continue
        if nzn in seen:
            problems.add(f"{key}.nzn", f"nozzle {nzn} is already priced in nozzles[{seen[nzn]}]", line)
            continue
        seen[nzn] = i
        if known is not None and nzn not in known:
            problems.add(f"{key}.nzn", f"nozzle {nzn} is not in the station's configuration", line)
        prices = _int_list(item.get("prices"))
        if prices is None:
            problems.add(
                f"{key}.prices", f"must be 1 to {MAX_PRICE_LEVELS} prices in fen, each 1..65535", line
            )
            continue
        density = item.get("density")
        if density is not None and (
            not isinstance(density, int) or isinstance(density, bool) or not 0 <= density <= 0xFFFFFFFF
        ):
            problems.add(f"{key}.density", "must be an integer 0..4294967295", line)
            continue
        out.append(NozzlePrices(nzn, prices, density))
    return tuple(out)


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
