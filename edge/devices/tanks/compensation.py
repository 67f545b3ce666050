"""Temperature-compensated volume (volume at a reference temperature, 15 °C or 20 °C).

Layer: edge (pure core). The formula is the one of API MPMS 11.1 / ASTM D1250 for refined products,
with the thermal expansion coefficient taken from the product's configuration:

    ΔT  = T_observed − T_reference
    VCF = exp(−α · ΔT · (1 + 0.8 · α · ΔT))
    V_reference = V_observed · VCF

α (1/°C) is a product property (defaults: gasoline 0.00120, diesel 0.00083, LPG 0.00270); the
reference temperature is a station setting (15 °C internationally, 20 °C under GB/T 1885).
VCF is 1 at the reference temperature and falls as the product warms.
"""

from __future__ import annotations

import math

from edge.devices.tanks.errors import BadMeasurement

__all__ = ["DEFAULT_ALPHA", "compensated_volume", "vcf"]

DEFAULT_ALPHA = {"gasoline": 0.00120, "diesel": 0.00083, "lpg": 0.00270}

TEMPERATURE_RANGE_C = (-50.0, 80.0)


def vcf(temperature_c: float, reference_c: float, alpha_per_c: float) -> float:
    """The volume correction factor from `temperature_c` to `reference_c`."""
    lo, hi = TEMPERATURE_RANGE_C
    if not math.isfinite(temperature_c) or not lo <= temperature_c <= hi:
        raise BadMeasurement(f"temperature {temperature_c} °C is outside {lo}..{hi} °C", temperature_c)
    dt = temperature_c - reference_c
    return math.exp(-alpha_per_c * dt * (1.0 + 0.8 * alpha_per_c * dt))


def compensated_volume(
    volume_l: float, temperature_c: float, reference_c: float, alpha_per_c: float
) -> float:
    return volume_l * vcf(temperature_c, reference_c, alpha_per_c)
