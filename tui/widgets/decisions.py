"""Card decisions: why a card was allowed or refused at a nozzle (reason code and words).

Layer: tui. Rows come from `decision` events (and the snapshot's recent ones); the selected row is
explained below the table in full. The words are the reason code's (`protocol.reasons`), translated
here, so the same stored decision reads in Chinese for an attendant and in English for an engineer.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from edge.control import messages as m
from tui import format as fmt
from tui.i18n import N_, _
from tui.widgets.tables import KeyedTable

COLUMNS = (
    (N_("Time"), "time"), (N_("Nozzle"), "nozzle"), (N_("Card"), "card"), (N_("Result"), "result"),
    (N_("Reason"), "reason"), (N_("Why"), "words"),
)  # fmt: skip
MAX_ROWS = 200


def decision_key(d: m.Decision, seq: int) -> str:
    return f"{seq}:{d.line}/{d.dispenser}/{d.nzn}/{d.asn}"


def decision_cells(d: m.Decision) -> tuple[str | Text, ...]:
    result = Text.styled(_("ALLOWED"), "bold green") if d.allowed else Text.styled(_("REFUSED"), "bold red")
    return (
        fmt.clock(d.at),
        f"{d.line}/{d.dispenser}/{d.nzn}" if d.line else _("desk"),
        fmt.card(d.asn),
        result,
        d.reason or "—",
        fmt.decision_words(d),
    )


def explain(d: m.Decision) -> str:
    verdict = _("ALLOWED") if d.allowed else _("REFUSED")
    text = _("Card {card} at {line}/{dispenser} nozzle {nzn}: {verdict}").format(
        card=fmt.card(d.asn), line=d.line, dispenser=d.dispenser, nzn=d.nzn, verdict=verdict
    )
    if not d.allowed:
        words = fmt.decision_words(d) or _("no explanation given")
        text += "\n" + _("Reason {code}: {words}").format(code=d.reason or "?", words=words)
    for warning in fmt.decision_warnings(d):
        text += "\n" + _("Warning: {warning}").format(warning=warning)
    return text


class DecisionsPanel(Vertical):
    def __init__(self) -> None:
        super().__init__()
        self._seq = 0
        self._by_key: dict[str, m.Decision] = {}

    def compose(self) -> Iterable[KeyedTable | Static]:
        yield KeyedTable(COLUMNS, max_rows=MAX_ROWS, id="decisions-table")
        yield Static(_("Select a decision to see why."), id="decision-detail")

    def show(self, decisions: Iterable[m.Decision], *, reset: bool = False) -> None:
        table = self.query_one("#decisions-table", KeyedTable)
        if reset:
            table.reset()
            self._by_key.clear()
        for d in decisions:
            self._seq += 1
            key = decision_key(d, self._seq)
            self._by_key[key] = d
            table.upsert(key, decision_cells(d), follow=True)
        while len(self._by_key) > MAX_ROWS:
            self._by_key.pop(next(iter(self._by_key)))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        decision = self._by_key.get(str(event.row_key.value))
        if decision is not None:
            self.query_one("#decision-detail", Static).update(explain(decision))
