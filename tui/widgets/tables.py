"""Keyed tables: rows added, updated cell by cell and removed by row key, never rebuilt per event.

Layer: tui. `KeyedTable.upsert(key, cells)` updates only the cells that changed; a bounded table
drops its oldest rows (`max_rows`). Column labels are marked `N_` by each table and translated here.
"""

from __future__ import annotations

import contextlib
from collections import OrderedDict
from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist, RowDoesNotExist

from tui.i18n import _

Cell = str | Text


class KeyedTable(DataTable[Cell]):
    def __init__(
        self, columns: Sequence[tuple[str, str]], *, max_rows: int | None = None, id: str | None = None
    ) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._columns = columns
        self.max_rows = max_rows
        self._cells: OrderedDict[str, tuple[Cell, ...]] = OrderedDict()

    def on_mount(self) -> None:
        for label, key in self._columns:
            self.add_column(_(label), key=key)

    def upsert(self, key: str, cells: Sequence[Cell], *, follow: bool = False) -> None:
        old = self._cells.get(key)
        values = tuple(cells)
        if old is None:
            self.add_row(*values, key=key)
            self._cells[key] = values
            if self.max_rows is not None and len(self._cells) > self.max_rows:
                oldest, _ = self._cells.popitem(last=False)
                self.remove_row(oldest)
            if follow:
                self.move_cursor(row=self.row_count - 1, animate=False)
            return
        for (_label, column), before, after in zip(self._columns, old, values, strict=True):
            if before != after:
                with contextlib.suppress(CellDoesNotExist, RowDoesNotExist):
                    self.update_cell(key, column, after)
        self._cells[key] = values

    def discard(self, key: str) -> None:
        if self._cells.pop(key, None) is not None:
            self.remove_row(key)

    def reset(self) -> None:
        self.clear()
        self._cells.clear()

    def selected_key(self) -> str | None:
        if not self.row_count:
            return None
        try:
            row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except CellDoesNotExist:
            return None
        return None if row_key.value is None else str(row_key.value)

    @property
    def keys(self) -> list[str]:
        return list(self._cells)
