"""The login screen: user name and password, then the employee card when the operator has one.

Layer: tui. A real station starts here; `--demo` skips it when the daemon runs a demo station. The
daemon decides everything (lockout after three failures, the card's time window); this screen shows
its answers in words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Center, Vertical
from textual.screen import Screen
from textual.widgets import Button, Footer, Input, Label, Static

from edge.control import messages as m
from tui import format as fmt
from tui.client import NotConnected
from tui.i18n import N_, _, translate_bindings
from tui.widgets.fields import TypeAheadInput
from tui.widgets.status import StatusBar

if TYPE_CHECKING:
    from tui.app import StationApp

ERROR_WORDS = {
    m.ErrorCode.LOCKED: N_("LOCKED"),
    m.ErrorCode.BAD_CREDENTIALS: N_("REFUSED"),
    m.ErrorCode.BAD_CARD: N_("WRONG CARD"),
    m.ErrorCode.CARD_TIMEOUT: N_("NO CARD"),
    m.ErrorCode.DEMO_DISABLED: N_("NOT A DEMO"),
}


class LoginScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f2", "app.switch_language", N_("中文")),
        Binding("ctrl+q", "app.quit", N_("Quit")),
    ]

    def __init__(self, message: str = "") -> None:
        super().__init__()
        translate_bindings(self)
        self._initial = message
        self._challenge: m.LoginChallenge | None = None

    @property
    def station_app(self) -> StationApp:
        from tui.app import StationApp

        assert isinstance(self.app, StationApp)
        return self.app

    def compose(self) -> ComposeResult:
        yield StatusBar()
        with Center(), Vertical(id="login-box"):
            yield Label(_("Operator login"), id="login-title")
            yield Static(id="login-daemon")
            yield TypeAheadInput(placeholder=_("user name"), id="username", next_field="password")
            yield Input(placeholder=_("password"), password=True, id="password")
            yield Input(placeholder=_("employee card number"), id="card", classes="-hidden")
            yield Button(_("Log in"), id="login-button", variant="primary")
            yield Static(self._initial, id="login-message")
        yield Footer()

    def on_mount(self) -> None:
        self.watch(self.station_app, "link", self._show_link)
        for widget in self.query(Input):
            widget.cursor_blink = self.station_app.blink
        self.query_one("#username", Input).focus()

    def _show_link(self, link: str) -> None:
        app = self.station_app
        if link == "online":
            text = _("Daemon: connected")
        else:
            text = _("Daemon: {reason}").format(reason=app.link_reason)
        self.query_one("#login-daemon", Static).update(text)
        self.query_one("#login-daemon").set_class(link != "online", "-down")

    def say(self, text: str, *, error: bool = False) -> None:
        message = self.query_one("#login-message", Static)
        message.update(text)
        message.set_class(error, "-error")

    @on(Input.Submitted, "#password")
    @on(Button.Pressed, "#login-button")
    def _submit(self) -> None:
        if self._challenge is not None:
            self._submit_card()
            return
        username = self.query_one("#username", Input).value.strip()
        password = self.query_one("#password", Input).value
        if not username:
            self.say(_("Type your user name."), error=True)
            self.query_one("#username", Input).focus()
            return
        self.login(username, password)

    @on(Input.Submitted, "#card")
    def _submit_card(self) -> None:
        if self._challenge is not None:
            self.send_card(self._challenge.challenge, self.query_one("#card", Input).value.strip())

    @work(exclusive=True, group="login")
    async def login(self, username: str, password: str) -> None:
        client = self.station_app.client
        self.say(_("Checking…"))
        try:
            sent = client.send(m.Login(username=username, password=password))
        except NotConnected:
            self.say(_("The daemon is not running: cannot log in now."), error=True)
            return
        try:
            reply = await client.reply(sent.id)
            if isinstance(reply, m.LoginChallenge):
                self._ask_card(reply)
                reply = await client.reply(sent.id, timeout_s=reply.seconds + 10)
        except TimeoutError:
            reply = m.Error(code=m.ErrorCode.CARD_TIMEOUT, message="no answer from the daemon")
        finally:
            client.done(sent.id)
        self._challenge = None
        self.query_one("#card", Input).add_class("-hidden")
        if isinstance(reply, m.LoginOk):
            self.say("")
            self.station_app.start_session(reply)
            return
        self._refused(reply)

    def _ask_card(self, challenge: m.LoginChallenge) -> None:
        self._challenge = challenge
        card = self.query_one("#card", Input)
        card.remove_class("-hidden")
        card.value = ""
        card.focus()
        self.say(
            _("Employee card: type or scan its number, or present it at a nozzle ({seconds} s).").format(
                seconds=challenge.seconds
            )
        )

    @work(group="card")
    async def send_card(self, challenge: str, asn: str) -> None:
        try:
            reply = await self.station_app.client.request(m.LoginCard(challenge=challenge, asn=asn))
        except (NotConnected, TimeoutError):
            self.say(_("The daemon does not answer."), error=True)
            return
        if isinstance(reply, m.Error):
            self._refused(reply)

    def _refused(self, reply: m.Reply) -> None:
        if isinstance(reply, m.Error):
            word = (
                ERROR_WORDS.get(m.ErrorCode(reply.code), N_("ERROR"))
                if reply.code in set(m.ErrorCode)
                else N_("ERROR")
            )
            self.say(_(word) + ": " + fmt.error_text(reply.code, reply.message), error=True)
        else:
            self.say(_("Unexpected answer: {type}").format(type=reply.TYPE), error=True)
        password = self.query_one("#password", Input)
        password.value = ""
        password.focus()
