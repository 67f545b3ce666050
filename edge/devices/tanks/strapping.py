"""Strapping (calibration) tables: product height → volume, by linear interpolation.

Layer: edge (pure core). A tank's strapping table is a list of (height mm, volume L) points measured
when the tank was calibrated. Both columns must be strictly increasing and start at or above zero; a
height between two points is interpolated linearly; a height outside the table is a `BadMeasurement`
(the probe reads something the tank cannot hold), never extrapolated.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable
from dataclasses import dataclass

from edge.devices.tanks.errors import BadMeasurement, BadStrappingTable

__all__ = ["StrappingTable"]


@dataclass(frozen=True, slots=True)
class StrappingTable:
    heights_mm: tuple[float, ...]
    volumes_l: tuple[float, ...]

    def __post_init__(self) -> None:
        h, v = self.heights_mm, self.volumes_l
        if len(h) != len(v) or len(h) < 2:
            raise BadStrappingTable("a strapping table needs at least two (height, volume) points")
        if not all(math.isfinite(x) for x in (*h, *v)):
            raise BadStrappingTable("a strapping table holds only finite numbers")
        if h[0] < 0 or v[0] < 0:
            raise BadStrappingTable(f"the first point ({h[0]} mm, {v[0]} L) is negative")
        for i in range(1, len(h)):
            if not (h[i] > h[i - 1] and v[i] > v[i - 1]):
                raise BadStrappingTable(
                    f"not strictly increasing at point {i}: ({h[i - 1]} mm, {v[i - 1]} L) then "
                    f"({h[i]} mm, {v[i]} L)"
                )

    @classmethod
    def from_points(cls, points: Iterable[tuple[float, float]]) -> StrappingTable:
        pts = list(points)
        return cls(tuple(float(p[0]) for p in pts), tuple(float(p[1]) for p in pts))

    @property
    def max_height_mm(self) -> float:
        return self.heights_mm[-1]

    @property
    def capacity_l(self) -> float:
        return self.volumes_l[-1]

    def volume_at(self, height_mm: float) -> float:
        """Volume in litres at `height_mm`; raises `BadMeasurement` outside the table."""
        h = self.heights_mm
        if not math.isfinite(height_mm) or height_mm < h[0] or height_mm > h[-1]:
            raise BadMeasurement(
                f"height {height_mm} mm is outside the strapping table {h[0]}..{h[-1]} mm", height_mm
            )
        i = bisect.bisect_right(h, height_mm)
        if i >= len(h):
            return self.volumes_l[-1]
        h0, h1 = h[i - 1], h[i]
        v0, v1 = self.volumes_l[i - 1], self.volumes_l[i]
        return v0 + (v1 - v0) * (height_mm - h0) / (h1 - h0)

    def height_at(self, volume_l: float) -> float:
        """The inverse: height in mm holding `volume_l` (the simulator uses it)."""
        v = self.volumes_l
        if not math.isfinite(volume_l) or volume_l < v[0] or volume_l > v[-1]:
            raise BadMeasurement(
                f"volume {volume_l} L is outside the strapping table {v[0]}..{v[-1]} L", volume_l
            )
        i = bisect.bisect_right(v, volume_l)
        if i >= len(v):
            return self.heights_mm[-1]
        v0, v1 = v[i - 1], v[i]
        h0, h1 = self.heights_mm[i - 1], self.heights_mm[i]
        return h0 + (h1 - h0) * (volume_l - v0) / (v1 - v0)
