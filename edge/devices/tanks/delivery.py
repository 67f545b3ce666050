"""Deliveries detected on the controller from the rising level.

Layer: edge (pure core). A delivery starts when the compensated volume rises more than `rise_l` above
the lowest volume of the last `window_s` seconds (so a slow drop from a tanker's hose is seen as well as
a fast one, and sales during the delivery do not hide it); it ends once the volume has not risen by more
than `stable_l` above its peak for `settle_s` seconds (sales may go on lowering it meanwhile). The
delivered volume is what the tank gained plus what the nozzles of its product sold between the start and
the end (the component adds the metered sales of that period):

    delivered = end.tc_volume − start.tc_volume + metered sales during the delivery

States:  IDLE --rise > rise_l--> DELIVERING --no new peak for settle_s--> IDLE (emits `DeliveryDetected`)
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from dataclasses import dataclass, field

from edge.devices.tanks.measurement import Measurement

__all__ = ["DeliveryDetected", "DeliveryDetector", "DeliveryLimits"]


@dataclass(frozen=True, slots=True)
class DeliveryLimits:
    rise_l: float = 200.0
    window_s: float = 300.0
    stable_l: float = 10.0
    settle_s: float = 120.0


@dataclass(frozen=True, slots=True)
class DeliveryDetected:
    tank: int
    start: Measurement
    end: Measurement

    @property
    def gained_l(self) -> float:
        return self.end.tc_volume_l - self.start.tc_volume_l


@dataclass
class DeliveryDetector:
    tank: int
    limits: DeliveryLimits = field(default_factory=DeliveryLimits)
    recent: deque[Measurement] = field(default_factory=deque)
    start: Measurement | None = None
    peak: Measurement | None = None

    @property
    def delivering(self) -> bool:
        return self.start is not None

    @property
    def quiet(self) -> bool:
        """Neither delivering nor rising: the newest volume is within `stable_l` of the lowest of the
        window (a reconciliation may end here without cutting a delivery in two)."""
        if self.start is not None:
            return False
        if not self.recent:
            return True
        lowest = min(m.tc_volume_l for m in self.recent)
        return self.recent[-1].tc_volume_l - lowest <= self.limits.stable_l

    def step(self, m: Measurement) -> DeliveryDetected | None:
        lim = self.limits
        if self.start is None:
            self.recent.append(m)
            horizon = m.at - dt.timedelta(seconds=lim.window_s)
            while self.recent and self.recent[0].at < horizon:
                self.recent.popleft()
            lowest = min(self.recent, key=lambda x: x.tc_volume_l)
            if m.tc_volume_l - lowest.tc_volume_l > lim.rise_l:
                self.start, self.peak = lowest, m
                self.recent.clear()
            return None
        peak = self.peak
        assert peak is not None
        if m.tc_volume_l > peak.tc_volume_l + lim.stable_l:
            self.peak = m
            return None
        if (m.at - peak.at).total_seconds() < lim.settle_s:
            return None
        done = DeliveryDetected(self.tank, self.start, m)
        self.start = self.peak = None
        self.recent.append(m)
        return done
