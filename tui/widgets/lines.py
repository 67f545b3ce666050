"""Line diagnostics: per line (poll cycle, CRC errors, timeouts, last frame), per dispenser (online,
model, errors) and the live frame trace.

Layer: tui. For field engineers; the same numbers `station status` prints.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.containers import Vertical
from textual.widgets import Label, Log

from edge.control import messages as m
from tui import format as fmt
from tui.i18n import N_, _
from tui.widgets.tables import KeyedTable

LINE_COLUMNS = (
    (N_("Line"), "line"), (N_("Mode"), "mode"), (N_("Polls"), "polls"), (N_("Cycle ms"), "cycle"),
    (N_("CRC err"), "crc"), (N_("Timeouts"), "timeouts"), (N_("Noise B"), "noise"),
    (N_("Last frame"), "last"),
)  # fmt: skip
DISPENSER_COLUMNS = (
    (N_("Dispenser"), "disp"), (N_("State"), "online"), (N_("Model"), "model"), (N_("Records"), "records"),
    (N_("Last error"), "error"),
)  # fmt: skip
MAX_TRACE_LINES = 500


def _num(stats: dict[str, m.JsonScalar], key: str) -> str:
    value = stats.get(key)
    if isinstance(value, float):
        return f"{value:.0f}"
    return "" if value is None else str(value)


def line_cells(ls: m.LineStats) -> tuple[str | Text, ...]:
    st = ls.stats
    crc = _num(st, "crc_errors")
    return (
        ls.line,
        ls.mode,
        _num(st, "polls"),
        _num(st, "avg_cycle_ms"),
        Text.styled(crc, "bold yellow") if crc not in ("", "0") else crc,
        _num(st, "timeouts"),
        _num(st, "noise_bytes"),
        fmt.clock(str(st.get("last_frame_at") or "")),
    )


def dispenser_cells(d: m.DispenserView) -> tuple[str | Text, ...]:
    state = Text.styled(_("ONLINE"), "bold green") if d.online else Text.styled(_("OFFLINE"), "bold red")
    return (d.label or f"{d.line}/{d.dispenser}", state, d.m_info, str(d.records_stored or ""), d.last_error)


def trace_line(t: m.Trace) -> str:
    return f"{fmt.clock(t.at)} {t.line:<6} {t.summary}  {t.hex}"


class LinesPanel(Vertical):
    def compose(self) -> Iterable[Label | KeyedTable | Log]:
        yield KeyedTable(LINE_COLUMNS, id="lines-table")
        yield KeyedTable(DISPENSER_COLUMNS, id="dispensers-table")
        yield Label(_("Frame trace"), classes="section-title")
        yield Log(id="trace-log", max_lines=MAX_TRACE_LINES, auto_scroll=True)

    def show_lines(self, lines: Iterable[m.LineStats], *, reset: bool = False) -> None:
        table = self.query_one("#lines-table", KeyedTable)
        if reset:
            table.reset()
        for ls in lines:
            table.upsert(ls.line, line_cells(ls))

    def show_dispensers(self, views: Iterable[tuple[str, m.DispenserView]], *, reset: bool = False) -> None:
        table = self.query_one("#dispensers-table", KeyedTable)
        if reset:
            table.reset()
        for key, view in views:
            table.upsert(key, dispenser_cells(view))

    def show_traces(self, traces: Iterable[m.Trace], *, reset: bool = False) -> None:
        log = self.query_one("#trace-log", Log)
        if reset:
            log.clear()
        log.write_lines([trace_line(t) for t in traces])
