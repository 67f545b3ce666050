"""Cylinder specifications and design life, from the `[lpg]` configuration table.

[lpg]
design_life_years = 8            # scrap date = manufacture + design life ...
extension_years = 4              # ... + this, when the cylinder passed an inspection after it
[lpg.specs.YSP-15]
nominal_kg = 14.5                # net fill
tolerance_kg = 0.3               # a net above nominal + tolerance is an over-fill
[[lpg.scales]]                   # a filling scale the daemon polls (none: fills only through tools)
name = "S1"
url = "/dev/ttyUSB3"             # RTU serial path or pty link; tcp://host:port (or socket://) for Modbus TCP
device_id = 1
map = "station-scale-v1"         # a built-in map or one of [lpg.scale_maps.NAME]
baud = 9600
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edge.devices.lpg.errors import BadLpgConfig
from protocol.modbus_map import RegisterMapError
from protocol.scale_maps import SCALE_MAPS, ScaleMap, scale_map_from_table

__all__ = ["DEFAULT_SPECS", "CylinderSpec", "LpgSettings", "ScaleSettings", "add_years", "parse_settings"]


@dataclass(frozen=True, slots=True)
class CylinderSpec:
    name: str
    nominal_kg: float
    """Net LPG in a full cylinder."""
    tolerance_kg: float
    """How far above nominal a fill may end before it is an over-fill."""


DEFAULT_SPECS: dict[str, CylinderSpec] = {
    s.name: s
    for s in (
        CylinderSpec("YSP-5", 5.0, 0.2),
        CylinderSpec("YSP-15", 14.5, 0.3),
        CylinderSpec("YSP-50", 49.5, 0.5),
    )
}


@dataclass(frozen=True, slots=True)
class ScaleSettings:
    """One filling scale of `[[lpg.scales]]`, polled by the daemon's LPG component."""

    name: str
    """Its name at the station (shown on the filling screen, named in fills and alarms)."""
    url: str
    """A serial path (RTU) or `socket://host:port` (Modbus TCP; `tcp://` is accepted and normalised)."""
    device_id: int = 1
    """Its Modbus device id on the line."""
    map: str = "station-scale-v1"
    """Its register map: a built-in one or one of `[lpg.scale_maps.NAME]`."""
    baud: int = 9600
    parity: str = "N"
    stop_bits: int = 1
    timeout_s: float = 0.5
    """How long one exchange may take before the scale counts as not answering."""
    poll_s: float = 1.0
    """How often an idle scale is read (during a fill it is read as fast as the line allows)."""


SCALE_KEYS = frozenset(
    {"name", "url", "device_id", "map", "baud", "parity", "stop_bits", "timeout_s", "poll_s"}
)


def _scales(raw: Any, maps: Mapping[str, ScaleMap], problems: list[str]) -> tuple[ScaleSettings, ...]:
    if not isinstance(raw, list):
        problems.append("station.toml: lpg.scales: must be an array of tables ([[lpg.scales]])")
        return ()
    out: list[ScaleSettings] = []
    seen: dict[tuple[str, int], str] = {}
    lines: dict[str, int] = {}
    for i, s in enumerate(raw):
        where = f"station.toml: lpg.scales[{i}]"
        if not isinstance(s, Mapping):
            problems.append(f"{where}: must be a table")
            continue
        before = len(problems)
        problems += [f"{where}.{k}: unknown key" for k in s if k not in SCALE_KEYS]
        name, url = s.get("name"), s.get("url")
        if not isinstance(name, str) or not name.strip() or len(name) > 32:
            problems.append(f"{where}.name: must be a name of 1 to 32 characters")
            name = f"#{i}"
        elif name in {o.name for o in out}:
            problems.append(f"{where}.name: {name!r} is used by another scale")
        if not isinstance(url, str) or not url.strip():
            problems.append(f"{where}.url: must be a serial path or tcp://host:port")
            url = ""
        elif url.startswith("tcp://"):
            url = "socket://" + url.removeprefix("tcp://")
        if url.startswith("socket://"):
            _host, _, port = url.removeprefix("socket://").rpartition(":")
            if not port.isdigit() or not 0 < int(port) < 65536:
                problems.append(f"{where}.url: {url!r} has no valid port (tcp://host:port)")
        ints: dict[str, int] = {}
        for key, default, low, high in (("device_id", 1, 1, 247), ("baud", 9600, 1200, 115200),
                                        ("stop_bits", 1, 1, 2)):  # fmt: skip
            v = s.get(key, default)
            if isinstance(v, bool) or not isinstance(v, int) or not low <= v <= high:
                problems.append(f"{where}.{key}: must be a whole number from {low} to {high}, not {v!r}")
                v = default
            ints[key] = v
        floats: dict[str, float] = {}
        for key, fdefault in (("timeout_s", 0.5), ("poll_s", 1.0)):
            floats[key] = _positive(s.get(key, fdefault), f"lpg.scales[{i}].{key}", problems)
        parity = s.get("parity", "N")
        if parity not in ("N", "E", "O"):
            problems.append(f"{where}.parity: must be N, E or O, not {parity!r}")
            parity = "N"
        map_name = s.get("map", "station-scale-v1")
        if not isinstance(map_name, str) or map_name not in maps:
            problems.append(f"{where}.map: unknown register map {map_name!r} (known: {', '.join(sorted(maps))})")
            map_name = "station-scale-v1"
        if url and (url, ints["device_id"]) in seen:
            problems.append(f"{where}.device_id: {ints['device_id']} on {url} is already scale "
                            f"{seen[(url, ints['device_id'])]}")  # fmt: skip
        if url and not url.startswith("socket://"):
            if url in lines and lines[url] != ints["baud"]:
                problems.append(f"{where}.baud: {url} is one line: every scale on it needs the same baud")
            lines.setdefault(url, ints["baud"])
        if len(problems) == before:
            seen[(url, ints["device_id"])] = name
            out.append(ScaleSettings(name, url, device_id=ints["device_id"], map=map_name, baud=ints["baud"],
                                     parity=parity, stop_bits=ints["stop_bits"], timeout_s=floats["timeout_s"],
                                     poll_s=floats["poll_s"]))  # fmt: skip
    return tuple(out)


