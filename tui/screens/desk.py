"""The desk screen: the card in the desk reader, the desk operations with a confirmation step, receipts.

Layer: tui (a client of the control API's `desk.*` commands; the daemon does the work and checks the
role). The card is shown as it is inserted (the desk reader's `device` message, kind `desk`), and read
again with `r`.
Readable at 80×24: the card (left) and the last receipt (right, 40 columns, printable as text;
`s` saves it to a file). Keys: `r` read the card, `t` top up, `u` grey unlock, `l` report lost,
`escape` back. Every operation that changes the card or its status asks for confirmation first, with the
figures it will write.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Input, Label, Static

from edge.control import messages as m
from tui import format as fmt
from tui.client import NotConnected
from tui.format import money
from tui.i18n import N_, _, translate_bindings

if TYPE_CHECKING:
    from tui.app import StationApp

STATUS_WORDS = {
    "normal": N_("normal"),
    "lost": N_("LOST"),
    "cancelled": N_("CANCELLED"),
    "replaced": N_("REPLACED"),
    "blacklisted": N_("BLACKLISTED"),
    "damaged": N_("DAMAGED"),
}


def card_lines(card: dict[str, Any]) -> list[str]:
    """The card view as lines of at most 38 cells (pure; words translated)."""
    status = card.get("status", "normal")
    lines = [
        _("Card {asn}").format(asn=card.get("asn", "")),
        _("Holder {name}  Kind {kind}").format(name=card.get("holder") or "-", kind=card.get("kind", "")),
        _("Status {status}").format(status=_(STATUS_WORDS.get(status, status))),
        _("Balance {amount}").format(amount=money(int(card.get("balance") or 0))),
    ]
    if card.get("plate") or card.get("cylinder_valid_until"):
        lines.append(_("Plate {plate}").format(plate=card.get("plate") or "-"))
        days = card.get("cylinder_days_left")
        until = card.get("cylinder_valid_until") or "-"
        lines.append(
            _("Cylinder until {date} ({days} days)").format(date=until, days="-" if days is None else days)
        )
    grey = card.get("grey") or {}
    if grey.get("grey"):
        lines.append(_("GREY since {at}").format(at=str(grey.get("locked_at", ""))[:16].replace("T", " ")))
        if grey.get("record"):
            lines.append(_("Owed {amount}").format(amount=money(int(grey.get("amount_owed") or 0))))
        lines.append(_("May unlock here now") if grey.get("may_unlock") else _("Not unlockable here now"))
    else:
        lines.append(_("Not grey"))
    if card.get("pin_locked"):
        lines.append(_("PIN locked: go to an issuing outlet."))
    elif card.get("pin_tries_left") is not None:
        lines.append(_("PIN tries left {n}").format(n=card["pin_tries_left"]))
    for record in (card.get("log") or [])[:3]:
        lines.append(
            f"{str(record.get('at', ''))[:16].replace('T', ' ')} {money(int(record.get('amount', 0)))}"
        )
    return lines


class ConfirmScreen(ModalScreen[bool]):
    """One confirmation step: the words of what will be done, yes / no."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", N_("Yes")),
        Binding("n", "answer(False)", N_("No")),
        Binding("escape", "answer(False)", N_("Cancel")),
    ]

    def __init__(self, words: str) -> None:
        super().__init__()
        translate_bindings(self)
        self.words = words

    def compose(self) -> ComposeResult:
        with Vertical(id="desk-confirm"):
            yield Label(self.words, id="desk-confirm-words")
            with Horizontal():
                yield Button(_("Yes"), id="desk-yes", variant="warning")
                yield Button(_("No"), id="desk-no")
        yield Footer()

    @on(Button.Pressed, "#desk-yes")
    def _yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#desk-no")
    def _no(self) -> None:
        self.dismiss(False)

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class TopupScreen(ModalScreen[tuple[int, str] | None]):
    """Amount (yuan) and payment mode of a top-up."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", N_("Cancel"))]

    def compose(self) -> ComposeResult:
        translate_bindings(self)
        with Vertical(id="desk-topup"):
            yield Label(_("Top up the card in the reader"))
            yield Input(placeholder=_("amount in yuan, e.g. 500"), id="desk-amount")
            yield Input(value="cash", placeholder=_("payment mode"), id="desk-payment")
            yield Label("", id="desk-topup-error")
            yield Button(_("Next"), id="desk-topup-ok", variant="primary")
        yield Footer()

    @on(Input.Submitted)
    @on(Button.Pressed, "#desk-topup-ok")
    def _ok(self) -> None:
        text = self.query_one("#desk-amount", Input).value.strip()
        payment = self.query_one("#desk-payment", Input).value.strip() or "cash"
        fen = parse_yuan(text)
        if fen is None:
            self.query_one("#desk-topup-error", Label).update(_("Not an amount: {text}").format(text=text))
            return
        self.dismiss((fen, payment))

    def action_cancel(self) -> None:
        self.dismiss(None)


def parse_yuan(text: str) -> int | None:
    """`500`, `500.5`, `500.50` → fen; None for anything else or not positive (pure)."""
    whole, _dot, cents = text.partition(".")
    if not whole.isdigit() or (cents and (not cents.isdigit() or len(cents) > 2)):
        return None
    fen = int(whole) * 100 + (int(cents.ljust(2, "0")) if cents else 0)
    return fen if fen > 0 else None


class DeskScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", N_("Back")),
        Binding("r", "read", N_("Read card")),
        Binding("t", "topup", N_("Top up")),
        Binding("u", "unlock", N_("Unlock")),
        Binding("l", "lost", N_("Report lost")),
        Binding("s", "save", N_("Save receipt")),
    ]

    def __init__(self, receipt_dir: Path | None = None) -> None:
        super().__init__()
        translate_bindings(self)
        self.card: dict[str, Any] | None = None
        self.receipt = ""
        self.receipt_dir = receipt_dir

    def compose(self) -> ComposeResult:
        with Horizontal(id="desk-body"):
            yield Static(_("Insert a card and press r."), id="desk-card", markup=False)
            with VerticalScroll(id="desk-receipt-box"):
                yield Static("", id="desk-receipt", markup=False)
        yield Static("", id="desk-message", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self.send(m.DeskRead())

    @property
    def station_app(self) -> StationApp:
        return self.app  # type: ignore[return-value]

    @work(group="desk", exclusive=True)
    async def send(self, request: m.AuthRequest) -> None:
        message = self.query_one("#desk-message", Static)
        message.update(_("Working …"))
        try:
            reply = await self.station_app.send_command(request)
        except (NotConnected, TimeoutError):
            message.update(_("No answer from the daemon."))
            return
        if isinstance(reply, m.Error):
            if reply.code == m.ErrorCode.UNAUTHENTICATED:
                self.station_app.session_lost(reply.message)
                return
            message.update(f"{reply.code.upper()}: {fmt.error_text(reply.code, reply.message)}")
            return
        if not isinstance(reply, m.DeskResult):
            return
        self.show(reply)

    def show(self, reply: m.DeskResult) -> None:
        card = reply.card_view()
        if "asn" in card:
            self.card = card
            self.query_one("#desk-card", Static).update("\n".join(card_lines(card)))
        if reply.receipt and reply.op != "read":
            self.receipt = reply.receipt
            self.query_one("#desk-receipt", Static).update(reply.receipt)
        self.query_one("#desk-message", Static).update(reply.message)

    def device_event(self, event: m.Device) -> None:
        """The desk reader's `device` message (kind `desk`): a card put in (its view in `fields.card`),
        one that cannot be used (`fields.error`), or the card taken out."""
        if event.kind != "desk":
            return
        card_box = self.query_one("#desk-card", Static)
        message = self.query_one("#desk-message", Static)
        if event.state == "empty":
            self.card = None
            card_box.update(_("Insert a card and press r."))
            message.update(_("The card was taken out."))
            return
        if event.state == "unusable":
            self.card = None
            card_box.update(_("This card cannot be used: {why}").format(why=event.fields.get("error", "")))
            return
        text = event.fields.get("card")
        card = json.loads(text) if isinstance(text, str) and text else {}
        if isinstance(card, dict) and "asn" in card:
            self.card = card
            card_box.update("\n".join(card_lines(card)))
            message.update(_("Card inserted."))

    def _asn(self) -> str | None:
        if self.card is None:
            self.notify(_("Read a card first (r)."), severity="warning")
            return None
        return str(self.card["asn"])

    def _confirm(self, words: str, request: m.AuthRequest) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.send(request)

        self.app.push_screen(ConfirmScreen(words), answered)

    def action_read(self) -> None:
        self.send(m.DeskRead())

    def action_topup(self) -> None:
        asn = self._asn()
        if asn is None:
            return

        def entered(value: tuple[int, str] | None) -> None:
            if value is None:
                return
            fen, payment = value
            words = _("Load {amount} onto card {asn}, paid by {payment}?").format(
                amount=money(fen), asn=asn, payment=payment
            )

            self._confirm(words, m.DeskTopup(amount=fen, payment=payment, asn=asn))

        self.app.push_screen(TopupScreen(), entered)

    def action_unlock(self) -> None:
        asn = self._asn()
        if asn is None or self.card is None:
            return
        owed = int((self.card.get("grey") or {}).get("amount_owed") or 0)
        words = _("Unlock grey card {asn}: debit {amount}?").format(asn=asn, amount=money(owed))
        self._confirm(words, m.DeskUnlock(asn=asn))

    def action_lost(self) -> None:
        asn = self._asn()
        if asn is None:
            return
        words = _("Report card {asn} lost? It is refused at every pump from now.").format(asn=asn)
        self._confirm(words, m.DeskLost(asn=asn))

    def action_save(self) -> None:
        if not self.receipt:
            self.notify(_("No receipt yet."), severity="warning")
            return
        folder = self.receipt_dir or Path.home() / "station-receipts"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"desk-{len(list(folder.glob('desk-*.txt'))) + 1:05d}.txt"
        path.write_text(self.receipt, encoding="utf-8")
        self.notify(_("Receipt saved: {path}").format(path=path))
