"""What the daemon costs while it runs: event-loop lag and reply latencies, reported on request.

Layer: edge (a pure collector plus one asyncio probe task). The lag probe wakes every `LAG_PERIOD_S`
and records how late it woke: the time any line driver would have waited for the event loop. Both
line drivers note, for every reply they write, the time since the frame it answers was received
(`RecordAck`: record → durable commit → ack; `ListReply`/`GreyReply`: card query → decision). The
daemon logs `daemon statistics: {json}` on SIGUSR1 and at shutdown with the figures *since the
previous report* (so a reader can measure a window: one report to start it, one to end it).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

LAG_PERIOD_S = 0.05
MAX_SAMPLES = 100_000
"""Per figure between two reports (about an hour and a half of lag samples); older ones are dropped."""

DAEMON_STATISTICS = "daemon statistics"
_DAEMON_STATISTICS_RE = re.compile(rf"{DAEMON_STATISTICS}: (\{{.*\}})")


def quantile(values: Sequence[float], q: float) -> float:
    """Nearest-rank quantile (`q` in 0..1) of `values`; 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def summary_ms(values: Sequence[float]) -> dict[str, float]:
    """count, p50, p99 and max (milliseconds) of durations in seconds."""
    return {
        "count": len(values),
        "p50_ms": round(1000 * quantile(values, 0.5), 2),
        "p99_ms": round(1000 * quantile(values, 0.99), 2),
        "max_ms": round(1000 * max(values, default=0.0), 2),
    }


@dataclass(slots=True)
class LoadStats:
    """The samples since the last report."""

    loop_lag_s: deque[float] = field(default_factory=lambda: deque(maxlen=MAX_SAMPLES))
    replies_s: dict[str, deque[float]] = field(default_factory=dict)

    def note_reply(self, kind: str, seconds: float) -> None:
        samples = self.replies_s.get(kind)
        if samples is None:
            samples = self.replies_s[kind] = deque(maxlen=MAX_SAMPLES)
        samples.append(seconds)

    def report(self) -> dict[str, Any]:
        """The figures since the previous report; starts a new window."""
        out: dict[str, Any] = {"loop_lag": summary_ms(self.loop_lag_s)}
        out["replies"] = {kind: summary_ms(samples) for kind, samples in sorted(self.replies_s.items())}
        self.loop_lag_s.clear()
        self.replies_s.clear()
        return out


async def watch_loop_lag(stats: LoadStats, period_s: float = LAG_PERIOD_S) -> None:
    """Sleep `period_s` again and again; record how much later than asked the loop woke us."""
    loop = asyncio.get_running_loop()
    while True:
        due = loop.time() + period_s
        await asyncio.sleep(period_s)
        stats.loop_lag_s.append(max(0.0, loop.time() - due))


def format_report(report: dict[str, Any]) -> str:
    return f"{DAEMON_STATISTICS}: {json.dumps(report, sort_keys=True)}"


def parse_reports(log_text: str) -> list[dict[str, Any]]:
    """Every `daemon statistics` report in a daemon log, oldest first."""
    return [json.loads(m.group(1)) for m in _DAEMON_STATISTICS_RE.finditer(log_text)]
