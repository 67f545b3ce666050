"""The daily close's sales tracker, the housekeeping jobs (backups, archive), the record integrity watch
and the clock watch as components.

Layer: edge (components). Every station runs all four; housekeeping returns at once when `[housekeeping]`
configures no job.
"""

from __future__ import annotations

from edge.clock_guard import clock_task
from edge.config import Config
from edge.control.dayclose import day_close_task
from edge.core.component import ComponentKind
from edge.housekeeping import housekeeping_task
from edge.record_integrity import integrity_task
from edge.rules_components import TaskComponent, always
from edge.station import Parts

DAY_CLOSE: ComponentKind[Config, Parts] = ComponentKind(
    name="daily close",
    table=None,
    configure=always,
    build=lambda _config, parts: TaskComponent("daily close", lambda: day_close_task(parts.station)),
)
"""Keeps the daily close's view of the sales in progress."""

HOUSEKEEPING: ComponentKind[Config, Parts] = ComponentKind(
    name="housekeeping",
    table=None,
    configure=always,
    build=lambda _config, parts: TaskComponent("housekeeping", lambda: housekeeping_task(parts.station)),
)
"""Runs the configured daily jobs (`[housekeeping]`: backups, archive)."""

INTEGRITY: ComponentKind[Config, Parts] = ComponentKind(
    name="record integrity",
    table=None,
    configure=always,
    build=lambda _config, parts: TaskComponent("record integrity", lambda: integrity_task(parts.station)),
)
"""Verifies the journal's checksums now and the database on schedule (`edge.record_integrity`)."""

CLOCK_WATCH: ComponentKind[Config, Parts] = ComponentKind(
    name="clock watch",
    table=None,
    configure=always,
    build=lambda _config, parts: TaskComponent("clock watch", lambda: clock_task(parts.station)),
)
"""Watches the wall clock against the monotonic clock; raises and clears `clock_step` (`edge.clock_guard`)."""
