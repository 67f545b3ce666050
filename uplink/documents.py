"""The payload of each downlink document kind, typed and checked.

Layer: uplink (pure). `parse_payload(kind, obj)` turns the `payload` object of a verified body into
one of the dataclasses below or raises `DownlinkRejected(SCHEMA)`; nothing is applied from a payload
that does not parse completely. JSON shapes (documented in `docs/mqtt.md`):

    lists     {"mode": "full" | "delta",
               "lists": {"base"|"added"|"deleted"|"white": "<base64 of the list download stream>"}}
              full: "base" required (a full replacement of the blacklist; the added/deleted/white lists
              given replace theirs too); delta: "added" / "deleted" / "white" only, never "base".
    prices    {"effective_at": "YYYY-MM-DDThh:mm[:ss]" (station local),
               "products": [{"g_code": "0102", "prices": [fen, …1..3 levels], "density"?: n}],
               "nozzles"?: [{"nzn": 1, "prices": [...], "density"?: n}]}    (per-nozzle overrides)
    calendar  {"weekend": [5, 6], "holidays": ["YYYY-MM-DD", …], "shifted_working_days": [...]}
    config    {"settings": {<table>: {<key>: <value>}}}       (read by the daemon and the rules)
    grey      {"records": [{"station": "S9", "line": "bus1", "dispenser": 3, "pos_ttc": 17,
                            "raw": "<190 hex digits: the grey record's 95 bytes>",
                            "province"?: 17, "locked_at"?: "YYYY-MM-DDThh:mm:ss"}]}
              the complete set of grey records of other stations this station may unlock (replaces
              the previous set)
    resend    {"since": "<ISO 8601 instant>", "line": "bus1"?, "dispenser": 3?}
              re-send every stored record received at or after `since`
    card_status {"cards": [{"asn": "<8-20 digits>", "status": "lost"|"cancelled"|"replaced"|
                            "blacklisted"|"damaged"|"normal", "since": "<instant with offset>",
                            "grace"?: false, "station"?: "S2", "replaced_by"?: "<asn>"}]}
              the complete set of card statuses reported at other stations (or by the back office),
              replaced whole; beside this station's own desk statuses the newer `since` wins
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from protocol.downloads import DownloadError, ListFile, ListKind
from protocol.errors import ProtocolError
from protocol.record import RECORD_LEN, TransactionRecord, TxKind
from uplink.envelope import Body, DocKind
from uplink.errors import DownlinkRejected, Reason
from uplink.messages import decode_raw_record

MAX_PRICE_LEVELS: Final = 3
MAX_CONFIG_DEPTH: Final = 6


@dataclass(frozen=True, slots=True)
class ListsDocument:
    mode: str
    lists: Mapping[ListKind, ListFile]


@dataclass(frozen=True, slots=True)
class ProductPrice:
    g_code: str
    prices: tuple[int, ...]
    density: int = 0


@dataclass(frozen=True, slots=True)
class NozzlePrice:
    """A per-nozzle price (overrides its product's)."""

    nzn: int
    prices: tuple[int, ...]
    density: int | None = None


@dataclass(frozen=True, slots=True)
class PricesDocument:
    effective_at: dt.datetime
    """Naive station-local time from which the prices apply."""
    products: tuple[ProductPrice, ...]
    nozzles: tuple[NozzlePrice, ...] = ()


@dataclass(frozen=True, slots=True)
class CalendarDocument:
    weekend: frozenset[int]
    holidays: frozenset[dt.date]
    shifted_working_days: frozenset[dt.date]


@dataclass(frozen=True, slots=True)
class ConfigDocument:
    settings: dict[str, Any]


@dataclass(frozen=True, slots=True)
class GreyRecord:
    station: str
    line: str
    dispenser: int
    pos_ttc: int
    raw: bytes
    record: TransactionRecord
    province: int | None = None
    """Province code of the station that locked the card (BCD value as an integer, e.g. 0x11)."""
    locked_at: dt.datetime | None = None
    """When the card was locked (naive local); None: the record's TIME."""


@dataclass(frozen=True, slots=True)
class GreyDocument:
    records: tuple[GreyRecord, ...]


@dataclass(frozen=True, slots=True)
class ResendDocument:
    since: dt.datetime
    line: str | None = None
    dispenser: int | None = None


@dataclass(frozen=True, slots=True)
class CylindersDocument:
    """Additions to (and updates of) the LPG cylinder registry, as the registry's CSV (docs/lpg.md)."""

    csv: str


@dataclass(frozen=True, slots=True)
class CardStatusItem:
    asn: str
    status: str
    since: dt.datetime
    """Aware instant."""
    grace: bool = False
    station: str = ""
    replaced_by: str | None = None


@dataclass(frozen=True, slots=True)
class CardStatusDocument:
    """The card statuses the centre holds for this station (the complete set, replaced whole)."""

    cards: tuple[CardStatusItem, ...]


Content = (
    ListsDocument | PricesDocument | CalendarDocument | ConfigDocument | GreyDocument | ResendDocument
    | CylindersDocument | CardStatusDocument
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Document:
    """A complete, signature-verified, parsed downlink document."""

    id: str
    """SHA-256 of the signed body, hex."""
    body: Body
    content: Content
    raw: bytes
    """The exact signed bytes."""
    sig: bytes

    @property
    def kind(self) -> DocKind:
        return self.body.kind

    @property
    def version(self) -> int:
        return self.body.version


def _bad(what: str) -> DownlinkRejected:
    return DownlinkRejected(Reason.SCHEMA, what)


def _keys(obj: Mapping[str, Any], allowed: set[str], required: set[str], where: str) -> None:
    unknown = set(obj) - allowed
    missing = required - set(obj)
    if unknown or missing:
        raise _bad(f"{where}: unknown keys {sorted(unknown)[:5]}, missing {sorted(missing)}")


def _int(value: Any, where: str, lo: int, hi: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise _bad(f"{where} must be an integer {lo}..{hi}")
    return value


def _list(value: Any, where: str, limit: int = 1_000_000) -> list[Any]:
    if not isinstance(value, list) or len(value) > limit:
        raise _bad(f"{where} must be an array of at most {limit} items")
    return value


def _date(value: Any, where: str) -> dt.date:
    if not isinstance(value, str):
        raise _bad(f"{where} must be a YYYY-MM-DD date")
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise _bad(f"{where} {value[:20]!r} is not a YYYY-MM-DD date") from None


def _lists(obj: Mapping[str, Any]) -> ListsDocument:
    _keys(obj, {"mode", "lists"}, {"mode", "lists"}, "lists")
    mode, raw = obj["mode"], obj["lists"]
    if mode not in ("full", "delta"):
        raise _bad("lists.mode must be 'full' or 'delta'")
    if not isinstance(raw, dict) or not raw:
        raise _bad("lists.lists must be a non-empty object")
    parsed: dict[ListKind, ListFile] = {}
    for label, text in raw.items():
        try:
            kind = ListKind.from_label(label) if isinstance(label, str) and not label.isdigit() else None
        except ValueError:
            kind = None
        if kind is None:
            raise _bad(f"lists.lists: unknown list {str(label)[:20]!r}")
        if not isinstance(text, str):
            raise _bad(f"lists.lists.{label} must be base64 text")
        try:
            parsed[kind] = ListFile.parse(base64.b64decode(text, validate=True))
        except (binascii.Error, ValueError) as exc:
            raise _bad(f"lists.lists.{label}: not base64: {exc}") from None
        except DownloadError as exc:
            raise _bad(f"lists.lists.{label}: {exc}") from None
    if mode == "full" and ListKind.BASE not in parsed:
        raise _bad("a full lists document must carry the base list")
    if mode == "delta" and ListKind.BASE in parsed:
        raise _bad("a delta lists document must not carry the base list")
    return ListsDocument(mode, parsed)


def _levels(item: Mapping[str, Any], where: str) -> tuple[int, ...]:
    levels = _list(item["prices"], f"{where}.prices", MAX_PRICE_LEVELS)
    if not levels:
        raise _bad(f"{where}.prices must hold 1..{MAX_PRICE_LEVELS} prices")
    return tuple(_int(v, f"{where}.prices[{j}]", 1, 0xFFFF) for j, v in enumerate(levels))


def _prices(obj: Mapping[str, Any]) -> PricesDocument:
    _keys(obj, {"effective_at", "products", "nozzles"}, {"effective_at", "products"}, "prices")
    text = obj["effective_at"]
    try:
        effective = dt.datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        effective = None
    if effective is None or effective.tzinfo is not None:
        raise _bad("prices.effective_at must be a station-local time YYYY-MM-DDThh:mm[:ss] without offset")
    products: list[ProductPrice] = []
    for i, item in enumerate(_list(obj["products"], "prices.products", 1000)):
        where = f"prices.products[{i}]"
        if not isinstance(item, dict):
            raise _bad(f"{where} must be an object")
        _keys(item, {"g_code", "prices", "density"}, {"g_code", "prices"}, where)
        g_code = item["g_code"]
        if not isinstance(g_code, str) or len(g_code) != 4 or not g_code.isdigit():
            raise _bad(f"{where}.g_code must be 4 digits")
        density = _int(item.get("density", 0), f"{where}.density", 0, 0xFFFFFFFF)
        products.append(ProductPrice(g_code, _levels(item, where), density))
    codes = [p.g_code for p in products]
    if not products or len(set(codes)) != len(codes):
        raise _bad("prices.products must be non-empty with each g_code once")
    nozzles: list[NozzlePrice] = []
    for i, item in enumerate(_list(obj.get("nozzles", []), "prices.nozzles", 255)):
        where = f"prices.nozzles[{i}]"
        if not isinstance(item, dict):
            raise _bad(f"{where} must be an object")
        _keys(item, {"nzn", "prices", "density"}, {"nzn", "prices"}, where)
        density_n = item.get("density")
        nozzles.append(
            NozzlePrice(
                _int(item["nzn"], f"{where}.nzn", 1, 255),
                _levels(item, where),
                None if density_n is None else _int(density_n, f"{where}.density", 0, 0xFFFFFFFF),
            )
        )
    nzns = [n.nzn for n in nozzles]
    if len(set(nzns)) != len(nzns):
        raise _bad("prices.nozzles: each nzn once")
    return PricesDocument(effective, tuple(products), tuple(nozzles))


def _calendar(obj: Mapping[str, Any]) -> CalendarDocument:
    _keys(
        obj, {"weekend", "holidays", "shifted_working_days"}, {"holidays", "shifted_working_days"}, "calendar"
    )
    weekend = frozenset(
        _int(v, f"calendar.weekend[{i}]", 0, 6)
        for i, v in enumerate(_list(obj.get("weekend", [5, 6]), "weekend", 7))
    )
    if len(weekend) == 7:
        raise _bad("calendar.weekend cannot hold every weekday")
    holidays = frozenset(
        _date(v, f"calendar.holidays[{i}]") for i, v in enumerate(_list(obj["holidays"], "holidays", 5000))
    )
    shifted = frozenset(
        _date(v, f"calendar.shifted_working_days[{i}]")
        for i, v in enumerate(_list(obj["shifted_working_days"], "shifted_working_days", 5000))
    )
    if holidays & shifted:
        raise _bad(f"calendar: {min(holidays & shifted)} is both a holiday and a shifted working day")
    return CalendarDocument(weekend, holidays, shifted)


def _depth(value: Any, level: int = 0) -> int:
    if isinstance(value, dict):
        return max((_depth(v, level + 1) for v in value.values()), default=level + 1)
    if isinstance(value, list):
        return max((_depth(v, level + 1) for v in value), default=level + 1)
    return level


def _config(obj: Mapping[str, Any]) -> ConfigDocument:
    _keys(obj, {"settings"}, {"settings"}, "config")
    settings = obj["settings"]
    if not isinstance(settings, dict):
        raise _bad("config.settings must be an object of tables")
    if _depth(settings) > MAX_CONFIG_DEPTH:
        raise _bad(f"config.settings nests deeper than {MAX_CONFIG_DEPTH}")
    for name, table in settings.items():
        if not isinstance(table, dict):
            raise _bad(f"config.settings.{name} must be a table (object)")
    return ConfigDocument(settings)


def _grey(obj: Mapping[str, Any]) -> GreyDocument:
    _keys(obj, {"records"}, {"records"}, "grey")
    records: list[GreyRecord] = []
    for i, item in enumerate(_list(obj["records"], "grey.records", 100_000)):
        where = f"grey.records[{i}]"
        if not isinstance(item, dict):
            raise _bad(f"{where} must be an object")
        _keys(
            item,
            {"station", "line", "dispenser", "pos_ttc", "raw", "province", "locked_at"},
            {"station", "line", "dispenser", "pos_ttc", "raw"},
            where,
        )
        station, line, raw_hex = item["station"], item["line"], item["raw"]
        if not isinstance(station, str) or not isinstance(line, str) or not station or not line:
            raise _bad(f"{where}: station and line must be non-empty strings")
        if not isinstance(raw_hex, str) or len(raw_hex) != 2 * RECORD_LEN:
            raise _bad(f"{where}.raw must be {2 * RECORD_LEN} hex digits")
        try:
            raw = bytes.fromhex(raw_hex)
            record = decode_raw_record(raw)
        except (ValueError, ProtocolError) as exc:
            raise _bad(f"{where}.raw: {exc}") from None
        pos_ttc = _int(item["pos_ttc"], f"{where}.pos_ttc", 0, 0xFFFFFFFF)
        if record.pos_ttc != pos_ttc:
            raise _bad(f"{where}: raw carries POS_TTC {record.pos_ttc}, not {pos_ttc}")
        if record.t_type & 0x0F != TxKind.GREY:
            raise _bad(f"{where}: not a grey record (T_TYPE {record.t_type:#04x})")
        province = item.get("province")
        locked_text = item.get("locked_at")
        try:
            locked_at = dt.datetime.fromisoformat(locked_text) if isinstance(locked_text, str) else None
        except ValueError:
            locked_at = None
        if locked_text is not None and (locked_at is None or locked_at.tzinfo is not None):
            raise _bad(f"{where}.locked_at must be a station-local time without offset")
        records.append(
            GreyRecord(
                station,
                line,
                _int(item["dispenser"], f"{where}.dispenser", 0, 255),
                pos_ttc,
                raw,
                record,
                None if province is None else _int(province, f"{where}.province", 0, 0xFF),
                locked_at,
            )
        )
    return GreyDocument(tuple(records))


def _resend(obj: Mapping[str, Any]) -> ResendDocument:
    _keys(obj, {"since", "line", "dispenser"}, {"since"}, "resend")
    text = obj["since"]
    try:
        since = dt.datetime.fromisoformat(text) if isinstance(text, str) else None
    except ValueError:
        since = None
    if since is None or since.tzinfo is None:
        raise _bad("resend.since must be an ISO 8601 instant with offset")
    line = obj.get("line")
    if line is not None and (not isinstance(line, str) or not line):
        raise _bad("resend.line must be a line name")
    dispenser = obj.get("dispenser")
    if dispenser is not None:
        dispenser = _int(dispenser, "resend.dispenser", 0, 255)
    return ResendDocument(since, line, dispenser)


MAX_CYLINDERS_CSV = 8 * 1024 * 1024


def _cylinders(obj: Mapping[str, Any]) -> CylindersDocument:
    _keys(obj, {"csv"}, {"csv"}, "cylinders")
    text = obj["csv"]
    if not isinstance(text, str) or not text.strip():
        raise _bad("cylinders.csv must be a non-empty string")
    if len(text) > MAX_CYLINDERS_CSV:
        raise _bad(f"cylinders.csv is longer than {MAX_CYLINDERS_CSV} characters")
    return CylindersDocument(text)


CARD_STATUSES: Final = frozenset({"normal", "lost", "blacklisted", "cancelled", "replaced", "damaged"})
MAX_CARD_STATUSES: Final = 2_000_000


def _card_number(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.isdigit() or not 8 <= len(value) <= 20:
        raise _bad(f"{where} must be a card number of 8 to 20 digits")
    return value


def _card_status(obj: Mapping[str, Any]) -> CardStatusDocument:
    _keys(obj, {"cards"}, {"cards"}, "card_status")
    items: list[CardStatusItem] = []
    seen: set[str] = set()
    for i, item in enumerate(_list(obj["cards"], "card_status.cards", MAX_CARD_STATUSES)):
        where = f"card_status.cards[{i}]"
        if not isinstance(item, dict):
            raise _bad(f"{where} must be an object")
        _keys(item, {"asn", "status", "since", "grace", "station", "replaced_by"}, {"asn", "status", "since"},
              where)  # fmt: skip
        asn = _card_number(item["asn"], f"{where}.asn")
        if asn in seen:
            raise _bad(f"{where}: card {asn} is listed twice")
        seen.add(asn)
        status = item["status"]
        if status not in CARD_STATUSES:
            raise _bad(f"{where}.status must be one of {', '.join(sorted(CARD_STATUSES))}")
        text = item["since"]
        try:
            since = dt.datetime.fromisoformat(text) if isinstance(text, str) else None
        except ValueError:
            since = None
        if since is None or since.tzinfo is None:
            raise _bad(f"{where}.since must be an ISO 8601 instant with offset")
        grace = item.get("grace", False)
        station = item.get("station", "")
        if not isinstance(grace, bool) or not isinstance(station, str):
            raise _bad(f"{where}: grace must be true/false and station a string")
        replaced_by = item.get("replaced_by")
        if replaced_by is not None:
            replaced_by = _card_number(replaced_by, f"{where}.replaced_by")
        items.append(CardStatusItem(asn, status, since, grace, station, replaced_by))
    return CardStatusDocument(tuple(items))


_PARSERS: dict[DocKind, Callable[[Mapping[str, Any]], Content]] = {
    DocKind.LISTS: _lists,
    DocKind.PRICES: _prices,
    DocKind.CALENDAR: _calendar,
    DocKind.CONFIG: _config,
    DocKind.GREY: _grey,
    DocKind.RESEND: _resend,
    DocKind.CYLINDERS: _cylinders,
    DocKind.CARD_STATUS: _card_status,
}


def parse_payload(kind: DocKind, payload: Mapping[str, Any]) -> Content:
    """The typed content of a verified body's payload; `DownlinkRejected(SCHEMA)` if it is not valid."""
    return _PARSERS[kind](payload)


def summary(doc: Document) -> dict[str, Any]:
    """What the documents table keeps about a list document instead of its (large) body."""
    content = doc.content
    if isinstance(content, ListsDocument):
        return {
            "mode": content.mode,
            "lists": {k.label: {"version": f.version, "count": f.count} for k, f in content.lists.items()},
        }
    return {}
