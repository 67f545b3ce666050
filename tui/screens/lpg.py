"""Bottled LPG screens: filling (scales live, a fill started by scanning), the counter (customer look-up,
cylinders out and in with a confirmation) and the cylinder store (counts by state and specification).

Layer: tui. Opened from the main screen at a station with `[lpg]` (`g`, `u`, `s`); everything is a
request to the daemon (`lpg.fill`, `lpg.customer`, `lpg.handout`, `lpg.return`, `lpg.store`), which
checks the role and the rules and answers a refusal in words. Usable at 80×24.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Input, Static

from edge.control import messages as m
from tui import format as fmt
from tui.client import NotConnected
from tui.i18n import N_, _, translate_bindings
from tui.model import Changes
from tui.widgets.lpg import SCALE_KIND, ScalesTable, StoreTable, scale_alert

if TYPE_CHECKING:
    from tui.app import StationApp

__all__ = ["ConfirmScreen", "CounterScreen", "FillingScreen", "StoreScreen"]


def _refusal(reply: m.Error) -> str:
    """The daemon's refusal: what the code means in the UI's language, and the daemon's reason in words."""
    meaning = fmt.error_text(reply.code, "")
    return f"{meaning}: {reply.message}" if meaning and meaning != reply.message else reply.message


FILL_REFUSALS: dict[str, str] = {
    "unknown": N_("the cylinder is not in the registry"),
    "scrapped": N_("the cylinder is scrapped"),
    "overdue": N_("inspection overdue: the cylinder must not be filled"),
    "no_tare": N_("the cylinder's tare weight is unknown"),
    "no_spec": N_("the cylinder's specification is not configured"),
    "wrong_state": N_("the cylinder is not an empty one at the station"),
}
"""What each refusal code of a fill (`edge.devices.lpg.fitness.RefusalCode`) means, in the UI's language."""


def fill_refusal(reply: m.LpgFillResult) -> str:
    """A refused fill at a glance: the code's meaning in the UI's language, then the daemon's details."""
    meaning = FILL_REFUSALS.get(reply.code)
    if meaning is None:
        return _("REFUSED {barcode}: {reason}").format(barcode=reply.barcode, reason=reply.reason)
    return _("REFUSED {barcode}: {meaning} ({reason})").format(
        barcode=reply.barcode, meaning=_(meaning), reason=reply.reason
    )


class _LpgScreen(Screen[None]):
    @property
    def station_app(self) -> StationApp:
        return self.app  # type: ignore[return-value]

    async def ask(self, request: m.AuthRequest) -> m.Reply | None:
        """The daemon's reply, or None after telling the operator why there is none."""
        app = self.station_app
        try:
            reply = await app.send_command(request)
        except NotConnected:
            self.notify(_("The daemon is not running."), severity="error")
            return None
        except TimeoutError:
            self.notify(_("No answer from the daemon to {request}.").format(request=request.TYPE), severity="error")
            return None
        if isinstance(reply, m.Error) and reply.code == m.ErrorCode.UNAUTHENTICATED:
            app.session_lost(reply.message)
            return None
        return reply


