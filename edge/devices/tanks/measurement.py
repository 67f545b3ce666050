"""A tank's measurement from a console's figures: volumes from the strapping table, compensated.

Layer: edge (pure core).

    total liquid   = strapping(product_height)
    water volume   = strapping(water_height)
    volume         = total liquid − water volume          (product, litres at the observed temperature)
    tc_volume      = volume · VCF(temperature → reference) (see `compensation`)
    ullage         = capacity − total liquid

A reading whose figures are not finite, whose water stands above the product, or whose heights lie
outside the strapping table is a `BadMeasurement`: it is alarmed and never stored as a measurement.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass

from edge.devices.tanks.compensation import compensated_volume
from edge.devices.tanks.errors import BadMeasurement
from edge.devices.tanks.strapping import StrappingTable

__all__ = ["Measurement", "TankGeometry", "measure"]


@dataclass(frozen=True, slots=True)
class TankGeometry:
    """What the controller needs to turn heights into volumes for one tank."""

    strapping: StrappingTable
    alpha_per_c: float
    reference_c: float = 20.0


@dataclass(frozen=True, slots=True)
class Measurement:
    tank: int
    at: dt.datetime
    product_height_mm: float
    water_height_mm: float
    temperature_c: float
    volume_l: float
    tc_volume_l: float
    water_volume_l: float
    ullage_l: float
    alarm_bits: int
    probe_status: int

    def to_dict(self) -> dict[str, object]:
        return {
            "tank": self.tank,
            "at": self.at.isoformat(timespec="seconds"),
            "product_height_mm": round(self.product_height_mm, 1),
            "water_height_mm": round(self.water_height_mm, 1),
            "temperature_c": round(self.temperature_c, 2),
            "volume_l": round(self.volume_l, 2),
            "tc_volume_l": round(self.tc_volume_l, 2),
            "water_volume_l": round(self.water_volume_l, 2),
            "ullage_l": round(self.ullage_l, 2),
            "alarm_bits": self.alarm_bits,
            "probe_status": self.probe_status,
        }


def _figure(figures: Mapping[str, float], name: str) -> float:
    value = figures.get(name)
    if value is None or not math.isfinite(value):
        raise BadMeasurement(f"figure {name!r} is missing or not finite", value)
    return float(value)


def measure(tank: int, at: dt.datetime, figures: Mapping[str, float], geometry: TankGeometry) -> Measurement:
    """The measurement of `tank` from a console's decoded figures; raises `BadMeasurement`."""
    product_h = _figure(figures, "product_height_mm")
    water_h = _figure(figures, "water_height_mm")
    temperature = _figure(figures, "temperature_c")
    bits, status = _figure(figures, "alarm_bits"), _figure(figures, "probe_status")
    if water_h < 0 or product_h < 0:
        raise BadMeasurement(f"negative height (product {product_h} mm, water {water_h} mm)", product_h)
    if water_h > product_h:
        raise BadMeasurement(f"water {water_h} mm stands above the product {product_h} mm", water_h)
    table = geometry.strapping
    total = table.volume_at(product_h)
    water = table.volume_at(water_h) if water_h >= table.heights_mm[0] else 0.0
    volume = max(0.0, total - water)
    return Measurement(
        tank=tank,
        at=at,
        product_height_mm=product_h,
        water_height_mm=water_h,
        temperature_c=temperature,
        volume_l=volume,
        tc_volume_l=compensated_volume(volume, temperature, geometry.reference_c, geometry.alpha_per_c),
        water_volume_l=water,
        ullage_l=table.capacity_l - total,
        alarm_bits=int(bits),
        probe_status=int(status),
    )
