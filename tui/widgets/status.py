"""The one-line status bar: station, daemon connection, operator (and a loud DEMO label), shift, alarms.

Layer: tui. Redrawn from the app's reactive `link` and `operator` and from model changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.content import Content
from textual.widgets import Static

from tui.format import role_word
from tui.i18n import _, ngettext

if TYPE_CHECKING:
    from tui.app import StationApp


class StatusBar(Static):
    DEFAULT_CLASSES = "status-bar"

    def on_mount(self) -> None:
        app = self.station_app
        self.watch(app, "link", lambda _: self.redraw(), init=False)
        self.watch(app, "operator", lambda _: self.redraw(), init=False)
        self.redraw()

    @property
    def station_app(self) -> StationApp:
        from tui.app import StationApp

        assert isinstance(self.app, StationApp)
        return self.app

    def redraw(self) -> None:
        app = self.station_app
        model = app.model
        online = app.link == "online"
        self.set_class(not online, "-down")
        parts: list[tuple[str, str] | str] = []
        station = model.station.id or (app.client.hello.station_id if app.client.hello else "")
        station = station or _("STATION")
        parts.append((f" {station} ", "bold"))
        parts.append((_("● ONLINE ") if online else _("○ DAEMON DOWN "), "bold"))
        session = app.session
        if session is not None:
            who = session.operator.display_name or session.operator.username
            if session.demo:
                parts.append((_(" DEMO OPERATOR "), "bold reverse"))
                parts.append(" ")
            parts.append(f"{who} ({role_word(session.operator.role.value)}) ")
        if session is None or not model.loaded:
            self.update(Content.assemble(*parts))
            return
        if model.shift is not None:
            parts.append(_("│ shift #{id} ").format(id=model.shift.id))
        else:
            parts.append(_("│ no shift "))
        unacked = model.unacknowledged
        if unacked:
            alarms = ngettext("│ {n} ALARM ", "│ {n} ALARMS ", unacked).format(n=unacked)
            parts.append((alarms, "bold"))
        switch = _("中文")  # the language switch (this screen's footer is full)
        parts.append(f"│ f2 {switch}")
        self.update(Content.assemble(*parts))
