"""The shift panel: the open shift, the last totals read, and the shift actions (keys in the footer).

Layer: tui. The actions themselves (requests to the daemon) live in the main screen.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.containers import Vertical
from textual.widgets import Static

from edge.control import messages as m
from tui import format as fmt
from tui.i18n import _


class ShiftPanel(Vertical, can_focus=True):
    def compose(self) -> Iterable[Static]:
        yield Static(id="shift-info")
        yield Static(id="totals-info")
        yield Static(
            _(
                "o open a shift · c close / hand over (reads the totals, makes the report) · "
                "r report of the open shift · t read the totals now"
            ),
            id="shift-help",
        )

    def show_shift(self, shift: m.ShiftView | None) -> None:
        info = self.query_one("#shift-info", Static)
        if shift is None:
            info.update(_("No shift is open."))
            info.set_class(True, "-none")
            return
        info.set_class(False, "-none")
        text = _("Shift #{id} OPEN since {since} by {who}").format(
            id=shift.id, since=fmt.clock(shift.opened_at, with_date=True), who=shift.opened_by
        )
        if shift.note:
            text += f"\n{shift.note}"
        info.update(text)

    def show_totals(self, readings: Iterable[m.TotalsReading]) -> None:
        fresh, stored = _("read now"), _("last stored")
        rows = [
            f"{r.line}/{r.dispenser} N{r.nzn}: {fmt.centi(r.v_tot):>12}  {fresh if r.fresh else stored}"
            f" {fmt.clock(r.read_at)}"
            for r in readings
        ]
        text = _("Totals") + "\n" + "\n".join(rows) if rows else _("No totals.")
        self.query_one("#totals-info", Static).update(text)
