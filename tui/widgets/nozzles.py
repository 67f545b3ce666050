"""The live nozzle grid: one tile per nozzle, state by colour AND word, figures while fuelling.

Layer: tui. Tiles are created once per snapshot and then only the tiles whose nozzle changed are
redrawn (`NozzleGrid.update_nozzles(keys)`). The number of columns follows the width (a tile is
`TILE_WIDTH` cells), so 8 nozzles fit 80×24 and 64 fit 160×48; the grid scrolls beyond that. Text in
a tile is padded and cut by terminal cells (a Chinese state word is two cells a character).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.containers import Grid, VerticalScroll
from textual.content import Content
from textual.events import Resize
from textual.geometry import Region
from textual.reactive import reactive
from textual.widget import Widget

from edge.control import messages as m
from protocol.i18n import clip, ljust, rjust
from tui import format as fmt
from tui.i18n import N_, _, translate_bindings

TILE_WIDTH = 19
"""Cells per tile at least, borders and left padding included (16 of text inside)."""
TILE_HEIGHT = 6
COMPACT_HEIGHT = 4
SCROLLBAR = 2
STATE_CLASSES = tuple(f"-{state}" for state in fmt.STATE_WORDS)


class NozzleTile(Widget, can_focus=True):
    """One nozzle: title `N<nzn> <product>`, subtitle `<line>/<dispenser>`.

    A fuelling nozzle changes one line of its tile (the figures) several times a second: only the lines
    whose text changed are repainted, so the terminal receives those few cells and not the whole tile
    (the UI is used over SSH, sometimes on a mobile link)."""

    nozzle: reactive[m.Nozzle | None] = reactive(None, layout=False, repaint=False)

    def __init__(self, nozzle: m.Nozzle) -> None:
        super().__init__(id=tile_id(nozzle.key), classes="nozzle-tile")
        self.key = nozzle.key
        self._content = Content("")
        self.set_reactive(NozzleTile.nozzle, nozzle)

    def render(self) -> Content:
        return self._content

    def on_mount(self) -> None:
        self.watch_nozzle(None, self.nozzle)

    def _show(self, content: Content, whole: bool) -> None:
        old_lines = self._content.plain.split("\n")
        self._content = content
        if whole:
            self.refresh()
            return
        width = self.size.width
        changed = [
            Region(0, y, width, 1)
            for y, line in enumerate(content.plain.split("\n"))
            if y >= len(old_lines) or old_lines[y] != line
        ]
        if changed:
            self.refresh(*changed)

    def watch_nozzle(self, old: m.Nozzle | None, nozzle: m.Nozzle | None) -> None:
        if nozzle is None:
            return
        # Only what changed: class changes restyle the tile, so a fuelling tile that just counts up
        # updates its text and nothing else (64 tiles at 5 Hz on a station box).
        title = f"N{nozzle.nzn} {nozzle.product or nozzle.g_code}"
        if self.border_title != title:
            self.border_title = title
        subtitle = f"{nozzle.line}/{nozzle.dispenser}"
        if self.border_subtitle != subtitle:
            self.border_subtitle = subtitle
        state_class = f"-{nozzle.state}"
        restyled = not self.has_class(state_class)
        if restyled:
            self.remove_class(*STATE_CLASSES)
            self.add_class(state_class)
        if self.has_class("-warning") != bool(nozzle.warning):
            restyled = True
            self.set_class(bool(nozzle.warning), "-warning")
        content = tile_content(nozzle)
        if old is None or restyled or content != self._content:
            self._show(content, whole=old is None or restyled)


def tile_content(n: m.Nozzle) -> Content:
    """Four lines of 16 cells: state and employee; amount and volume; price and card; a warning."""
    unit = (n.unit or "L")[:2]
    who = "" if n.emp == m.EMP_NONE else fmt.emp(n.emp)
    busy = n.state in ("nozzle_up", "fuelling", "finished")
    figures = f"{fmt.money(n.amn):<9}{fmt.centi(n.vol) + unit:>7}" if busy else ""
    card = fmt.card(n.asn)
    price = f"{fmt.centi(n.prc)}/{unit}" if busy and n.prc else ""
    state = ljust(clip(fmt.state_word(n.state), 10), 10)
    return Content.assemble(
        (state, "bold"),
        f"{rjust(clip(who, 16 - 10), 6)}\n",
        f"{figures}\n",
        f"{price:<10}{card:>6}\n",
        (clip(_(n.warning), 16), "italic"),
    )


def tile_id(key: str) -> str:
    return "nz-" + key.replace("/", "-")


class NozzleGrid(VerticalScroll):
    """All nozzle tiles; `z` toggles compact tiles (two lines) for big stations."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("z", "compact", N_("Compact"))]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._chosen_compact: bool | None = None
        translate_bindings(self)
        self._tiles: dict[str, NozzleTile] = {}
        """The tiles by nozzle key: an update finds its tile without a DOM query (64 tiles at 5 Hz)."""

    def compose(self) -> Iterable[Grid]:
        yield Grid(id="nozzle-grid")

    @property
    def grid(self) -> Grid:
        return self.query_one("#nozzle-grid", Grid)

    def set_nozzles(self, nozzles: Iterable[m.Nozzle]) -> None:
        """Make the tiles match a snapshot: update the tiles that stay, remove and add the others."""
        grid = self.grid
        wanted = {n.key: n for n in nozzles}
        for key, tile in list(self._tiles.items()):
            if key not in wanted:
                del self._tiles[key]
                tile.remove()
        for n in wanted.values():
            self._show(grid, n)
        self._columns(self.size.width)

    def update_nozzles(self, nozzles: Iterable[m.Nozzle]) -> None:
        """Redraw only these tiles (a tile missing from the grid is added)."""
        grid: Grid | None = None
        for n in nozzles:
            tile = self._tiles.get(n.key)
            if tile is not None:
                tile.nozzle = n
                continue
            grid = grid or self.grid
            self._show(grid, n)

    def _show(self, grid: Grid, nozzle: m.Nozzle) -> None:
        tile = self._tiles.get(nozzle.key)
        if tile is not None:
            tile.nozzle = nozzle
        else:
            self._tiles[nozzle.key] = tile = NozzleTile(nozzle)
            grid.mount(tile)

    def on_resize(self, event: Resize) -> None:
        self._columns(event.size.width)

    def _columns(self, width: int) -> None:
        """As many columns as fit; compact tiles when full tiles would not all fit but compact ones do
        (unless the attendant chose with `z`)."""
        columns = max(1, (width - SCROLLBAR) // TILE_WIDTH)
        self.grid.styles.grid_size_columns = columns
        if self._chosen_compact is None:
            rows = -(-len(self.grid.children) // columns)
            height = self.size.height
            self.set_class(rows * TILE_HEIGHT > height >= rows * COMPACT_HEIGHT, "-compact")

    def action_compact(self) -> None:
        self._chosen_compact = not self.has_class("-compact")
        self.set_class(self._chosen_compact, "-compact")
