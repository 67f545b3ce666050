"""Tank alarms from measurements: levels, water, probe, jumps and sudden loss.

Layer: edge (pure core). `TankAlarmState.step(measurement, dispensing)` returns the new state and the
set of active alarm codes; the component raises what became active and clears what went away, on the
station's alarm path (one source per tank: `tank:{n}`).

    code              active while
    ----------------  ------------------------------------------------------------------------
    high_high         product volume ≥ high_high_pct of capacity (overfill danger)
    high              product volume ≥ high_pct of capacity
    low               product volume ≤ low_pct of capacity
    low_low           product volume ≤ low_low_pct of capacity
    high_water        water height ≥ high_water_mm
    probe_error       the console reports the probe out or in error (status ≠ 0 or PROBE_OUT)
    console_<bit>     the console raised one of its own alarm bits (leak, overfill, …)
    jump              the product height moved more than jump_mm since the previous reading
    sudden_loss       the product fell by more than sudden_loss_l within sudden_loss_window_s while no
                      nozzle of the tank's product was dispensing (nor within the grace after one did)

`probe_offline` (no answer for N polls) is the component's, not a measurement's.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from dataclasses import dataclass, field

from edge.devices.tanks.measurement import Measurement
from protocol.tank_maps import ConsoleAlarm

__all__ = ["AlarmLimits", "TankAlarmState"]


@dataclass(frozen=True, slots=True)
class AlarmLimits:
    capacity_l: float
    high_high_pct: float = 95.0
    high_pct: float = 90.0
    low_pct: float = 15.0
    low_low_pct: float = 5.0
    high_water_mm: float = 50.0
    jump_mm: float = 150.0
    sudden_loss_l: float = 50.0
    sudden_loss_window_s: float = 300.0
    dispensing_grace_s: float = 60.0


@dataclass
class TankAlarmState:
    limits: AlarmLimits
    previous: Measurement | None = None
    quiet_since: dt.datetime | None = None
    """When the last dispensing of the tank's product ended (None while dispensing)."""
    quiet_samples: deque[tuple[dt.datetime, float]] = field(default_factory=deque)

    def step(self, m: Measurement, dispensing: bool) -> frozenset[str]:
        """Feed one measurement; the alarm codes active after it."""
        lim = self.limits
        active: set[str] = set()
        pct = 100.0 * m.volume_l / lim.capacity_l if lim.capacity_l > 0 else 0.0
        if pct >= lim.high_high_pct:
            active.add("high_high")
        elif pct >= lim.high_pct:
            active.add("high")
        if pct <= lim.low_low_pct:
            active.add("low_low")
        elif pct <= lim.low_pct:
            active.add("low")
        if m.water_height_mm >= lim.high_water_mm:
            active.add("high_water")
        if m.probe_status != 0 or m.alarm_bits & ConsoleAlarm.PROBE_OUT:
            active.add("probe_error")
        for bit in ConsoleAlarm:
            if bit is not ConsoleAlarm.PROBE_OUT and m.alarm_bits & bit:
                active.add(f"console_{(bit.name or str(int(bit))).lower()}")
        if (
            self.previous is not None
            and abs(m.product_height_mm - self.previous.product_height_mm) > lim.jump_mm
        ):
            active.add("jump")
        if self._sudden_loss(m, dispensing):
            active.add("sudden_loss")
        self.previous = m
        return frozenset(active)

    def _sudden_loss(self, m: Measurement, dispensing: bool) -> bool:
        lim = self.limits
        if dispensing:
            self.quiet_since = None
            self.quiet_samples.clear()
            return False
        if self.quiet_since is None:
            self.quiet_since = m.at
        if (m.at - self.quiet_since).total_seconds() < lim.dispensing_grace_s:
            return False
        samples = self.quiet_samples
        samples.append((m.at, m.tc_volume_l))
        horizon = m.at - dt.timedelta(seconds=lim.sudden_loss_window_s)
        while samples and samples[0][0] < horizon:
            samples.popleft()
        peak = max(v for _, v in samples)
        return peak - m.tc_volume_l > lim.sudden_loss_l
