"""The station configuration: one TOML file → one validated, typed object.

Layer: edge (pure core; `load_config` is the thin I/O shell). Every problem in a file is collected and
reported at once, each with the file and the key (`station.toml: lines[0].dispensers[1].pos_p: ...`).
The reference for every key is `docs/configuration.md`; the dataclass field docstrings below are its
source.

Environment overrides: `STATION_DB` replaces `storage.database`, `STATION_LOG_LEVEL` replaces
`logging.level`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar

from edge.errors import EdgeError
from protocol.i18n import DEFAULT_LANGUAGE, UnknownLanguage, normalise

SOF = 0xFA
DEFAULT_CONTROLLER_ADDRESS = 0xE0
P2P_REPLY_TIMEOUT_MS = 2000
INTER_BYTE_TIMEOUT_MS = 100
OFFLINE_AFTER_MISSES = 3
OFFLINE_POLL_INTERVAL_S = 5.0
POLL_CYCLE_MS = 250
MIN_POLL_INTERVAL_MS = 100
LOG_LEVELS = ("TRACE", "DEBUG", "INFO", "WARNING", "ERROR")


class ConfigError(EdgeError):
    """The configuration is not valid; `problems` lists every one, each `file: key: what`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))
        self.problems = problems


class LineMode(StrEnum):
    POINT_TO_POINT = "point-to-point"
    MULTI_DROP = "multi-drop"


@dataclass(frozen=True, slots=True)
class NozzleConfig:
    nzn: int
    """Logical nozzle number (NZN) as the dispenser reports it, 1..255."""
    g_code: str
    """Product code (4 BCD digits) of the product this nozzle dispenses; must be in `products`."""


@dataclass(frozen=True, slots=True)
class DispenserConfig:
    pos_p: int
    """The dispenser's bus address (POS-P), 0..255 except 0xFA and the controller address."""
    nozzles: tuple[NozzleConfig, ...]
    """The nozzles of this dispenser."""
    name: str = ""
    """A label for screens and logs (default `D<pos_p>`)."""

    @property
    def label(self) -> str:
        return self.name or f"D{self.pos_p}"


@dataclass(frozen=True, slots=True)
class LineConfig:
    name: str
    """Unique line name used in logs, the journal key and the UI (e.g. `bus1`)."""
    url: str
    """Serial device (`/dev/ttyUSB0`, a pty link path) or `socket://host:port`."""
    mode: LineMode
    """`point-to-point` (the dispenser calls) or `multi-drop` (the controller polls)."""
    dispensers: tuple[DispenserConfig, ...]
    """Dispensers on this line (exactly one for point-to-point)."""
    baud: int = 9600
    """Baud rate: 1200..921600."""
    parity: str = "N"
    """Parity: N, E or O."""
    stop_bits: int = 1
    """Stop bits: 1 or 2."""
    reply_timeout_ms: int = 0
    """Reply timeout; 0 = default: 2000 ms point-to-point, derived from the baud rate in multi-drop."""
    inter_byte_timeout_ms: int = INTER_BYTE_TIMEOUT_MS
    """A gap longer than this inside a frame resets the receiver."""
    offline_after: int = OFFLINE_AFTER_MISSES
    """Consecutive missed replies after which a dispenser is offline."""
    offline_poll_interval_s: float = OFFLINE_POLL_INTERVAL_S
    """How often an offline dispenser is still polled (multi-drop)."""
    poll_cycle_ms: int = POLL_CYCLE_MS
    """Multi-drop pacing: target time of one poll cycle; an idle dispenser is polled once per cycle
    (cycles run back to back when the bus needs longer). 0 = no pacing: as fast as the wire allows."""
    min_poll_interval_ms: int = MIN_POLL_INTERVAL_MS
    """Multi-drop pacing: a dispenser is never polled more often than this; a busy one (it had something
    to report) is polled again as soon as this has passed, within the cycle."""

    @property
    def bits_per_byte(self) -> int:
        """1 start + 8 data + parity + stop bits."""
        return 1 + 8 + (0 if self.parity == "N" else 1) + self.stop_bits

    def effective_reply_timeout_s(self) -> float:
        if self.reply_timeout_ms:
            return self.reply_timeout_ms / 1000
        if self.mode is LineMode.POINT_TO_POINT:
            return P2P_REPLY_TIMEOUT_MS / 1000
        return multidrop_reply_timeout_s(self.baud)


def multidrop_reply_timeout_s(baud: int) -> float:
    """Time for the longest expected answer (a 104-byte record, escaped worst case ~120 bytes) plus
    turnaround: about 150 ms at 9600 baud, never below 50 ms."""
    byte_s = 11 / baud
    return max(0.05, 120 * byte_s + 0.025)


