"""Field devices: one row per device of every kind (door sensors, scales, tank probes …).

Layer: tui. Rows come from `device` events (`m.Device`), whatever the device kind: a new kind shows
here without a change to the TUI. The tab appears when the first device reports.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text

from edge.control import messages as m
from tui import format as fmt
from tui.widgets.tables import KeyedTable

COLUMNS = (
    ("Kind", "kind"),
    ("Device", "device"),
    ("State", "state"),
    ("Since", "at"),
    ("Readings", "fields"),
)


def device_cells(d: m.Device) -> tuple[str | Text, ...]:
    readings = "  ".join(f"{k}={v}" for k, v in sorted(d.fields.items()))
    return (d.kind, d.device, Text.styled(d.state.upper(), "bold"), fmt.clock(d.at), readings)


class DevicesPanel(KeyedTable):
    def __init__(self) -> None:
        super().__init__(COLUMNS, id="devices-table")

    def show(self, devices: Iterable[m.Device], *, reset: bool = False) -> None:
        if reset:
            self.reset()
        for device in devices:
            self.upsert(device.key, device_cells(device))
