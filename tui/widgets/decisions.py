"""Card decisions: why a card was allowed or refused at a nozzle (reason code and words).

Layer: tui. Rows come from `decision` events (and the snapshot's recent ones); the selected row is
explained below the table in full.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.containers import Vertical
from textual.widgets import DataTable, Static

from edge.control import messages as m
from tui import format as fmt
from tui.widgets.tables import KeyedTable

COLUMNS = (
    ("Time", "time"), ("Nozzle", "nozzle"), ("Card", "card"), ("Result", "result"), ("Reason", "reason"),
    ("Why", "words"),
)  # fmt: skip
MAX_ROWS = 200


def decision_key(d: m.Decision, seq: int) -> str:
    return f"{seq}:{d.line}/{d.dispenser}/{d.nzn}/{d.asn}"


def decision_cells(d: m.Decision) -> tuple[str | Text, ...]:
    result = Text.styled("ALLOWED", "bold green") if d.allowed else Text.styled("REFUSED", "bold red")
    return (
        fmt.clock(d.at),
        f"{d.line}/{d.dispenser}/{d.nzn}" if d.line else "desk",
        fmt.card(d.asn),
        result,
        d.reason or "—",
        d.words,
    )


def explain(d: m.Decision) -> str:
    verdict = "ALLOWED" if d.allowed else "REFUSED"
    text = f"Card {fmt.card(d.asn)} at {d.line}/{d.dispenser} nozzle {d.nzn}: {verdict}"
    if not d.allowed:
        text += f"\nReason {d.reason or '?'}: {d.words or 'no explanation given'}"
    for warning in d.warnings:
        text += f"\nWarning: {warning}"
    return text


class DecisionsPanel(Vertical):
    def __init__(self) -> None:
        super().__init__()
        self._seq = 0
        self._by_key: dict[str, m.Decision] = {}

    def compose(self) -> Iterable[KeyedTable | Static]:
        yield KeyedTable(COLUMNS, max_rows=MAX_ROWS, id="decisions-table")
        yield Static("Select a decision to see why.", id="decision-detail")

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
