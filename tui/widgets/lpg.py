"""Bottled LPG: the scales table (live weight, target, state, the refusal or fault in words) and the
cylinder store by state and specification.

Layer: tui. Scale rows come from `device` events of kind `scale` (the LPG component's `ScaleState`);
the store from the daemon's `lpg_store` reply.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.widgets import DataTable

from edge.control import messages as m
from tui.i18n import N_, _
from tui.widgets.tables import KeyedTable

SCALE_KIND = "scale"
SCALE_COLUMNS = (
    (N_("Scale"), "scale"),
    (N_("State"), "state"),
    (N_("Weight kg"), "gross"),
    (N_("Target kg"), "target"),
    (N_("Net kg"), "net"),
    (N_("Cylinder"), "barcode"),
)
STATE_WORDS = {
    "idle": N_("idle"),
    "filling": N_("FILLING"),
    "refused": N_("REFUSED"),
    "done": N_("done"),
    "overfilled": N_("OVER-FILLED"),
    "interrupted": N_("INTERRUPTED"),
    "offline": N_("OFFLINE"),
}
STATE_STYLES = {
    "filling": "bold yellow",
    "refused": "bold white on red",
    "overfilled": "bold white on red",
    "interrupted": "bold white on red",
    "offline": "bold red",
    "done": "bold green",
}
ALERT_STATES = frozenset({"refused", "overfilled", "interrupted", "offline"})
CYLINDER_STATES = (
    ("empty", N_("empty")),
    ("full", N_("full")),
    ("at_customer", N_("at customer")),
    ("in_inspection", N_("inspection")),
    ("problem", N_("problem")),
    ("scrapped", N_("scrapped")),
)


def _kg(value: m.JsonScalar) -> str:
    return f"{value:.2f}" if isinstance(value, int | float) and not isinstance(value, bool) else "–"


def state_text(state: str) -> Text:
    words = STATE_WORDS.get(state)
    return Text(_(words) if words else state, style=STATE_STYLES.get(state, ""))


def scale_cells(d: m.Device) -> tuple[str | Text, ...]:
    f = d.fields
    return (d.device, state_text(d.state), Text(_kg(f.get("gross_kg")), justify="right"),
            Text(_kg(f.get("target_kg")), justify="right"), Text(_kg(f.get("net_kg")), justify="right"),
            str(f.get("barcode") or ""))  # fmt: skip


def scale_alert(d: m.Device) -> Text | None:
    """The refusal, fault or over-fill of a scale in one line, readable at a glance (None: nothing)."""
    if d.state not in ALERT_STATES:
        return None
    barcode = d.fields.get("barcode") or ""
    what = str(d.fields.get("message") or "")
    text = Text()
    text.append(f" {d.device} ", style="bold white on red")
    text.append(" ")
    text.append(state_text(d.state))
    if barcode and d.state != "offline":
        text.append(f" {barcode}", style="bold")
    if what:
        text.append(f": {what}")
    return text


class ScalesTable(KeyedTable):
    def __init__(self) -> None:
        super().__init__(SCALE_COLUMNS, id="lpg-scales")

    def show(self, devices: Iterable[m.Device], *, reset: bool = False) -> None:
        if reset:
            self.reset()
        for d in devices:
            if d.kind == SCALE_KIND:
                self.upsert(d.key, scale_cells(d))


class StoreTable(DataTable[str | Text]):
    """Counts by specification (rows) and state (columns), with totals."""

    def __init__(self) -> None:
        super().__init__(id="lpg-store", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.add_column(_("Spec"), key="spec")
        for state, words in CYLINDER_STATES:
            self.add_column(_(words), key=state)
        self.add_column(_("Total"), key="total")

    def show(self, rows: Iterable[m.LpgStoreRow]) -> None:
        counts: dict[str, dict[str, int]] = {}
        for r in rows:
            counts.setdefault(r.spec, {})[r.state] = r.count
        self.clear()
        for spec in sorted(counts):
            by_state = counts[spec]
            cells = [Text(str(by_state.get(s, 0) or "·"), justify="right") for s, _w in CYLINDER_STATES]
            self.add_row(spec, *cells, Text(str(sum(by_state.values())), style="bold", justify="right"), key=spec)
        totals = [Text(str(sum(c.get(s, 0) for c in counts.values())), justify="right") for s, _w in CYLINDER_STATES]
        grand = sum(sum(c.values()) for c in counts.values())
        self.add_row(Text(_("All"), style="bold"), *totals, Text(str(grand), style="bold", justify="right"), key="*")
