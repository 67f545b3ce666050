"""The main station screen: tabs for nozzles, sales, alarms, lines, shift and card decisions.

Layer: tui. Draws from the app's `StationModel`; `apply(changes)` redraws only what changed. Actions
that change the station (acknowledge, shifts, totals) are requests to the daemon; their bindings are
greyed out for roles that may not use them (the daemon refuses them anyway).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, TabbedContent, TabPane

from edge.control import messages as m
from tui import format as fmt
from tui.client import NotConnected
from tui.i18n import N_, _, language, translate_bindings
from tui.model import Changes
from tui.screens.report import HandoverScreen, ReportScreen
from tui.widgets.alarms import AlarmsTable, action_words
from tui.widgets.decisions import DecisionsPanel
from tui.widgets.devices import DevicesPanel
from tui.widgets.lines import LinesPanel
from tui.widgets.nozzles import NozzleGrid
from tui.widgets.sales import SalesTable
from tui.widgets.shift import ShiftPanel
from tui.widgets.status import StatusBar
from tui.widgets.tanks import KIND as TANK_KIND
from tui.widgets.tanks import TanksView

if TYPE_CHECKING:
    from tui.app import StationApp

TABS = (
    ("nozzles", N_("1 Nozzles")),
    ("sales", N_("2 Sales")),
    ("alarms", N_("3 Alarms")),
    ("lines", N_("4 Lines")),
    ("shift", N_("5 Shift")),
    ("decisions", N_("6 Cards")),
    ("devices", N_("7 Devices")),
    ("tanks", N_("8 Tanks")),
)
DEVICES_TAB = "devices"
TANKS_TAB = "tanks"
"""Hidden until the first tank reports (a station without tank gauges looks as before)."""
"""Hidden until the first field device reports (a station without devices looks as before)."""
ACTION_PERMISSIONS = {
    "open_shift": "open_shift",
    "close_shift": "close_shift",
    "report": "get_report",
    "read_totals": "read_totals",
    "reports": "get_period_report",
}

LPG_PERMISSIONS = {"filling": "lpg.fill", "counter": "lpg.customer", "store": "lpg.store"}
"""The LPG views (shown at a station with `[lpg]`) and the command each needs."""


class MainScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        *(Binding(str(i + 1), f"tab('{tab}')", label, show=False) for i, (tab, label) in enumerate(TABS)),
        Binding("o", "open_shift", N_("Open shift")),
        Binding("c", "close_shift", N_("Hand over")),
        Binding("r", "report", N_("Report")),
        Binding("t", "read_totals", N_("Totals")),
        Binding("p", "reports", N_("Reports"), show=False),
        Binding("k", "desk", N_("Desk"), show=False),
        Binding("g", "lpg('filling')", N_("Filling")),
        Binding("u", "lpg('counter')", N_("Counter")),
        Binding("s", "lpg('store')", N_("Store")),
        Binding("ctrl+l", "logout", N_("Logout")),
        Binding("f2", "app.switch_language", N_("中文"), show=False),  # shown in the status bar
        Binding("ctrl+q", "app.quit", N_("Quit")),
        Binding("q", "app.quit", N_("Quit"), show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        translate_bindings(self)
        self._told: set[str] = set()
        """Alarms with an action the attendant was already told about (a notification each, once)."""

    _devices_shown = False
    """The devices tab is shown (it stays hidden until a device reports)."""
    _tanks_shown = False
    """The tanks tab is shown (it stays hidden until a tank reports)."""
    _lpg = False
    """The station has LPG scales (a `scale` device reported): the LPG keys are shown."""
    _lines_stale = False
    """The line diagnostics changed while their tab was hidden."""

    @property
    def station_app(self) -> StationApp:
        from tui.app import StationApp

        assert isinstance(self.app, StationApp)
        return self.app

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with TabbedContent(initial="nozzles"):
            with TabPane(_(TABS[0][1]), id="nozzles"):
                yield NozzleGrid(id="nozzle-scroll")
            with TabPane(_(TABS[1][1]), id="sales"):
                yield SalesTable()
            with TabPane(_(TABS[2][1]), id="alarms"):
                yield AlarmsTable()
            with TabPane(_(TABS[3][1]), id="lines"):
                yield LinesPanel()
            with TabPane(_(TABS[4][1]), id="shift"):
                yield ShiftPanel()
            with TabPane(_(TABS[5][1]), id="decisions"):
                yield DecisionsPanel()
            with TabPane(_(TABS[6][1]), id=DEVICES_TAB):
                yield DevicesPanel()
            with TabPane(_(TABS[7][1]), id=TANKS_TAB):
                yield TanksView()
        yield Footer()

    def on_mount(self) -> None:
        self._devices_shown = False
        self._tanks_shown = False
        self.query_one(TabbedContent).hide_tab(DEVICES_TAB)
        self.query_one(TabbedContent).hide_tab(TANKS_TAB)
        self.apply(Changes(everything=True))

    def _set_lpg(self, present: bool) -> None:
        if present and not self._lpg:
            self._lpg = True
            self.refresh_bindings()

    # --- drawing ----------------------------------------------------------------------------------

    def apply(self, changes: Changes) -> None:
        model = self.station_app.model
        everything = changes.everything
        grid = self.query_one(NozzleGrid)
        if everything:
            grid.set_nozzles(model.nozzles.values())
        elif changes.nozzles:
            grid.update_nozzles(model.nozzles[k] for k in sorted(changes.nozzles))
        sales = self.query_one(SalesTable)
        if everything:
            sales.show(model.sales, reset=True)
        elif changes.sales:
            sales.show(changes.sales)
        alarms = self.query_one(AlarmsTable)
        if everything:
            alarms.show(model.alarms.values(), reset=True)
        else:
            alarms.show(model.alarms[k] for k in sorted(changes.alarms) if k in model.alarms)
            for key in changes.alarms_removed:
                alarms.discard(key)
        for key in sorted(model.alarms if everything else changes.alarms):
            alarm = model.alarms.get(key)
            if alarm is not None and alarm.action and not alarm.acknowledged_by and key not in self._told:
                self._told.add(key)  # once per alarm, not on every repeat
                self.notify(
                    f"{action_words(alarm)}: {fmt.alarm_text(alarm.code, alarm.message)}",
                    title=alarm.source,
                    severity="error",
                    timeout=30,
                )
        lines = self.query_one(LinesPanel)
        if self.query_one(TabbedContent).active != "lines":
            # The diagnostics change with every frame on every line: a hidden tab is brought up to
            # date when it is shown (`_show_lines`), not on every batch.
            self._lines_stale = self._lines_stale or bool(
                everything or changes.lines or changes.dispensers or changes.traces
            )
        elif everything:
            self._show_lines()
        else:
            lines.show_lines(model.lines[k] for k in sorted(changes.lines))
            lines.show_dispensers((k, model.dispensers[k]) for k in sorted(changes.dispensers))
            lines.show_traces(changes.traces)
        if everything or changes.shift:
            self.query_one(ShiftPanel).show_shift(model.shift)
        decisions = self.query_one(DecisionsPanel)
        if everything:
            decisions.show(model.decisions, reset=True)
        elif changes.decisions:
            decisions.show(changes.decisions)
        if everything or changes.devices:
            if any(d.kind == "scale" for d in model.devices.values()):
                self._set_lpg(True)
            if model.devices and not self._devices_shown:
                self._devices_shown = True
                self.query_one(TabbedContent).show_tab(DEVICES_TAB)
            devices = self.query_one(DevicesPanel)
            tanks = self.query_one(TanksView)
            if everything:
                devices.show(model.devices.values(), reset=True)
                tanks.show(model.devices.values(), reset=True)
            else:
                devices.show(model.devices[k] for k in sorted(changes.devices))
                tanks.show(model.devices[k] for k in sorted(changes.devices))
            if not self._tanks_shown and any(d.kind == TANK_KIND for d in model.devices.values()):
                self._tanks_shown = True
                self.query_one(TabbedContent).show_tab(TANKS_TAB)
        if everything or changes.alarms or changes.alarms_removed:
            unacked = model.unacknowledged
            label = _("3 Alarms ({n})").format(n=unacked) if unacked else _(TABS[2][1])
            self.query_one(TabbedContent).get_tab("alarms").label = label
        self.query_one(StatusBar).redraw()

    # --- actions ----------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "lpg":
            if not self._lpg:
                return False  # not an LPG station: the keys are not shown
            needed = LPG_PERMISSIONS.get(str(parameters[0]) if parameters else "", "lpg.store")
            return True if self.station_app.may(needed) else None
        command = ACTION_PERMISSIONS.get(action)
        if command is None:
            return True
        return True if self.station_app.may(command) else None

    def action_tab(self, tab: str) -> None:
        if (tab == DEVICES_TAB and not self._devices_shown) or (tab == TANKS_TAB and not self._tanks_shown):
            return
        tabs = self.query_one(TabbedContent)
        tabs.active = tab
        self._focus_pane(tab)

    @on(TabbedContent.TabActivated)
    def _tab_clicked(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "lines" and self._lines_stale:
            self._show_lines()
        if event.pane.id:
            self._focus_pane(event.pane.id)

    def _show_lines(self) -> None:
        model = self.station_app.model
        lines = self.query_one(LinesPanel)
        lines.show_lines(model.lines.values(), reset=True)
        lines.show_dispensers(model.dispensers.items(), reset=True)
        lines.show_traces(model.traces, reset=True)
        self._lines_stale = False

    def _focus_pane(self, tab: str) -> None:
        """Keyboard first: the pane's first focusable widget takes the focus (and shows its keys)."""
        pane = self.query_one(TabbedContent).get_pane(tab)
        for widget in pane.query("*"):
            if widget.focusable:
                widget.focus()
                return
        self.set_focus(None)  # a focused widget left behind in a hidden pane would pull its tab back

    @on(AlarmsTable.AckRequested)
    def _ack(self, event: AlarmsTable.AckRequested) -> None:
        if not self.station_app.may("ack_alarm"):
            self.notify(_("Your role may not acknowledge alarms."), severity="warning")
            return
        done = _("Alarm {id} acknowledged").format(id=event.alarm_id)
        self.command(m.AckAlarm(alarm_id=event.alarm_id), done)

    def action_open_shift(self) -> None:
        self.command(m.OpenShift(), _("Shift opened"), tab="shift")

    def action_close_shift(self) -> None:
        def closed(handover_to: str | None) -> None:
            if handover_to is not None:
                request = m.CloseShift(handover_to=handover_to, language=language())
                self.command(request, _("Shift closed"), tab="shift")

        self.app.push_screen(HandoverScreen(), closed)

    def action_report(self) -> None:
        self.command(m.GetReport(language=language()), "")

    def action_reports(self) -> None:
        from tui.screens.reports import ReportsScreen

        self.app.push_screen(ReportsScreen())

    def action_desk(self) -> None:
        from tui.screens.desk import DeskScreen

        self.app.push_screen(DeskScreen(self.station_app.report_dir))

    def action_lpg(self, view: str) -> None:
        from tui.screens.lpg import CounterScreen, FillingScreen, StoreScreen

        screens = {"filling": FillingScreen, "counter": CounterScreen, "store": StoreScreen}
        if self._lpg and view in screens:
            self.app.push_screen(screens[view]())

    def action_read_totals(self) -> None:
        self.command(m.ReadTotals(), _("Totals read"), tab="shift")

    def action_logout(self) -> None:
        self.station_app.logout()

    @work(group="commands")
    async def command(self, request: m.AuthRequest, done: str, tab: str = "") -> None:
        app = self.station_app
        try:
            reply = await app.send_command(request)
        except NotConnected:
            self.notify(_("The daemon is not running."), severity="error")
            return
        except TimeoutError:
            self.notify(
                _("No answer from the daemon to {request}.").format(request=request.TYPE), severity="error"
            )
            return
        if isinstance(reply, m.Error):
            if reply.code == m.ErrorCode.UNAUTHENTICATED:
                app.session_lost(reply.message)
                return
            text = fmt.error_text(reply.code, reply.message)
            self.notify(f"{reply.code.upper()}: {text}", severity="error", timeout=8)
            return
        if tab:
            self.action_tab(tab)
        if isinstance(reply, m.Report) and reply.report is not None:
            self.app.push_screen(ReportScreen(reply.report, app.report_dir))
        elif isinstance(reply, m.Totals):
            self.query_one(ShiftPanel).show_totals(reply.readings)
        if done:
            self.notify(done)
