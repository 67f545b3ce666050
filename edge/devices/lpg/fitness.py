"""Whether a cylinder may be filled: the registry's rules, with the reason in words.

Layer: edge (pure). A cylinder that is unknown, scrapped (by state or by its scrap date), overdue for its
periodic inspection, of unknown tare or of a specification the station does not know is refused; so is
one that is out with a customer, in inspection, marked as a problem or already full.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum

from edge.devices.lpg.specs import CylinderSpec, LpgSettings
from storage.lpg import CylinderRow, CylinderState

__all__ = ["FillPlan", "Refusal", "RefusalCode", "check_fill"]


class RefusalCode(StrEnum):
    UNKNOWN = "unknown"
    SCRAPPED = "scrapped"
    OVERDUE = "overdue"
    NO_TARE = "no_tare"
    NO_SPEC = "no_spec"
    WRONG_STATE = "wrong_state"


@dataclass(frozen=True, slots=True)
class Refusal:
    code: RefusalCode
    reason: str
    """The reason in words, for the operator."""


@dataclass(frozen=True, slots=True)
class FillPlan:
    cylinder: CylinderRow
    spec: CylinderSpec
    tare_kg: float
    target_kg: float
    """Gross weight at which the valve closes: tare + nominal net."""


def check_fill(
    barcode: str, c: CylinderRow | None, settings: LpgSettings, today: dt.date
) -> FillPlan | Refusal:
    if c is None:
        return Refusal(RefusalCode.UNKNOWN, f"cylinder {barcode} is not in the registry")
    if c.state is CylinderState.SCRAPPED or c.scrap_on <= today:
        return Refusal(RefusalCode.SCRAPPED, f"cylinder {barcode} is scrapped (scrap date {c.scrap_on})")
    if c.next_inspection < today:
        days = (today - c.next_inspection).days
        return Refusal(
            RefusalCode.OVERDUE,
            f"cylinder {barcode}: inspection overdue since {c.next_inspection} ({days} days)",
        )
    if c.tare_kg is None or c.tare_kg <= 0:
        return Refusal(RefusalCode.NO_TARE, f"cylinder {barcode}: tare weight unknown")
    spec = settings.specs.get(c.spec)
    if spec is None:
        return Refusal(RefusalCode.NO_SPEC, f"cylinder {barcode}: specification {c.spec} is not configured")
    if c.state is not CylinderState.EMPTY:
        return Refusal(
            RefusalCode.WRONG_STATE, f"cylinder {barcode} is {c.state.value.replace('_', ' ')}, not empty"
        )
    return FillPlan(c, spec, c.tare_kg, round(c.tare_kg + spec.nominal_kg, 3))
