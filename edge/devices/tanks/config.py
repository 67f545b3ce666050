"""The `[tanks]` configuration table: consoles, their register maps, tanks and their limits.

Layer: edge (pure). `parse_tanks(table, file)` returns a `TanksConfig` or raises `BadTankConfig` listing
every problem as `file: tanks.key: what`. Reference: `docs/tanks.md`.

```toml
[tanks]
poll_interval_s = 1.0          # how often each console is read
offline_after = 3              # missed reads before a tank's probe is offline
reference_c = 20.0             # compensation reference temperature (15 or 20)
upload_interval_s = 10.0       # measurements to the centre at most this often per tank
variance_pct = 0.5             # reconciliation alarm: |variance| > max(pct % of sales, variance_min_l)
variance_min_l = 20.0
reconcile_interval_min = 0     # also reconcile every N minutes (0 = per shift and per day only)
day_start = "00:00"            # the business day boundary of the daily reconciliation

[[tanks.consoles]]
name = "tls1"
url = "/dev/ttyUSB2"           # RTU serial path or pty link; or socket://host:port for Modbus TCP
baud = 9600
parity = "N"
device_id = 1
map = "station-v1"             # or "tls-float-swapped", or a table of [tanks.maps.NAME]
timeout_s = 0.5

[[tanks.tank]]
number = 1
console = "tls1"
unit = 0                       # the tank's block on the console (0-based)
product = "0101"               # a product of [[products]]
alpha = 0.0012                 # thermal expansion (1/°C)
strapping = [[0, 0], [500, 4000], [1000, 11000], [2000, 22000]]   # [height mm, litres]
nozzles = ["bus1:1:1"]         # optional: the nozzles fed by this tank (default: every nozzle of the product)
# limits (optional): high_high_pct, high_pct, low_pct, low_low_pct, high_water_mm, jump_mm,
# sudden_loss_l, sudden_loss_window_s, dispensing_grace_s, delivery_rise_l, delivery_window_s,
# delivery_stable_l, delivery_settle_s
```
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from edge.devices.tanks.alarms import AlarmLimits
from edge.devices.tanks.compensation import DEFAULT_ALPHA
from edge.devices.tanks.delivery import DeliveryLimits
from edge.devices.tanks.errors import BadStrappingTable, BadTankConfig
from edge.devices.tanks.measurement import TankGeometry
from edge.devices.tanks.strapping import StrappingTable
from protocol.modbus_map import RegisterMap, RegisterMapError
from protocol.tank_maps import TANK_MAPS, map_from_table

__all__ = ["ConsoleConfig", "NozzleRef", "TankConfig", "TanksConfig", "parse_tanks"]

ALARM_KEYS = (
    "high_high_pct",
    "high_pct",
    "low_pct",
    "low_low_pct",
    "high_water_mm",
    "jump_mm",
    "sudden_loss_l",
    "sudden_loss_window_s",
    "dispensing_grace_s",
)
DELIVERY_KEYS = {
    "delivery_rise_l": "rise_l",
    "delivery_window_s": "window_s",
    "delivery_stable_l": "stable_l",
    "delivery_settle_s": "settle_s",
}
TANK_KEYS = (
    {"number", "console", "unit", "product", "alpha", "strapping", "nozzles", "name"}
    | set(ALARM_KEYS)
    | set(DELIVERY_KEYS)
)
CONSOLE_KEYS = {"name", "url", "baud", "parity", "stop_bits", "device_id", "map", "timeout_s"}
TOP_KEYS = {
    "poll_interval_s",
    "offline_after",
    "reference_c",
    "upload_interval_s",
    "variance_pct",
    "variance_min_l",
    "consoles",
    "tank",
    "maps",
    "reconcile_interval_min",
    "day_start",
}


@dataclass(frozen=True, slots=True)
class ConsoleConfig:
    name: str
    url: str
    register_map: RegisterMap
    device_id: int = 1
    baud: int = 9600
    parity: str = "N"
    stop_bits: int = 1
    timeout_s: float = 0.5

    @property
    def is_tcp(self) -> bool:
        return self.url.startswith("socket://")


@dataclass(frozen=True, slots=True)
class NozzleRef:
    line: str
    dispenser: int
    nozzle: int

    def __str__(self) -> str:
        return f"{self.line}:{self.dispenser}:{self.nozzle}"


@dataclass(frozen=True, slots=True)
class TankConfig:
    number: int
    console: str
    unit: int
    product: str
    geometry: TankGeometry
    alarms: AlarmLimits
    delivery: DeliveryLimits
    nozzles: tuple[NozzleRef, ...] = ()
    name: str = ""

    @property
    def label(self) -> str:
        return self.name or f"T{self.number}"


@dataclass(frozen=True, slots=True)
class TanksConfig:
    consoles: tuple[ConsoleConfig, ...] = ()
    tanks: tuple[TankConfig, ...] = ()
    poll_interval_s: float = 1.0
    offline_after: int = 3
    reference_c: float = 20.0
    upload_interval_s: float = 10.0
    variance_pct: float = 0.5
    variance_min_l: float = 20.0
    reconcile_interval_min: float = 0.0
    day_start: dt.time = dt.time(0, 0)

    def tanks_of(self, console: str) -> tuple[TankConfig, ...]:
        return tuple(t for t in self.tanks if t.console == console)


class _Problems:
    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[str] = []

    def add(self, key: str, what: str) -> None:
        self.items.append(f"{self.file}: tanks.{key}: {what}")

    def number(
        self, table: Mapping[str, Any], key: str, where: str, default: float, lo: float, hi: float
    ) -> float:
        value = table.get(key, default)
        if type(value) not in (int, float) or not math.isfinite(value) or not lo <= value <= hi:
            self.add(f"{where}{key}", f"must be a number in {lo}..{hi}, got {value!r}")
            return default
        return float(value)

    def integer(self, table: Mapping[str, Any], key: str, where: str, default: int, lo: int, hi: int) -> int:
        value = table.get(key, default)
        if type(value) is not int or not lo <= value <= hi:
            self.add(f"{where}{key}", f"must be an integer in {lo}..{hi}, got {value!r}")
            return default
        return value


def _nozzle_ref(text: object) -> NozzleRef | None:
    if not isinstance(text, str):
        return None
    parts = text.split(":")
    if len(parts) != 3 or not parts[0] or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    return NozzleRef(parts[0], int(parts[1]), int(parts[2]))


def parse_tanks(table: Mapping[str, Any], file: str, products: frozenset[str] | None = None) -> TanksConfig:
    """The validated `[tanks]` table; `BadTankConfig` lists every problem."""
    p = _Problems(file)
    for key in sorted(set(table) - TOP_KEYS):
        p.add(key, "unknown key")
    poll = p.number(table, "poll_interval_s", "", 1.0, 0.05, 3600)
    offline_after = p.integer(table, "offline_after", "", 3, 1, 100)
    reference = p.number(table, "reference_c", "", 20.0, 15.0, 20.0)
    if reference not in (15.0, 20.0):
        p.add("reference_c", "must be 15 or 20")
    upload = p.number(table, "upload_interval_s", "", 10.0, 0.0, 86400)
    variance_pct = p.number(table, "variance_pct", "", 0.5, 0.0, 100.0)
    variance_min = p.number(table, "variance_min_l", "", 20.0, 0.0, 1e6)
    interval = p.number(table, "reconcile_interval_min", "", 0.0, 0.0, 1440.0)
    if 0 < interval < 0.1:
        p.add("reconcile_interval_min", "must be 0 (off) or at least 0.1")
    day_start = dt.time(0, 0)
    raw_day = table.get("day_start", "00:00")
    try:
        day_start = dt.time.fromisoformat(raw_day) if isinstance(raw_day, str) else raw_day
        if not isinstance(day_start, dt.time):
            raise ValueError
    except ValueError:
        p.add("day_start", f"must be a time HH:MM, got {raw_day!r}")
        day_start = dt.time(0, 0)

    maps: dict[str, RegisterMap] = dict(TANK_MAPS)
    raw_maps = table.get("maps", {})
    if not isinstance(raw_maps, Mapping):
        p.add("maps", "must be a table of register maps")
        raw_maps = {}
    for name, raw in raw_maps.items():
        if not isinstance(raw, Mapping):
            p.add(f"maps.{name}", "must be a table")
            continue
        try:
            maps[name] = map_from_table(name, raw)
        except RegisterMapError as exc:
            p.add(f"maps.{name}", str(exc))

    consoles: list[ConsoleConfig] = []
    raw_consoles = table.get("consoles", [])
    if not isinstance(raw_consoles, list):
        p.add("consoles", "must be an array of tables ([[tanks.consoles]])")
        raw_consoles = []
    for i, raw in enumerate(raw_consoles):
        where = f"consoles[{i}]."
        if not isinstance(raw, Mapping):
            p.add(f"consoles[{i}]", "must be a table")
            continue
        for key in sorted(set(raw) - CONSOLE_KEYS):
            p.add(f"{where}{key}", "unknown key")
        name, url, map_name = raw.get("name"), raw.get("url"), raw.get("map", "station-v1")
        if not isinstance(name, str) or not name:
            p.add(f"{where}name", "must be a non-empty string")
            continue
        if any(c.name == name for c in consoles):
            p.add(f"{where}name", f"console {name!r} appears twice")
        if not isinstance(url, str) or not url:
            p.add(f"{where}url", "must be a serial path or socket://host:port")
            continue
        if map_name not in maps:
            p.add(f"{where}map", f"unknown register map {map_name!r} (known: {sorted(maps)})")
            continue
        parity = raw.get("parity", "N")
        if parity not in ("N", "E", "O"):
            p.add(f"{where}parity", "must be N, E or O")
            parity = "N"
        consoles.append(
            ConsoleConfig(
                name=name,
                url=url,
                register_map=maps[map_name],
                device_id=p.integer(raw, "device_id", where, 1, 1, 247),
                baud=p.integer(raw, "baud", where, 9600, 1200, 921600),
                parity=parity,
                stop_bits=p.integer(raw, "stop_bits", where, 1, 1, 2),
                timeout_s=p.number(raw, "timeout_s", where, 0.5, 0.05, 10.0),
            )
        )

    tanks: list[TankConfig] = []
    raw_tanks = table.get("tank", [])
    if not isinstance(raw_tanks, list):
        p.add("tank", "must be an array of tables ([[tanks.tank]])")
        raw_tanks = []
    by_console = {c.name: c for c in consoles}
    for i, raw in enumerate(raw_tanks):
        where = f"tank[{i}]."
        if not isinstance(raw, Mapping):
            p.add(f"tank[{i}]", "must be a table")
            continue
        for key in sorted(set(raw) - TANK_KEYS):
            p.add(f"{where}{key}", "unknown key")
        number = p.integer(raw, "number", where, 0, 1, 999)
        if any(t.number == number for t in tanks):
            p.add(f"{where}number", f"tank {number} appears twice")
        console = raw.get("console")
        if console not in by_console:
            p.add(f"{where}console", f"no console {console!r} in [[tanks.consoles]]")
            continue
        unit = p.integer(raw, "unit", where, 0, 0, 255)
        product = raw.get("product")
        if not isinstance(product, str) or (products is not None and product not in products):
            p.add(f"{where}product", f"must be a product code of [[products]], got {product!r}")
            continue
        try:
            by_console[console].register_map.address(unit)
        except RegisterMapError as exc:
            p.add(f"{where}unit", str(exc))
        alpha = p.number(raw, "alpha", where, DEFAULT_ALPHA["gasoline"], 0.0, 0.01)
        points = raw.get("strapping")
        strapping: StrappingTable | None = None
        if not isinstance(points, list) or not all(
            isinstance(pt, list) and len(pt) == 2 and all(type(x) in (int, float) for x in pt)
            for pt in points
        ):
            p.add(f"{where}strapping", "must be a list of [height mm, litres] pairs")
        else:
            try:
                strapping = StrappingTable.from_points((float(a), float(b)) for a, b in points)
            except BadStrappingTable as exc:
                p.add(f"{where}strapping", str(exc))
        nozzles: list[NozzleRef] = []
        for j, text in enumerate(raw.get("nozzles", [])):
            ref = _nozzle_ref(text)
            if ref is None:
                p.add(f"{where}nozzles[{j}]", f"must be 'line:dispenser:nozzle', got {text!r}")
            else:
                nozzles.append(ref)
        if strapping is None:
            continue
        alarm_kw = {
            k: p.number(raw, k, where, getattr(AlarmLimits(1.0), k), 0.0, 1e7) for k in ALARM_KEYS if k in raw
        }
        delivery_kw = {
            attr: p.number(raw, key, where, getattr(DeliveryLimits(), attr), 0.0, 1e7)
            for key, attr in DELIVERY_KEYS.items()
            if key in raw
        }
        name = raw.get("name", "")
        tanks.append(
            TankConfig(
                number=number,
                console=console,
                unit=unit,
                product=product,
                geometry=TankGeometry(strapping, alpha, reference),
                alarms=AlarmLimits(capacity_l=strapping.capacity_l, **alarm_kw),
                delivery=DeliveryLimits(**delivery_kw),
                nozzles=tuple(nozzles),
                name=name if isinstance(name, str) else "",
            )
        )
    units = [(t.console, t.unit) for t in tanks]
    for t in tanks:
        if units.count((t.console, t.unit)) > 1:
            p.add("tank", f"console {t.console!r} unit {t.unit} is given to more than one tank")
            break
    if p.items:
        raise BadTankConfig("\n".join(p.items))
    return TanksConfig(
        consoles=tuple(consoles),
        tanks=tuple(tanks),
        poll_interval_s=poll,
        offline_after=offline_after,
        reference_c=reference,
        upload_interval_s=upload,
        variance_pct=variance_pct,
        variance_min_l=variance_min,
        reconcile_interval_min=interval,
        day_start=day_start,
    )
