"""Cylinder specifications and design life, from the `[lpg]` configuration table.

[lpg]
design_life_years = 8            # scrap date = manufacture + design life ...
extension_years = 4              # ... + this, when the cylinder passed an inspection after it
[lpg.specs.YSP-15]
nominal_kg = 14.5                # net fill
tolerance_kg = 0.3               # a net above nominal + tolerance is an over-fill
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

__all__ = ["DEFAULT_SPECS", "CylinderSpec", "LpgSettings", "add_years", "parse_settings"]


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
class LpgSettings:
    specs: Mapping[str, CylinderSpec]
    design_life_years: int = 8
    extension_years: int = 4
    due_warning_days: int = 30
    """A cylinder whose inspection falls due within this many days is warned about at hand-out."""
    scale_maps: Mapping[str, ScaleMap] = field(default_factory=lambda: dict(SCALE_MAPS))
    """The built-in scale register maps and those of `[lpg.scale_maps.NAME]`."""


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
    known = {"specs", "design_life_years", "extension_years", "due_warning_days", "scale_maps"}
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
    if problems:
        raise BadLpgConfig(problems)
    return LpgSettings(specs=specs or DEFAULT_SPECS, scale_maps=maps, **ints)
