"""The handover report (printable text, exportable CSV) and the hand-over dialog.

Layer: tui. The daemon renders the report (text and CSV) so every client prints the same; this
screen shows the text and writes the files on the machine running the UI (`s` text, `e` CSV). In a
browser (`station web`) the files go to the browser's downloads instead of the station box.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import ScrollableContainer, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, Static

from edge.control import messages as m
from tui.i18n import N_, _, translate_bindings

MIME_TYPES = {"csv": "text/csv", "txt": "text/plain"}


def report_path(folder: Path, report: m.ShiftReport, suffix: str) -> Path:
    state = "final" if report.final else "provisional"
    return folder / f"shift-{report.shift.id}-{state}.{suffix}"


class ReportScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "dismiss", N_("Close")),
        Binding("s", "save_text", N_("Save text")),
        Binding("e", "export_csv", N_("Export CSV")),
    ]

    def __init__(self, report: m.ShiftReport, folder: Path) -> None:
        super().__init__()
        translate_bindings(self)
        self.report = report
        self.folder = folder

    def compose(self) -> ComposeResult:
        with Vertical(id="report-box"):
            yield ScrollableContainer(
                Static(self.report.text, id="report-text", markup=False), id="report-scroll"
            )
            yield Static(id="report-saved")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#report-scroll").focus()

    def _write(self, suffix: str, text: str) -> None:
        path = report_path(self.folder, self.report, suffix)
        # CSV with a byte-order mark: spreadsheets at the station open the Chinese in it correctly.
        encoding = "utf-8-sig" if suffix == "csv" else "utf-8"
        if self.app.is_web:
            self.app.deliver_binary(
                io.BytesIO(text.encode(encoding)), save_filename=path.name, mime_type=MIME_TYPES[suffix]
            )
            sent = _("Sent {name} to the browser's downloads").format(name=path.name)
            self.query_one("#report-saved", Static).update(sent)
            return
        try:
            path.write_text(text, encoding=encoding)
        except OSError as exc:
            text = _("Cannot write {path}: {why}").format(path=path, why=exc.strerror)
            self.query_one("#report-saved", Static).update(text)
            return
        self.query_one("#report-saved", Static).update(_("Saved {path}").format(path=path))

    def action_save_text(self) -> None:
        self._write("txt", self.report.text)

    def action_export_csv(self) -> None:
        self._write("csv", self.report.csv)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)


class HandoverScreen(ModalScreen[str | None]):
    """Close the shift: optionally name the operator who takes over (empty: close only)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", N_("Cancel"))]

    def __init__(self) -> None:
        super().__init__()
        translate_bindings(self)

    def compose(self) -> ComposeResult:
        with Vertical(id="handover-box"):
            yield Label(_("Close the shift and hand over"))
            yield Label(_("The totals are read from every dispenser and the report is made."))
            yield Input(placeholder=_("hand over to (user name, empty: nobody)"), id="handover-to")
            yield Button(_("Close shift"), id="handover-ok", variant="warning")
            yield Button(_("Cancel"), id="handover-cancel")
        yield Footer()

    @on(Input.Submitted)
    @on(Button.Pressed, "#handover-ok")
    def _ok(self) -> None:
        self.dismiss(self.query_one("#handover-to", Input).value.strip())

    @on(Button.Pressed, "#handover-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
