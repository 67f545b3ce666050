"""A text bar chart: one bar per item, scaled to the widest value (pure lines + a Static to show them).

Layer: tui. Used by the reports screen for sales by hour / day / month / product, where a picture says
more than a table. Bars are block characters with eighths, so small differences still show.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.widgets import Static

from tui.i18n import _

EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(value: int, top: int, width: int) -> str:
    """A bar of `width` cells at most for `value` out of `top` (0 ≤ value ≤ top)."""
    if top <= 0 or value <= 0 or width <= 0:
        return ""
    eighths = max(1, value * width * 8 // top)
    full, rest = divmod(eighths, 8)
    return "█" * full + (EIGHTHS[rest] if rest else "")


def chart_lines(items: Sequence[tuple[str, int, str]], width: int) -> list[str]:
    """`label │bar value` lines; items are (label, value, value text)."""
    if not items:
        return []
    label_w = min(12, max(len(label) for label, _, _ in items))
    text_w = max(len(text) for _, _, text in items)
    bar_w = max(1, width - label_w - text_w - 3)
    top = max(value for _, value, _ in items)
    return [
        f"{label[:label_w]:>{label_w}} │{bar(value, top, bar_w):<{bar_w}} {text:>{text_w}}"
        for label, value, text in items
    ]


class BarChart(Static):
    """Shows `chart_lines` of the items it is given, fitted to its width."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self._items: list[tuple[str, int, str]] = []
        self._title = ""

    def show(self, title: str, items: Sequence[tuple[str, int, str]]) -> None:
        self._title, self._items = title, list(items)
        self._redraw()

    def on_resize(self) -> None:
        self._redraw()

    def _redraw(self) -> None:
        width = max(20, self.size.width or 40)
        lines = chart_lines(self._items, width) or [_("(no sales)")]
        self.update("\n".join([self._title, *lines]))
