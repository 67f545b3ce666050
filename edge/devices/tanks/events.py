"""Events the tank component publishes on the bus.

Layer: edge (typed events of one device kind; their routes to the control API and the centre are
registered with the component, see `edge.devices.tanks.component`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from edge.events import Coalesced

__all__ = ["ProbeState", "TankDeliveryDetected", "TankLevel", "TankReconciled"]


class ProbeState(StrEnum):
    OK = "ok"
    ERROR = "error"
    """The console reports the probe out or in error."""
    BAD_READING = "bad_reading"
    """The reading does not make a measurement (out of range, not finite)."""
    OFFLINE = "offline"
    """The console does not answer."""


@dataclass(frozen=True, slots=True)
class TankLevel(Coalesced):
    """The newest state of one tank (coalesced: only the newest per tank is delivered)."""

    tank: int
    name: str
    product: str
    capacity_l: float
    state: ProbeState
    at: dt.datetime
    figures: Mapping[str, float] = field(default_factory=dict)
    """product_height_mm, water_height_mm, temperature_c, volume_l, tc_volume_l, water_volume_l, ullage_l."""
    alarms: tuple[str, ...] = ()
    delivering: bool = False

    @property
    def key(self) -> Hashable:
        return ("tank", self.tank)


@dataclass(frozen=True, slots=True)
class TankDeliveryDetected:
    tank: int
    delivery_id: int
    started_at: dt.datetime
    ended_at: dt.datetime
    delivered_l: float
    start_height_mm: float
    end_height_mm: float
    temperature_c: float


@dataclass(frozen=True, slots=True)
class TankReconciled:
    tank: int
    period_start: dt.datetime
    period_end: dt.datetime
    opening_l: float
    deliveries_l: float
    sales_l: float
    book_closing_l: float
    measured_closing_l: float
    variance_l: float
    variance_pct: float
    over_threshold: bool