@dataclass(frozen=True, slots=True)
class ProductConfig:
    g_code: str
    """Product code, 4 BCD digits (e.g. `0102`)."""
    name: str
    """Name shown to attendants (e.g. `92#`, `CNG`)."""
    unit: str = "L"
    """Volume unit: `L`, `m3` or `kg` (VOL is in 0.01 of it)."""
    prices: tuple[int, ...] = ()
    """Unit prices in fen for price levels 0, 1, 2 (1 to 3 values)."""
    density: float | None = None
    """Density in kg per litre at 15 °C (e.g. 0.745 for 92#, 0.835 for diesel): the station stock report
    shows its litres in tonnes too. None: litres only."""


@dataclass(frozen=True, slots=True)
class StationConfig:
    id: str
    """Station identifier used towards the centre (letters, digits, `-`, `_`)."""
    name: str = ""
    """Display name."""
    province: str = "11"
    """Province code, 2 BCD digits (0x11 Beijing …), as in 0x3A PROV."""
    city: str = "01"
    """City code, 2 BCD digits."""
    superior: str = "00000000"
    """Superior unit code, 8 BCD digits."""
    s_id: str = "00000001"
    """Station code, 8 BCD digits (0x3A S_ID)."""
    controller_address: int = DEFAULT_CONTROLLER_ADDRESS
    """The controller's own bus address (default 0xE0); never 0xFA."""
    language: str = DEFAULT_LANGUAGE
    """What people read at this station: `zh_CN` (default) or `en`. Operators may have their own
    (`station operators language`); logs, the database and the MQTT contract are language-neutral."""


@dataclass(frozen=True, slots=True)
class StorageConfig:
    database: Path
    """SQLite file of the journal (relative to the config file's folder)."""
    lists_dir: Path
    """Folder of the card lists (default: `lists` beside the database)."""
    integrity_check_hours: float = 24.0
    """How often the running daemon checks the database (`PRAGMA integrity_check`) and every record's
    checksum (`edge.record_integrity`); the first record check runs at start."""


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    level: str = "INFO"
    """TRACE (every frame), DEBUG, INFO, WARNING or ERROR."""
    json: bool = False
    """Structured logs as JSON lines instead of text."""


@dataclass(frozen=True, slots=True)
class ControlConfig:
    socket: Path
    """Unix socket of the local control API (default: `control.sock` beside the database)."""
    mode: int = 0o660
    """File permissions of the socket."""
    demo: bool = False
    """Allow the demo operator login (for `station demo` only; also STATION_DEMO=1)."""


@dataclass(frozen=True, slots=True)
class Config:
    path: Path
    station: StationConfig
    storage: StorageConfig
    lines: tuple[LineConfig, ...]
    products: tuple[ProductConfig, ...]
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    control: ControlConfig | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Every other top-level table, kept verbatim: the components' (validated by their kinds, see
    `edge.core.registry`) and those read by other programs (`simulator`)."""

    def product(self, g_code: str) -> ProductConfig | None:
        return next((p for p in self.products if p.g_code == g_code), None)


T = TypeVar("T")
CORE_TABLES = frozenset({"station", "storage", "lines", "products", "logging", "control"})
"""The tables this module reads; every other top-level table is a component's (`edge.core.registry`)."""
PASS_THROUGH_TABLES = frozenset({"simulator", "uplink", "rules", "modbus", "reports", "housekeeping"})
"""Tables read elsewhere that no registered component owns (the simulator's, the rules')."""


