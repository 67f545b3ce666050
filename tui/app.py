"""The attendant terminal UI: the App, its screens, the one worker that drains the daemon's feed.

Layer: tui. `station tui` runs `python -m tui`. The feed worker (`FeedClient.run`) stores what it
reads in `inbox` and posts at most one pending `FeedChanged` message; the handler folds everything
into the `StationModel` and asks the main screen to redraw what changed. So a burst of events costs
one redraw, and a UI that falls far behind drops its inbox and reconnects for a fresh snapshot.

Language (`tui.i18n`): before login the station's (the daemon's hello, or `--language`), after login
the operator's own preference when they have one; `f2` switches by hand for the rest of the session.
A switch recomposes the current screen from the model, so nothing is fetched again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import threading
import time
from collections import deque
from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive

from edge.control import messages as m
from tui.client import Batch, Connected, Disconnected, FeedClient, FeedItem, NotConnected
from tui.i18n import N_, _, next_language, set_language, translate_bindings
from tui.model import Changes, StationModel
from tui.screens.login import LoginScreen
from tui.screens.lpg import FillingScreen
from tui.screens.main import MainScreen

STOP_GRACE_S = 2.0
EXIT_SIGTERM = 128 + signal.SIGTERM
MAX_INBOX = 5_000
MIN_REFRESH_S = 0.5
"""At most two screen updates a second: a busy station (64 nozzles at 5 Hz) folds into one redraw
per frame instead of one per burst, which keeps the UI's CPU share and the bytes it sends to the
terminal (SSH, sometimes a mobile link) small on a station box."""


class FeedChanged(Message):
    """The inbox has something (at most one of these is pending)."""


class StationApp(App[None]):
    CSS_PATH = "styles/app.tcss"
    TITLE = "Station"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit", N_("Quit"), priority=True),
        Binding("f2", "switch_language", N_("中文"), show=False),
    ]

    link: reactive[str] = reactive("connecting")
    """connecting, online, down"""
    operator: reactive[str] = reactive("")

    def __init__(
        self,
        socket_path: str | Path,
        *,
        demo: bool = False,
        retry_s: float = 1.0,
        report_dir: Path | None = None,
        blink: bool = True,
        language: str | None = None,
        stop_on_signals: bool = False,
    ) -> None:
        super().__init__()
        self.station_language = language or ""
        """The station's language: `--language`, else the daemon's hello ('' until known: zh_CN)."""
        self._language_given = language is not None
        self._chosen_language = ""
        """Switched by hand (`f2`) during this session."""
        if language:
            set_language(language)
        translate_bindings(self)
        self.client = FeedClient(socket_path, retry_s=retry_s)
        self.model = StationModel()
        self.demo = demo
        self.report_dir = report_dir or Path.cwd()
        self.blink = blink
        self.stop_on_signals = stop_on_signals
        self.session: m.LoginOk | None = None
        self.link_reason = _("connecting…")
        self.inbox: deque[FeedItem] = deque()
        self._notified = False
        self._last_apply = 0.0

    def on_mount(self) -> None:
        if self.stop_on_signals:
            # SIGTERM (a supervisor, `station demo` stopping): leave the way Ctrl-Q does, so the terminal
            # is restored; if that cannot finish within STOP_GRACE_S (the terminal is gone), end anyway.
            # SIGHUP keeps its default: the terminal is gone, there is nothing to restore.
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, self._stop_on_signal)
        self.push_screen(LoginScreen(self._login_greeting()))
        self.run_worker(self.client.run(self._receive), name="daemon-feed", group="feed", exclusive=True)

    def _stop_on_signal(self) -> None:
        timer = threading.Timer(STOP_GRACE_S, os._exit, args=(EXIT_SIGTERM,))
        timer.daemon = True
        timer.start()
        self.exit()

    # --- the feed ---------------------------------------------------------------------------------

    def _receive(self, item: FeedItem) -> None:
        """Called by the feed worker for everything it reads; never blocks."""
        self.inbox.append(item)
        if len(self.inbox) > MAX_INBOX:  # far behind: forget it all, start again from a snapshot
            self.inbox.clear()
            self.inbox.append(Disconnected(_("RESYNCHRONISING (the screen fell behind)"), running=True))
            self.run_worker(self.client.close(), group="resync")
        if not self._notified:
            self._notified = True
            wait_s = self._last_apply + MIN_REFRESH_S - time.monotonic()
            if wait_s > 0:
                self.set_timer(wait_s, lambda: self.post_message(FeedChanged()))
            else:
                self.post_message(FeedChanged())

    def on_feed_changed(self, _message: FeedChanged) -> None:
        self._notified = False
        self._last_apply = time.monotonic()
        changes = Changes()
        while self.inbox:
            item = self.inbox.popleft()
            match item:
                case Connected(hello=hello):
                    self.link_reason, self.link = _("connected"), "online"
                    self._station_language(hello.language)
                    self._connected()
                case Disconnected(reason=reason):
                    self.link_reason, self.link = reason, "down"
                case m.Snapshot():
                    changes = self.model.load(item)
                case Batch(events=events):
                    new = self.model.apply(events)
                    if not changes.everything:
                        _merge(changes, new)
        if changes:
            for screen in self.screen_stack:
                # A screen still being built (a language switch recomposes it) draws everything from
                # the model in its own on_mount: until then it has no widgets to update.
                if isinstance(screen, MainScreen | FillingScreen) and screen.is_mounted:
                    screen.apply(changes)
            if changes.devices:
                self._desk_devices(changes.devices)

    def _desk_devices(self, keys: set[str]) -> None:
        """The desk reader's `device` messages to an open desk screen (the card as it is inserted)."""
        from tui.screens.desk import DeskScreen

        for screen in self.screen_stack:
            if isinstance(screen, DeskScreen) and screen.is_mounted:
                for key in sorted(keys):
                    device = self.model.devices.get(key)
                    if device is not None and device.kind == "desk":
                        screen.device_event(device)

    # --- language ---------------------------------------------------------------------------------

    def _login_greeting(self) -> str:
        return _("Demo: logging in as the demo operator…") if self.demo else ""

    def _station_language(self, language: str) -> None:
        """The daemon told us the station's language: the login screen speaks it (unless `--language`
        chose one, or someone is logged in)."""
        if self._language_given or not language:
            return
        self.station_language = language
        if self.session is None and not self._chosen_language and set_language(language):
            self._recompose_screen()

    def _recompose_screen(self) -> None:
        translate_bindings(self)
        if isinstance(self.screen, MainScreen):
            self.switch_screen(MainScreen())
        elif isinstance(self.screen, LoginScreen):
            self.switch_screen(LoginScreen(self._login_greeting()))
        else:
            self.refresh_bindings()

    def action_switch_language(self) -> None:
        """`f2`: the other language, for the rest of this session (or until the next login)."""
        self._chosen_language = next_language()
        set_language(self._chosen_language)
        if not isinstance(self.screen, MainScreen | LoginScreen):
            self.pop_screen()  # a dialog: close it, the screen below is redrawn in the new language
        self._recompose_screen()

    def _session_language(self, session: m.LoginOk | None) -> None:
        """After login the operator's language, after logout the station's (a hand switch is forgotten)."""
        self._chosen_language = ""
        wanted = (session.operator.language if session is not None else "") or self.station_language
        set_language(wanted or "zh_CN")
        translate_bindings(self)

    def _connected(self) -> None:
        if self.session is not None:
            self.check_session()
        elif self.demo:
            self.demo_login()

    # --- sessions ---------------------------------------------------------------------------------

    def may(self, command: str) -> bool:
        return self.session is not None and command in self.session.permissions

    def start_session(self, session: m.LoginOk) -> None:
        self.session = session
        self.operator = session.operator.username
        self._session_language(session)
        self.switch_screen(MainScreen())

    def session_lost(self, why: str) -> None:
        self.session = None
        self.operator = ""
        self._session_language(None)
        self.switch_screen(LoginScreen(_("Logged out: {why}").format(why=why)))
        if self.demo:
            self.demo_login()

    def logout(self) -> None:
        if self.session is not None:
            token = self.session.token
            self.run_worker(self._send_logout(token), group="logout")
        self.session = None
        self.operator = ""
        self._session_language(None)
        self.switch_screen(LoginScreen(_("Logged out.")))

    async def _send_logout(self, token: str) -> None:
        with contextlib.suppress(NotConnected, TimeoutError):
            await self.client.request(m.Logout(token=token))

    async def send_command(self, request: m.AuthRequest) -> m.Reply:
        if self.session is None:
            return m.Error(code=m.ErrorCode.UNAUTHENTICATED, message=_("not logged in"))
        return await self.client.request(dataclasses.replace(request, token=self.session.token))

    @work(exclusive=True, group="session")
    async def check_session(self) -> None:
        """After a reconnect: is our session still valid (a daemon restart ends every session)?"""
        try:
            reply = await self.send_command(m.WhoAmI())
        except (NotConnected, TimeoutError):
            return
        if isinstance(reply, m.Error) and reply.code == m.ErrorCode.UNAUTHENTICATED:
            self.session_lost(_("the daemon restarted or the session expired"))

    @work(exclusive=True, group="session")
    async def demo_login(self) -> None:
        try:
            reply = await self.client.request(m.DemoLogin())
        except (NotConnected, TimeoutError):
            return
        if isinstance(reply, m.LoginOk):
            self.start_session(reply)
        elif isinstance(reply, m.Error) and isinstance(self.screen, LoginScreen):
            self.screen.say(_("Demo login refused: {why}").format(why=reply.message), error=True)


def _merge(into: Changes, new: Changes) -> None:
    into.merge(new)


def run_app(socket_path: str | Path, *, demo: bool = False, language: str | None = None) -> int:
    StationApp(socket_path, demo=demo, language=language, stop_on_signals=True).run()
    return 0
