"""The sales feed: every stored record as it completes (newest at the bottom, followed).

Layer: tui. Shift records (on/off duty) and price receipts are shown too, with their kind in words.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text

from edge.control import messages as m
from tui import format as fmt
from tui.i18n import N_
from tui.widgets.tables import KeyedTable

MAX_ROWS = 500
COLUMNS = (
    (N_("Time"), "time"), (N_("Nozzle"), "nozzle"), (N_("Kind"), "kind"), (N_("Card"), "card"),
    (N_("Product"), "product"), (N_("Volume"), "vol"), (N_("Amount"), "amn"), (N_("Paid"), "pay"),
    (N_("Emp"), "emp"),
)  # fmt: skip


def sale_cells(s: m.Sale) -> tuple[str | Text, ...]:
    kind = fmt.kind(s.kind)
    styled_kind: str | Text = kind
    if s.kind in ("grey", "card_error", "wrong_card"):
        styled_kind = Text.styled(kind.upper(), "bold yellow")
    duty = s.kind in ("on_duty", "off_duty", "price_receipt")
    return (
        fmt.clock(s.at or s.time),
        f"{s.line}/{s.dispenser}/{s.nzn}",
        styled_kind,
        fmt.card(s.asn),
        s.product or s.g_code,
        "" if duty else fmt.centi(s.vol),
        "" if duty else fmt.centi(s.amn),
        fmt.payment(s.payment),
        "" if s.emp == m.EMP_NONE else str(s.emp),
    )


class SalesTable(KeyedTable):
    def __init__(self) -> None:
        super().__init__(COLUMNS, max_rows=MAX_ROWS, id="sales-table")

    def show(self, sales: Iterable[m.Sale], *, reset: bool = False) -> None:
        if reset:
            self.reset()
        for sale in sales:
            self.upsert(sale.key, sale_cells(sale), follow=True)
