"""The reports screen: a period picker, the period's main figures, sales by product and payment, and a
bar chart of sales by hour (day), day (month) or month (year).

Layer: tui. Reads `get_period_report` from the daemon (the figures are the daemon's, exact integers);
draws them at 80×24. Keys: `d` / `m` / `y` day, month, year; `←` / `→` previous / next period; `b` chart
by product instead of by time; `escape` back.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from edge.control import messages as m
from protocol.words import payment_words
from tui.client import NotConnected
from tui.format import centi, money
from tui.i18n import N_, _, current, language, translate_bindings
from tui.widgets.barchart import BarChart

if TYPE_CHECKING:
    from tui.app import StationApp

KIND_WORDS = {"day": N_("Day"), "month": N_("Month"), "year": N_("Year")}
TIME_SECTION = {"day": "hour", "month": "day", "year": "month"}
SECTION_WORDS = {
    "product": N_("By product"),
    "payment": N_("By payment mode"),
    "nozzle": N_("By nozzle"),
    "employee": N_("By employee"),
    "mode": N_("By consumption mode"),
    "card_kind": N_("By card kind"),
}
CHART_TITLES = {
    "hour": N_("Amount (¥) by hour"),
    "day": N_("Amount (¥) by day"),
    "month": N_("Amount (¥) by month"),
    "product": N_("Amount (¥) by product"),
}


def shift_period(kind: str, name: str, step: int) -> str:
    """The period `step` periods after `name` (pure): day ±1 day, month ±1 month, year ±1 year."""
    if kind == "day":
        return (dt.date.fromisoformat(name) + dt.timedelta(days=step)).isoformat()
    if kind == "month":
        year, month = (int(p) for p in name.split("-"))
        index = year * 12 + month - 1 + step
        return f"{index // 12:04d}-{index % 12 + 1:02d}"
    return f"{int(name) + step:04d}"


class ReportsScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", N_("Back")),
        Binding("d", "kind('day')", N_("Day")),
        Binding("m", "kind('month')", N_("Month")),
        Binding("y", "kind('year')", N_("Year")),
        Binding("left", "step(-1)", N_("Previous")),
        Binding("right", "step(1)", N_("Next")),
        Binding("b", "toggle_chart", N_("Chart by product/time")),
    ]

    def __init__(self, kind: str = "day", value: str = "") -> None:
        super().__init__()
        translate_bindings(self)
        self.kind = kind
        self.value = value
        self.report: m.PeriodReport | None = None
        self.chart_by_product = False

    def compose(self) -> ComposeResult:
        with Vertical(id="reports-box"):
            yield Static("", id="reports-period", markup=False)
            yield Static("", id="reports-state", markup=False)
            yield Static("", id="reports-figures", markup=False)
            with Horizontal(id="reports-body"):
                yield DataTable(id="reports-table", cursor_type="row", zebra_stripes=True)
                yield BarChart(id="reports-chart")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#reports-table", DataTable)
        table.add_columns(_("Item"), _("N"), _("Volume"), _("Amount"))
        self.load()

    @property
    def station_app(self) -> StationApp:
        return self.app  # type: ignore[return-value]

    @work(exclusive=True, group="reports")
    async def load(self) -> None:
        kind, value = _(KIND_WORDS[self.kind]), self.value or _("(current)")
        self.query_one("#reports-period", Static).update(f"{kind} {value} …")
        try:
            reply = await self.station_app.send_command(
                m.GetPeriodReport(kind=self.kind, value=self.value, language=language())
            )
        except (NotConnected, TimeoutError):
            self.notify(_("No answer from the daemon."), severity="error")
            return
        if isinstance(reply, m.Error):
            self.notify(f"{reply.code.upper()}: {reply.message}", severity="error", timeout=8)
            return
        if isinstance(reply, m.PeriodReport):
            self.show(reply)

    def show(self, report: m.PeriodReport) -> None:
        self.report = report
        self.value = report.name
        if report.closed_at:
            words = (
                _("closed {at} by {who}") if report.verified else _("closed {at} by {who} — FIGURES DIFFER")
            )
            state = words.format(at=report.closed_at[:16].replace("T", " "), who=report.closed_by)
        else:
            state = _("not closed") if report.kind == "day" else ""
        start, end = report.start.replace("T", " ")[:16], report.end.replace("T", " ")[:16]
        kind_words = _(KIND_WORDS[report.kind]) if report.kind in KIND_WORDS else report.kind
        self.query_one("#reports-period", Static).update(
            f"{kind_words} {report.name}   {start} – {end}   ←/→ d m y"
        )
        self.query_one("#reports-state", Static).update(state)
        t = report.total
        self.query_one("#reports-figures", Static).update(
            _("Sales {count}   Volume {volume}   Amount {amount}").format(
                count=t.count, volume=centi(t.volume), amount=money(t.amount)
            )
        )
        table = self.query_one("#reports-table", DataTable)
        table.clear()
        for section in report.sections:
            if section.dimension == TIME_SECTION.get(report.kind):
                continue
            title = SECTION_WORDS.get(section.dimension)
            table.add_row(Text(_(title) if title else section.title, style="bold"), "", "", "")
            for r in section.rows:
                label = payment_words(r.key, current()) if section.dimension == "payment" else r.label
                table.add_row(
                    Text(label[:16]),
                    Text(str(r.count), justify="right"),
                    Text(centi(r.volume), justify="right"),
                    Text(centi(r.amount), justify="right"),
                )
        self._chart()

    def _chart(self) -> None:
        if self.report is None:
            return
        wanted = "product" if self.chart_by_product else TIME_SECTION.get(self.report.kind, "hour")
        section = next((s for s in self.report.sections if s.dimension == wanted), None)
        rows = section.rows if section is not None else ()
        title = _(CHART_TITLES[wanted]) if wanted in CHART_TITLES else wanted
        items = [(r.label, r.amount, centi(r.amount)) for r in rows]
        self.query_one("#reports-chart", BarChart).show(title, items)

    def action_kind(self, kind: str) -> None:
        self.kind, self.value = kind, ""
        self.load()

    def action_step(self, step: int) -> None:
        if self.report is not None:
            self.value = shift_period(self.kind, self.report.name, step)
            self.load()

    def action_toggle_chart(self) -> None:
        self.chart_by_product = not self.chart_by_product
        self._chart()