@dataclass(frozen=True, slots=True)
class LpgSettings:
    specs: Mapping[str, CylinderSpec]
    design_life_years: int = 8
    extension_years: int = 4
    due_warning_days: int = 30
    """A cylinder whose inspection falls due within this many days is warned about at hand-out."""
    scale_maps: Mapping[str, ScaleMap] = field(default_factory=lambda: dict(SCALE_MAPS))
    """The built-in scale register maps and those of `[lpg.scale_maps.NAME]`."""
    scales: tuple[ScaleSettings, ...] = ()
    """The filling scales the daemon polls (`[[lpg.scales]]`)."""


def add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def _positive(value: Any, key: str, problems: list[str], *, zero_ok: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        problems.append(f"station.toml: {key}: must be a number, not {value!r}")
        return 0.0
    if value < 0 or (value == 0 and not zero_ok):
        problems.append(f"station.toml: {key}: must be {'≥' if zero_ok else '>'} 0, not {value}")
    return float(value)


def parse_settings(table: Mapping[str, Any] | None) -> LpgSettings:
    """The `[lpg]` table (absent: the default specifications); raises `BadLpgConfig` with every problem."""
    if table is None:
        return LpgSettings(specs=DEFAULT_SPECS)
    problems: list[str] = []
    known = {"specs", "design_life_years", "extension_years", "due_warning_days", "scale_maps", "scales"}
    problems += [f"station.toml: lpg.{k}: unknown key" for k in table if k not in known]
    specs: dict[str, CylinderSpec] = {}
    raw_specs = table.get("specs", {})
    if not isinstance(raw_specs, Mapping):
        problems.append("station.toml: lpg.specs: must be a table of specifications")
        raw_specs = {}
    for name, spec in raw_specs.items():
        key = f"lpg.specs.{name}"
        if not isinstance(spec, Mapping):
            problems.append(f"station.toml: {key}: must be a table")
            continue
        problems += [
            f"station.toml: {key}.{k}: unknown key" for k in spec if k not in ("nominal_kg", "tolerance_kg")
        ]
        if "nominal_kg" not in spec:
            problems.append(f"station.toml: {key}.nominal_kg: missing")
        nominal = _positive(spec.get("nominal_kg", 1.0), f"{key}.nominal_kg", problems)
        tolerance = _positive(spec.get("tolerance_kg", 0.0), f"{key}.tolerance_kg", problems, zero_ok=True)
        specs[str(name)] = CylinderSpec(str(name), nominal, tolerance)
    ints: dict[str, int] = {}
    for k, default in (("design_life_years", 8), ("extension_years", 4), ("due_warning_days", 30)):
        v = table.get(k, default)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            problems.append(f"station.toml: lpg.{k}: must be a whole number ≥ 0, not {v!r}")
            v = default
        ints[k] = v
    maps = dict(SCALE_MAPS)
    raw_maps = table.get("scale_maps", {})
    if not isinstance(raw_maps, Mapping):
        problems.append("station.toml: lpg.scale_maps: must be a table of register maps")
        raw_maps = {}
    for name, raw in raw_maps.items():
        try:
            if not isinstance(raw, Mapping):
                raise RegisterMapError("must be a table")
            maps[str(name)] = scale_map_from_table(str(name), raw)
        except RegisterMapError as exc:
            problems.append(f"station.toml: lpg.scale_maps.{name}: {exc}")
    scales = _scales(table.get("scales", []), maps, problems)
    if problems:
        raise BadLpgConfig(problems)
    return LpgSettings(specs=specs or DEFAULT_SPECS, scale_maps=maps, scales=scales, **ints)
