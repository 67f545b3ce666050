"""Live nozzle status to the centre: latest value per nozzle, published at a fixed rate, QoS 0.

Layer: uplink. The bus bridge calls `update()` with each (already coalesced) `NozzleStatus`; only the
newest status per nozzle is kept, so memory is bounded by the number of nozzles whatever the event
rate. Every `interval_s` the nozzles that changed since the last message go out in one
`LivePayload` on `station/{id}/live` (QoS 0, not stored: a lost message is superseded by the next).
The first message of each connection carries every known nozzle (`full: true`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Hashable
from typing import Protocol

from edge.events import NozzleStatus
from storage.clock import iso_instant, utc_now
from uplink import payloads as p
from uplink.errors import LinkError
from uplink.topics import live as live_topic


class LiveLink(Protocol):
    """What the publisher needs of a link (see `uplink.link.MqttLink.publish_nowait`)."""

    def publish_nowait(self, topic: str, payload: bytes, qos: int = 0, retain: bool = False) -> None: ...


class LiveStatus:
    def __init__(self, station: str, interval_s: float) -> None:
        self._station = station
        self._topic = live_topic(station)
        self._interval_s = interval_s
        self._latest: dict[Hashable, p.LiveNozzle] = {}
        self._changed: set[Hashable] = set()
        self.published = 0

    @property
    def enabled(self) -> bool:
        return self._interval_s > 0

    def update(self, status: NozzleStatus) -> None:
        key = (status.line, status.dispenser, status.nzn)
        self._latest[key] = p.LiveNozzle(
            line=status.line,
            dispenser=status.dispenser,
            nzn=status.nzn,
            state=str(status.state),
            g_code=status.g_code,
            amn=status.amn,
            vol=status.vol,
            prc=status.prc,
            at=iso_instant(status.at),
        )
        self._changed.add(key)

    def message(self, *, full: bool) -> bytes | None:
        """The next payload (None when nothing changed); clears the change set."""
        keys = list(self._latest) if full else [k for k in self._latest if k in self._changed]
        self._changed.clear()
        if not keys:
            return None
        nozzles = tuple(self._latest[k] for k in keys)
        return p.encode(p.LivePayload(self._station, iso_instant(utc_now()), full, nozzles))

    async def run(self, link: LiveLink) -> None:
        """Publish until cancelled (does nothing when disabled)."""
        if not self.enabled:
            await asyncio.Event().wait()
        full = True
        while True:
            data = self.message(full=full)
            full = False
            if data is not None:
                try:
                    link.publish_nowait(self._topic, data, 0)
                except LinkError:
                    return  # the connection is going away; the service starts a new run
                self.published += 1
            await asyncio.sleep(self._interval_s)
