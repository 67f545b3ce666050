"""Daemon idle cost: 16 dispensers polled for 60 s at 9600 baud (wire-time emulated).

Targets: < 3 % of one core, < 80 MB RSS, first poll < 2 s after start.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from bench.stationproc import cpu_seconds, rss_mb, start, wait_downloads, wait_first_poll

TARGET_CPU_PERCENT = 3.0
TARGET_RSS_MB = 80.0
TARGET_FIRST_POLL_S = 2.0


def run(seconds: float = 60.0, dispensers: int = 16) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp:
        station = start(Path(tmp), dispensers, 9600)
        try:
            first_poll = wait_first_poll(station)
            wait_downloads(station.folder, 2 * dispensers)
            cpu0, t0 = cpu_seconds(station.daemon.pid), time.monotonic()
            while time.monotonic() < t0 + seconds:
                time.sleep(0.5)
            cpu1, t1 = cpu_seconds(station.daemon.pid), time.monotonic()
            rss = rss_mb(station.daemon.pid)
        finally:
            stats = station.stop()
    cpu_pct = 100 * (cpu1 - cpu0) / (t1 - t0)
    print(
        f"idle: {dispensers} dispensers at 9600 baud for {seconds:.0f} s: CPU {cpu_pct:.2f} % of a core "
        f"(target < {TARGET_CPU_PERCENT} %), RSS {rss:.1f} MB (target < {TARGET_RSS_MB} MB), "
        f"first poll {first_poll:.2f} s after start (target < {TARGET_FIRST_POLL_S} s)"
    )
    return {
        "name": "idle",
        "value": round(cpu_pct, 3),
        "unit": "% of one core",
        "target": TARGET_CPU_PERCENT,
        "rss_mb": round(rss, 1),
        "rss_target_mb": TARGET_RSS_MB,
        "first_poll_s": round(first_poll, 3),
        "first_poll_target_s": TARGET_FIRST_POLL_S,
        "polls": stats.get("bus1", {}).get("polls", 0),
    }