class _Checker:
    """Collects problems while reading a TOML document."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.problems: list[str] = []

    def problem(self, key: str, what: str) -> None:
        self.problems.append(f"{self.source}: {key}: {what}")

    def table(
        self, doc: Any, key: str, allowed: set[str], required: frozenset[str] | set[str] = frozenset()
    ) -> dict[str, Any]:
        if not isinstance(doc, dict):
            self.problem(key, f"must be a table, got {type(doc).__name__}")
            return {}
        for name in doc:
            if name not in allowed:
                self.problem(f"{key}.{name}" if key else name, "unknown key")
        for name in sorted(required - set(doc)):
            self.problem(f"{key}.{name}" if key else name, "missing")
        return doc

    def get(
        self,
        doc: dict[str, Any],
        key: str,
        path: str,
        kind: type[T],
        default: T,
        check: Callable[[T], str | None] | None = None,
    ) -> T:
        if key not in doc:
            return default
        value = doc[key]
        ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            self.problem(path, f"must be {kind.__name__}, got {type(value).__name__} {value!r}")
            return default
        if check is not None:
            msg = check(value)
            if msg:
                self.problem(path, msg)
                return default
        return value  # type: ignore[no-any-return]


def _known_language(value: str) -> str | None:
    try:
        normalise(value)
    except UnknownLanguage as exc:
        return str(exc)
    return None


def _language(value: str) -> str:
    return normalise(value)


def _digits(n: int) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if value.isdigit() and len(value) == n else f"must be {n} decimal digits, got {value!r}"

    return check


def _range(lo: int, hi: int) -> Callable[[int], str | None]:
    def check(value: int) -> str | None:
        return None if lo <= value <= hi else f"must be within {lo}..{hi}, got {value}"

    return check


def _hours_range(value: float) -> str | None:
    return None if 0.01 <= value <= 24 * 31 else f"must be within 0.01..744 hours, got {value}"


def _address(value: int) -> str | None:
    if not 0 <= value <= 0xFF:
        return f"must be a byte 0..255, got {value}"
    if value == SOF:
        return "0xFA is the frame start byte and can never be an address"
    return None


def parse_config(doc: dict[str, Any], path: Path) -> Config:
    """Validate a parsed TOML document; raise `ConfigError` listing every problem."""
    ck = _Checker(path.name)
    base = path.parent
    component_tables = {k for k, v in doc.items() if isinstance(v, dict)} - CORE_TABLES if isinstance(doc, dict) else set()
    top = ck.table(doc, "", set(CORE_TABLES | PASS_THROUGH_TABLES | component_tables), {"station", "lines"})

    st = ck.table(
        top.get("station", {}),
        "station",
        {"id", "name", "province", "city", "superior", "s_id", "controller_address", "language"},
        {"id"},
    )
    station = StationConfig(
        id=ck.get(
            st,
            "id",
            "station.id",
            str,
            "unnamed",
            lambda v: (
                None if v and all(ch.isalnum() or ch in "-_" for ch in v) else "letters, digits, - and _ only"
            ),
        ),
        name=ck.get(st, "name", "station.name", str, ""),
        province=ck.get(st, "province", "station.province", str, "11", _digits(2)),
        city=ck.get(st, "city", "station.city", str, "01", _digits(2)),
        superior=ck.get(st, "superior", "station.superior", str, "00000000", _digits(8)),
        s_id=ck.get(st, "s_id", "station.s_id", str, "00000001", _digits(8)),
        controller_address=ck.get(
            st, "controller_address", "station.controller_address", int, DEFAULT_CONTROLLER_ADDRESS, _address
        ),
        language=_language(ck.get(st, "language", "station.language", str, DEFAULT_LANGUAGE, _known_language)),
    )

    sg = ck.table(top.get("storage", {}), "storage", {"database", "lists_dir", "integrity_check_hours"})
    db_text = os.environ.get("STATION_DB") or ck.get(
        sg, "database", "storage.database", str, "data/station.db"
    )
    database = (base / db_text).resolve() if not Path(db_text).is_absolute() else Path(db_text)
    lists_text = ck.get(sg, "lists_dir", "storage.lists_dir", str, "")
    lists_dir = (base / lists_text).resolve() if lists_text else database.parent / "lists"
    integrity_hours = ck.get(
        sg, "integrity_check_hours", "storage.integrity_check_hours", float, 24.0, _hours_range
    )
    storage = StorageConfig(database=database, lists_dir=lists_dir, integrity_check_hours=integrity_hours)

    lg = ck.table(top.get("logging", {}), "logging", {"level", "json"})
    level = os.environ.get("STATION_LOG_LEVEL") or ck.get(lg, "level", "logging.level", str, "INFO")
    if level.upper() not in LOG_LEVELS:
        ck.problem("logging.level", f"must be one of {', '.join(LOG_LEVELS)}, got {level!r}")
        level = "INFO"
    logging_cfg = LoggingConfig(level=level.upper(), json=ck.get(lg, "json", "logging.json", bool, False))

    control = None
    if "control" in top:
        ct = ck.table(top["control"], "control", {"socket", "mode", "demo"})
        sock = ck.get(ct, "socket", "control.socket", str, "")
        control = ControlConfig(
            socket=(base / sock).resolve() if sock else database.parent / "control.sock",
            mode=ck.get(ct, "mode", "control.mode", int, 0o660, _range(0, 0o777)),
            demo=ck.get(ct, "demo", "control.demo", bool, False),
        )
    else:
        control = ControlConfig(socket=database.parent / "control.sock")

    products: list[ProductConfig] = []
    raw_products = top.get("products", [])
    if not isinstance(raw_products, list):
        ck.problem("products", "must be an array of tables ([[products]])")
        raw_products = []
    for i, pd in enumerate(raw_products):
        key = f"products[{i}]"
        pt = ck.table(pd, key, {"g_code", "name", "unit", "prices", "density"}, {"g_code", "name"})
        prices_raw = pt.get("prices", [])
        prices: tuple[int, ...] = ()
        if (
            not isinstance(prices_raw, list)
            or not 1 <= len(prices_raw) <= 3
            or not all(isinstance(p, int) and not isinstance(p, bool) and 0 < p <= 0xFFFF for p in prices_raw)
        ):
            if "prices" in pt:
                ck.problem(f"{key}.prices", "must be 1 to 3 prices in fen, each 1..65535")
        else:
            prices = tuple(prices_raw)
        products.append(
            ProductConfig(
                g_code=ck.get(pt, "g_code", f"{key}.g_code", str, "0000", _digits(4)),
                name=ck.get(pt, "name", f"{key}.name", str, ""),
                unit=ck.get(
                    pt,
                    "unit",
                    f"{key}.unit",
                    str,
                    "L",
                    lambda v: None if v in ("L", "m3", "kg") else "must be L, m3 or kg",
                ),
                prices=prices,
                density=ck.get(
                    pt,
                    "density",
                    f"{key}.density",
                    float,
                    0.0,
                    lambda v: None if 0.3 <= v <= 1.5 else "must be a density in kg/L between 0.3 and 1.5",
                )
                or None,
            )
        )
    codes = [p.g_code for p in products]
    for code in sorted({c for c in codes if codes.count(c) > 1}):
        ck.problem("products", f"product {code} is defined twice")

    lines: list[LineConfig] = []
    raw_lines = top.get("lines", [])
    if not isinstance(raw_lines, list):
        ck.problem("lines", "must be an array of tables ([[lines]])")
        raw_lines = []
    seen_names: set[str] = set()
    seen_urls: set[str] = set()
    for i, ld in enumerate(raw_lines):
        lines.append(_parse_line(ck, ld, f"lines[{i}]", station.controller_address, set(codes)))
    for i, line in enumerate(lines):
        if line.name in seen_names:
            ck.problem(f"lines[{i}].name", f"line name {line.name!r} is used twice")
        if line.url in seen_urls:
            ck.problem(f"lines[{i}].url", f"device {line.url!r} is used by two lines")
        seen_names.add(line.name)
        seen_urls.add(line.url)
    if not lines and isinstance(top.get("lines"), list):
        ck.problem("lines", "at least one line is needed")

    if ck.problems:
        raise ConfigError(ck.problems)
    extra = {k: v for k, v in top.items() if k in PASS_THROUGH_TABLES or k in component_tables}
    return Config(
        path=path,
        station=station,
        storage=storage,
        lines=tuple(lines),
        products=tuple(products),
        logging=logging_cfg,
        control=control,
        extra=extra,
    )


def _parse_line(ck: _Checker, ld: Any, key: str, controller: int, codes: set[str]) -> LineConfig:
    allowed = {
        "name",
        "url",
        "mode",
        "baud",
        "parity",
        "stop_bits",
        "reply_timeout_ms",
        "inter_byte_timeout_ms",
        "offline_after",
        "offline_poll_interval_s",
        "poll_cycle_ms",
        "min_poll_interval_ms",
        "dispensers",
    }
    lt = ck.table(ld, key, allowed, {"name", "url", "mode", "dispensers"})
    mode_text = ck.get(
        lt,
        "mode",
        f"{key}.mode",
        str,
        "multi-drop",
        lambda v: None if v in {m.value for m in LineMode} else "must be point-to-point or multi-drop",
    )
    mode = LineMode(mode_text)
    dispensers: list[DispenserConfig] = []
    raw = lt.get("dispensers", [])
    if not isinstance(raw, list):
        ck.problem(f"{key}.dispensers", "must be an array of tables")
        raw = []
    for j, dd in enumerate(raw):
        dkey = f"{key}.dispensers[{j}]"
        dt_ = ck.table(dd, dkey, {"pos_p", "name", "nozzles"}, {"pos_p", "nozzles"})
        pos_p = ck.get(dt_, "pos_p", f"{dkey}.pos_p", int, -1, _address)
        if pos_p == controller:
            ck.problem(f"{dkey}.pos_p", f"{pos_p:#04x} is the controller's own address")
        nozzles: list[NozzleConfig] = []
        rn = dt_.get("nozzles", [])
        if not isinstance(rn, list) or ("nozzles" in dt_ and not rn):
            ck.problem(f"{dkey}.nozzles", "must be a non-empty array of {nzn, g_code} tables")
            rn = []
        for k, nd in enumerate(rn):
            nkey = f"{dkey}.nozzles[{k}]"
            nt = ck.table(nd, nkey, {"nzn", "g_code"}, {"nzn", "g_code"})
            g_code = ck.get(nt, "g_code", f"{nkey}.g_code", str, "0000", _digits(4))
            if "g_code" in nt and g_code not in codes:
                ck.problem(f"{nkey}.g_code", f"product {g_code} is not in [[products]]")
            nozzles.append(
                NozzleConfig(nzn=ck.get(nt, "nzn", f"{nkey}.nzn", int, 0, _range(1, 255)), g_code=g_code)
            )
        nzns = [n.nzn for n in nozzles]
        for dup in sorted({n for n in nzns if nzns.count(n) > 1}):
            ck.problem(f"{dkey}.nozzles", f"nozzle {dup} is listed twice")
        dispensers.append(
            DispenserConfig(
                pos_p=pos_p, nozzles=tuple(nozzles), name=ck.get(dt_, "name", f"{dkey}.name", str, "")
            )
        )
    addrs = [d.pos_p for d in dispensers]
    for dup in sorted({a for a in addrs if addrs.count(a) > 1 and a >= 0}):
        ck.problem(f"{key}.dispensers", f"address {dup} ({dup:#04x}) is used by two dispensers")
    if mode is LineMode.POINT_TO_POINT and len(dispensers) > 1:
        ck.problem(f"{key}.dispensers", "a point-to-point line has exactly one dispenser")
    if "dispensers" in lt and isinstance(raw, list) and not raw:
        ck.problem(f"{key}.dispensers", "at least one dispenser is needed")
    url = ck.get(lt, "url", f"{key}.url", str, "")
    if "url" in lt and not url:
        ck.problem(f"{key}.url", "must not be empty")
    return LineConfig(
        name=ck.get(lt, "name", f"{key}.name", str, key),
        url=url,
        mode=mode,
        dispensers=tuple(dispensers),
        baud=ck.get(lt, "baud", f"{key}.baud", int, 9600, _range(1200, 921600)),
        parity=ck.get(
            lt,
            "parity",
            f"{key}.parity",
            str,
            "N",
            lambda v: None if v in ("N", "E", "O") else "must be N, E or O",
        ),
        stop_bits=ck.get(lt, "stop_bits", f"{key}.stop_bits", int, 1, _range(1, 2)),
        reply_timeout_ms=ck.get(lt, "reply_timeout_ms", f"{key}.reply_timeout_ms", int, 0, _range(0, 60000)),
        inter_byte_timeout_ms=ck.get(
            lt,
            "inter_byte_timeout_ms",
            f"{key}.inter_byte_timeout_ms",
            int,
            INTER_BYTE_TIMEOUT_MS,
            _range(1, 10000),
        ),
        offline_after=ck.get(
            lt, "offline_after", f"{key}.offline_after", int, OFFLINE_AFTER_MISSES, _range(1, 100)
        ),
        offline_poll_interval_s=ck.get(
            lt, "offline_poll_interval_s", f"{key}.offline_poll_interval_s", float, OFFLINE_POLL_INTERVAL_S
        ),
        poll_cycle_ms=ck.get(
            lt, "poll_cycle_ms", f"{key}.poll_cycle_ms", int, POLL_CYCLE_MS, _range(0, 60000)
        ),
        min_poll_interval_ms=ck.get(
            lt,
            "min_poll_interval_ms",
            f"{key}.min_poll_interval_ms",
            int,
            MIN_POLL_INTERVAL_MS,
            _range(0, 60000),
        ),
    )


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML configuration file."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigError([f"{p}: cannot read: {exc.strerror or exc}"]) from exc
    try:
        text = data.decode("utf-8-sig")  # a UTF-8 byte-order mark (Windows editors) is accepted
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [f"{p.name}: not a text file (byte {exc.start} is not UTF-8): a configuration is TOML text"]
        ) from exc
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{p.name}: not valid TOML: {exc}"]) from exc
    except RecursionError as exc:
        raise ConfigError([f"{p.name}: nested too deeply to be a station configuration"]) from exc
    return parse_config(doc, p.resolve())


def check_devices(config: Config) -> list[str]:
    """Start-up check that every serial device named by a line exists (sockets are not checked)."""
    problems = []
    for i, line in enumerate(config.lines):
        if line.url.startswith("socket://"):
            continue
        if not Path(line.url).exists():
            problems.append(f"{config.path.name}: lines[{i}].url: device {line.url} does not exist")
    return problems