class FillingScreen(_LpgScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", N_("Back")),
    ]

    def __init__(self) -> None:
        super().__init__()
        translate_bindings(self)

    def compose(self) -> ComposeResult:
        with Vertical(id="lpg-box"):
            yield Static(_("Filling — scan a cylinder, choose the scale, Enter"), id="lpg-title")
            yield ScalesTable()
            yield Static("", id="lpg-alert")
            with Horizontal(id="lpg-entry"):
                yield Input(placeholder=_("Cylinder barcode"), id="lpg-barcode")
                yield Input(placeholder=_("Scale"), id="lpg-scale")
                yield Button(_("Fill"), id="lpg-fill", variant="primary")
        yield Footer()

    def on_mount(self) -> None:
        self.apply(Changes(everything=True))
        self.query_one("#lpg-barcode", Input).focus()

    def scales(self) -> list[m.Device]:
        return [d for d in self.station_app.model.devices.values() if d.kind == SCALE_KIND]

    def apply(self, changes: Changes) -> None:
        model = self.station_app.model
        table = self.query_one(ScalesTable)
        if changes.everything:
            table.show(self.scales(), reset=True)
        else:
            table.show(model.devices[k] for k in sorted(changes.devices) if k in model.devices)
        scale_input = self.query_one("#lpg-scale", Input)
        names = sorted(d.device for d in self.scales())
        if not scale_input.value and names:
            scale_input.value = names[0]
        alerts = [a for a in (scale_alert(d) for d in sorted(self.scales(), key=lambda d: d.device)) if a]
        self.query_one("#lpg-alert", Static).update(Text("\n").join(alerts[:3]) if alerts else "")

    @on(Input.Submitted)
    @on(Button.Pressed, "#lpg-fill")
    def _submitted(self) -> None:
        barcode = self.query_one("#lpg-barcode", Input).value.strip()
        scale = self.query_one("#lpg-scale", Input).value.strip()
        if not barcode:
            self.query_one("#lpg-barcode", Input).focus()
            return
        if not scale:
            self.query_one("#lpg-scale", Input).focus()
            return
        self.fill(barcode, scale)

    @work(group="lpg")
    async def fill(self, barcode: str, scale: str) -> None:
        reply = await self.ask(m.LpgFill(barcode=barcode, scale=scale, wait=False))
        if reply is None:
            return
        if isinstance(reply, m.Error):
            self.notify(_refusal(reply), severity="error", timeout=10)
            return
        if isinstance(reply, m.LpgFillResult):
            if reply.status == "refused":
                self.notify(fill_refusal(reply), severity="error", timeout=15)
            else:
                self.notify(_("Filling {barcode} on {scale} to {target} kg").format(
                    barcode=barcode, scale=scale, target=f"{reply.target_kg or 0:.2f}"))  # fmt: skip
                self.query_one("#lpg-barcode", Input).value = ""


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", N_("Yes")),
        Binding("n", "answer(False)", N_("No")),
        Binding("escape", "answer(False)", N_("No"), show=False),
    ]

    def __init__(self, question: str) -> None:
        super().__init__()
        translate_bindings(self)
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="lpg-confirm"):
            yield Static(self.question, markup=False)
            yield Static(_("y = yes   n = no"))

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class CounterScreen(_LpgScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", N_("Back")),
        Binding("ctrl+o", "move('out')", N_("Hand out")),
        Binding("ctrl+r", "move('in')", N_("Return")),
    ]

    def __init__(self) -> None:
        super().__init__()
        translate_bindings(self)
        self.customer: m.LpgCustomerView | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="lpg-box"):
            yield Static(_("Counter — customer by ID number or customer card, Enter"), id="lpg-title")
            yield Input(placeholder=_("ID number or customer card"), id="lpg-key")
            yield Static(_("No customer"), id="lpg-customer")
            yield Static("", id="lpg-warning")
            yield Input(placeholder=_("Cylinder barcodes, separated by spaces"), id="lpg-barcodes")
            with Horizontal(id="lpg-buttons"):
                yield Button(_("Hand out"), id="lpg-out", variant="primary")
                yield Button(_("Return"), id="lpg-in")
            yield Static("", id="lpg-result")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#lpg-key", Input).focus()

    @on(Input.Submitted, "#lpg-key")
    def _lookup(self) -> None:
        key = self.query_one("#lpg-key", Input).value.strip()
        if key:
            self.lookup(key)

    @work(group="lpg")
    async def lookup(self, key: str) -> None:
        reply = await self.ask(m.LpgCustomer(key=key))
        if isinstance(reply, m.Error):
            self.customer = None
            self.query_one("#lpg-customer", Static).update(Text(_refusal(reply), "bold red"))
            self.query_one("#lpg-warning", Static).update("")
        elif isinstance(reply, m.LpgCustomerView):
            self.show_customer(reply)
            self.query_one("#lpg-barcodes", Input).focus()

    def show_customer(self, c: m.LpgCustomerView) -> None:
        self.customer = c
        held = ", ".join(c.cylinders_out) or _("none")
        words = _("{name} ({kind})  ID {id}  tel {phone}\nGas-use address: {address}\n"
                  "Last safety inspection: {check}   Cylinders held: {held}")  # fmt: skip
        text = words.format(name=c.name, kind=c.kind, id=c.id_number, phone=c.phone or "–",
                            address=c.gas_address or "–", check=c.last_safety_check or "–", held=held)  # fmt: skip
        self.query_one("#lpg-customer", Static).update(text)
        warning = self.query_one("#lpg-warning", Static)
        warning.update(Text(f" ⚠ {c.warning} ", style="bold white on red") if c.warning else "")

    @on(Input.Submitted, "#lpg-barcodes")
    @on(Button.Pressed, "#lpg-out")
    def _out(self) -> None:
        self.action_move("out")

    @on(Button.Pressed, "#lpg-in")
    def _in(self) -> None:
        self.action_move("in")

    def action_move(self, direction: str) -> None:
        c = self.customer
        barcodes = tuple(self.query_one("#lpg-barcodes", Input).value.replace(",", " ").split())
        if c is None:
            self.notify(_("Look the customer up first."), severity="warning")
            return
        if not barcodes:
            self.notify(_("Scan the cylinders first."), severity="warning")
            self.query_one("#lpg-barcodes", Input).focus()
            return
        words = _("Hand out {barcodes} to {name}?") if direction == "out" else _("Take back {barcodes} from {name}?")
        question = words.format(barcodes=" ".join(barcodes), name=c.name)

        def answered(yes: bool | None) -> None:
            if yes:
                self.move(direction, c.customer_id, barcodes)

        self.app.push_screen(ConfirmScreen(question), answered)

    @work(group="lpg")
    async def move(self, direction: str, customer_id: int, barcodes: tuple[str, ...]) -> None:
        request: m.AuthRequest = (
            m.LpgHandout(customer_id=customer_id, barcodes=barcodes)
            if direction == "out"
            else m.LpgReturn(customer_id=customer_id, barcodes=barcodes)
        )
        reply = await self.ask(request)
        result = self.query_one("#lpg-result", Static)
        if isinstance(reply, m.Error):
            result.update(Text(_refusal(reply), style="bold white on red"))
            return
        if isinstance(reply, m.LpgReceipt):
            text = Text(_("Receipt {receipt}: {n} cylinder(s) {what}").format(
                receipt=reply.receipt, n=len(reply.barcodes),
                what=_("handed out") if reply.direction == "out" else _("returned")), style="bold green")  # fmt: skip
            for w in reply.warnings:
                text.append(f"\n⚠ {w}", style="bold yellow")
            result.update(text)
            self.query_one("#lpg-barcodes", Input).value = ""
            if self.customer is not None:
                self.lookup(self.query_one("#lpg-key", Input).value.strip())


class StoreScreen(_LpgScreen):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", N_("Back")),
        Binding("r", "refresh_store", N_("Refresh")),
    ]

    def __init__(self) -> None:
        super().__init__()
        translate_bindings(self)

    def compose(self) -> ComposeResult:
        with Vertical(id="lpg-box"):
            yield Static(_("Cylinder store — by state and specification"), id="lpg-title")
            yield StoreTable()
        yield Footer()

    def on_mount(self) -> None:
        self.action_refresh_store()

    def action_refresh_store(self) -> None:
        self.load()

    @work(exclusive=True, group="lpg-store")
    async def load(self) -> None:
        reply = await self.ask(m.LpgStore())
        if isinstance(reply, m.Error):
            self.notify(_refusal(reply), severity="error")
        elif isinstance(reply, m.LpgStoreView):
            self.query_one(StoreTable).show(reply.rows)
