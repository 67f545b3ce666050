"""The tanks view: one level bar per tank (water, product, ullage), its figures and its alarms in words.

Layer: tui. Drawn from the `device` messages of kind `tank` (`edge.devices.tanks`), so it needs nothing
but the control API's message types. Two lines per tank, readable at 80×24 (eight tanks fit):

    T1 92#   ▓▓████████████████░░░░░░░░░░░░  52%   15 611 L  ullage 14 389 L  18.5 °C
             level 1 296.0 mm  water 12.0 mm  TC 15 648 L   ⚠ low product
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.widgets import Static

from edge.control import messages as m
from protocol.i18n import clip, ljust
from tui.format import alarm_text
from tui.i18n import N_, _

KIND = "tank"
BAR_CELLS = 30
NAME_CELLS = 9
STATE_WORDS = {
    "ok": N_("OK"),
    "error": N_("PROBE ERROR"),
    "bad_reading": N_("BAD READING"),
    "offline": N_("OFFLINE"),
}


def _num(fields: dict[str, m.JsonScalar], key: str) -> float:
    value = fields.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0.0


def _litres(value: float) -> str:
    return f"{value:,.0f}".replace(",", " ")


def tank_lines(d: m.Device) -> Text:
    """The two lines of one tank."""
    f = d.fields
    capacity = _num(f, "capacity_l") or 1.0
    water = _num(f, "water_volume_l")
    product = _num(f, "volume_l")
    ullage = _num(f, "ullage_l")
    water_cells = round(BAR_CELLS * water / capacity)
    product_cells = max(0, min(BAR_CELLS - water_cells, round(BAR_CELLS * product / capacity)))
    empty_cells = BAR_CELLS - water_cells - product_cells
    pct = 100 * product / capacity
    alarms = [a for a in str(f.get("alarms") or "").split(",") if a]
    healthy = d.state == "ok"
    product_style = "green" if not alarms else "yellow"
    if not healthy:
        product_style = "grey50"
    text = Text()
    text.append(ljust(clip(d.device, NAME_CELLS), NAME_CELLS) + " ", style="bold")
    text.append("▓" * water_cells, style="blue")
    text.append("█" * product_cells, style=product_style)
    text.append("░" * empty_cells, style="grey35")
    if healthy:
        text.append(f" {pct:3.0f}%  {_litres(product):>7} L  ")
        text.append(_("ullage {litres} L").format(litres=_litres(ullage)))
        text.append(f"  {_num(f, 'temperature_c'):.1f} °C")
    else:
        text.append("  " + _(STATE_WORDS.get(d.state, d.state)), style="bold red")
    text.append("\n" + " " * (NAME_CELLS + 1))
    if healthy:
        text.append(
            _("level {level} mm  water {water} mm  TC {tc} L").format(
                level=f"{_num(f, 'product_height_mm'):.1f}",
                water=f"{_num(f, 'water_height_mm'):.1f}",
                tc=_litres(_num(f, "tc_volume_l")),
            )
        )
    if f.get("delivering") is True:
        text.append("  " + _("DELIVERY"), style="bold cyan")
    for code in alarms:
        text.append("  ⚠ " + alarm_text(code, ""), style="bold yellow")
    return text


class TanksView(Static):
    """Every tank's bar; redrawn when a tank's message changes."""

    def __init__(self) -> None:
        super().__init__(id="tanks-view")
        self._tanks: dict[str, m.Device] = {}

    def show(self, devices: Iterable[m.Device], *, reset: bool = False) -> None:
        if reset:
            self._tanks.clear()
        changed = False
        for d in devices:
            if d.kind == KIND and self._tanks.get(d.key) != d:
                self._tanks[d.key] = d
                changed = True
        if changed or reset:
            self.refresh_view()

    def refresh_view(self) -> None:
        out = Text()
        for i, key in enumerate(sorted(self._tanks)):
            if i:
                out.append("\n")
            out.append_text(tank_lines(self._tanks[key]))
        self.update(out if self._tanks else _("No tank has reported yet."))
