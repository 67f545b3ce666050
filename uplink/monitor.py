"""Outbox and connection health: the figures `status()` shows and the alarms above thresholds.

Layer: uplink. Every `monitor_interval_s` the monitor reads the outbox depth and the age of its oldest
message (one query), derives the drain rate from the pump's PUBACK count, and raises or clears the
alarms (source `uplink`):

    outbox_depth   more than alarm_outbox_depth messages queued          warning
    outbox_age     the oldest queued message older than alarm_outbox_age_s  major
    offline        no broker connection for alarm_offline_s               major
    publish_refused  the broker refused a message (PUBACK ≥ 0x80, e.g. ACL)  major

Alarms are raised and cleared on transitions only (a repeat would count up the alarm every interval).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from edge.core.alarms import AlarmSink
from storage.clock import Clock, iso_instant, utc_now
from storage.errors import StorageError
from storage.uplink_store import UplinkStore
from uplink.config import UplinkSettings
from uplink.pump import PumpStats

log = logging.getLogger(__name__)

ALARM_SOURCE: Final = "uplink"


@dataclass(frozen=True, slots=True)
class OutboxFigures:
    depth: int = 0
    oldest_age_s: float | None = None
    drain_rate_per_s: float = 0.0
    measured_at: dt.datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "depth": self.depth,
            "oldest_age_s": None if self.oldest_age_s is None else round(self.oldest_age_s, 3),
            "drain_rate_per_s": round(self.drain_rate_per_s, 1),
            "measured_at": None if self.measured_at is None else iso_instant(self.measured_at),
        }


class Monitor:
    def __init__(
        self,
        store: UplinkStore,
        pump: PumpStats,
        settings: UplinkSettings,
        *,
        alarms: AlarmSink | None,
        offline_for_s: Callable[[], float | None],
        clock: Clock = utc_now,
    ) -> None:
        self._store = store
        self._pump = pump
        self._settings = settings
        self._alarms = alarms
        self._offline_for_s = offline_for_s
        self._clock = clock
        self._last: tuple[float, int] | None = None
        self.figures = OutboxFigures()
        self.active: set[str] = set()

    async def run(self) -> None:
        while True:
            try:
                await self.measure()
            except StorageError as exc:
                log.error("uplink monitor: cannot read the outbox: %s", exc)
            await asyncio.sleep(self._settings.monitor_interval_s)

    async def measure(self) -> OutboxFigures:
        depth, oldest = await self._store.outbox_figures()
        now, mono = self._clock(), time.monotonic()
        rate = 0.0
        if self._last is not None and mono > self._last[0]:
            rate = (self._pump.acked - self._last[1]) / (mono - self._last[0])
        self._last = (mono, self._pump.acked)
        age = None if oldest is None else max(0.0, (now - oldest).total_seconds())
        self.figures = OutboxFigures(depth, age, rate, now)
        s = self._settings
        await self._set(
            "outbox_depth",
            s.alarm_outbox_depth > 0 and depth > s.alarm_outbox_depth,
            "warning",
            f"{depth} messages wait for the centre (threshold {s.alarm_outbox_depth})",
        )
        await self._set(
            "outbox_age",
            s.alarm_outbox_age_s > 0 and age is not None and age > s.alarm_outbox_age_s,
            "major",
            f"the oldest message for the centre is {age or 0:.0f} s old (threshold {s.alarm_outbox_age_s:g} s)",
        )
        await self._set(
            "publish_refused",
            self._pump.refused,
            "major",
            f"the broker refuses the station's messages: {self._pump.last_rejection} (check its ACL and the station id)",
        )
        offline = self._offline_for_s()
        await self._set(
            "offline",
            s.alarm_offline_s > 0 and offline is not None and offline > s.alarm_offline_s,
            "major",
            f"no connection to the centre's broker {s.broker} for {offline or 0:.0f} s",
        )
        return self.figures

    async def _set(self, code: str, on: bool, severity: str, message: str) -> None:
        if on == (code in self.active):
            return
        if self._alarms is not None:
            try:
                if on:
                    await self._alarms.raise_alarm(ALARM_SOURCE, code, severity, message, {})
                else:
                    await self._alarms.clear(ALARM_SOURCE, code)
            except StorageError as exc:
                log.error("uplink monitor: cannot %s alarm %s: %s", "raise" if on else "clear", code, exc)
                return
        (self.active.add if on else self.active.discard)(code)
        log.log(
            logging.WARNING if on else logging.INFO,
            "uplink alarm %s %s: %s",
            code,
            "raised" if on else "cleared",
            message,
        )
