"""The alarm sink every part of the daemon raises its alarms into.

Layer: edge core (protocol only). Implemented by `edge.station.BusAlarms` (stored durably, then
published on the bus as `AlarmRaised` / `AlarmCleared`).
"""

from __future__ import annotations

from typing import Any, Protocol


class AlarmSink(Protocol):
    async def raise_alarm(
        self, source: str, code: str, severity: str, message: str, details: dict[str, Any] | None = None
    ) -> int: ...

    async def clear(self, source: str, code: str) -> Any: ...
