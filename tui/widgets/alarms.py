"""The alarms panel: active alarms by severity (colour AND word), acknowledged by whom; `a` acknowledges.

An alarm that asks the attendant to act now (its `action`, e.g. "stop the sale at nozzle 5") shows
**ACTION** instead of its severity and leads its message with the action in capitals.

Layer: tui. The acknowledgement is a request to the daemon; the table changes when the daemon's
`alarm_acked` event comes back, so every viewer sees the same.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message

from edge.control import messages as m
from tui import format as fmt
from tui.i18n import N_, _, translate_bindings
from tui.widgets.tables import KeyedTable

COLUMNS = (
    (N_("Severity"), "sev"), (N_("Source"), "source"), (N_("Code"), "code"), (N_("Since"), "since"),
    ("×", "count"), (N_("Acknowledged"), "ack"), (N_("Message"), "message"),
)  # fmt: skip
SEVERITY_STYLE = {"critical": "bold red", "major": "bold red", "warning": "bold yellow", "info": ""}


ACTION_STYLE = "bold white on red"


def action_words(a: m.Alarm) -> str:
    """The action an alarm asks for, as the attendant reads it ("STOP THE SALE AT NOZZLE 5"); "" if none."""
    return fmt.action_words(a.action)


def alarm_cells(a: m.Alarm) -> tuple[str | Text, ...]:
    word = fmt.severity_word(a.severity)
    action = action_words(a)
    text = fmt.alarm_text(a.code, a.message)
    return (
        Text.styled(_("ACTION"), ACTION_STYLE)
        if action
        else Text.styled(word, SEVERITY_STYLE.get(a.severity, "")),
        a.source,
        a.code,
        fmt.clock(a.raised_at),
        str(a.count),
        f"✓ {a.acknowledged_by}" if a.acknowledged_by else Text.styled(_("NEW"), "bold"),
        Text.assemble((action, ACTION_STYLE), " ", text) if action else text,
    )


class AlarmsTable(KeyedTable):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("a", "acknowledge", N_("Ack alarm"))]

    class AckRequested(Message):
        def __init__(self, alarm_id: int) -> None:
            super().__init__()
            self.alarm_id = alarm_id

    def __init__(self) -> None:
        super().__init__(COLUMNS, id="alarms-table")
        translate_bindings(self)

    def show(self, alarms: Iterable[m.Alarm], *, reset: bool = False) -> None:
        if reset:
            self.reset()
        for alarm in alarms:
            self.upsert(alarm.key, alarm_cells(alarm))

    def action_acknowledge(self) -> None:
        key = self.selected_key()
        if key is not None and key.isdigit():
            self.post_message(self.AckRequested(int(key)))
