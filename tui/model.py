"""What the terminal UI knows about the station: a snapshot plus the events since, and what changed.

Layer: tui (pure state, no Textual). `load(snapshot)` resets everything; `apply(events)` folds a batch
of events in and returns a `Changes` naming exactly what the widgets must redraw (nozzle keys, new
sales, alarm keys …), so widgets update single cells and tiles instead of rebuilding.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from edge.control import messages as m

MAX_SALES = 500
MAX_TRACES = 200
MAX_DECISIONS = 200


@dataclass
class Changes:
    everything: bool = False
    nozzles: set[str] = field(default_factory=set)
    sales: list[m.Sale] = field(default_factory=list)
    alarms: set[str] = field(default_factory=set)
    alarms_removed: set[str] = field(default_factory=set)
    lines: set[str] = field(default_factory=set)
    dispensers: set[str] = field(default_factory=set)
    traces: list[m.Trace] = field(default_factory=list)
    decisions: list[m.Decision] = field(default_factory=list)
    shift: bool = False

    def __bool__(self) -> bool:
        return self.everything or any(
            (self.nozzles, self.sales, self.alarms, self.alarms_removed, self.lines, self.dispensers,
             self.traces, self.decisions, self.shift)
        )  # fmt: skip


def dispenser_key(line: str, dispenser: int) -> str:
    return f"{line}/{dispenser}"


class StationModel:
    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self.station = m.StationView(id="")
        self.nozzles: dict[str, m.Nozzle] = {}
        self.sales: deque[m.Sale] = deque(maxlen=MAX_SALES)
        self._sale_keys: set[str] = set()
        self.alarms: dict[str, m.Alarm] = {}
        self.lines: dict[str, m.LineStats] = {}
        self.dispensers: dict[str, m.DispenserView] = {}
        self.traces: deque[m.Trace] = deque(maxlen=MAX_TRACES)
        self.decisions: deque[m.Decision] = deque(maxlen=MAX_DECISIONS)
        self.shift: m.ShiftView | None = None
        self.loaded = False

    def load(self, snap: m.Snapshot) -> Changes:
        self._reset()
        self.station = snap.station
        self.nozzles = {n.key: n for n in sorted(snap.nozzles, key=_nozzle_order)}
        for sale in reversed(snap.sales):  # the snapshot lists the newest first
            self._add_sale(sale)
        self.alarms = {a.key: a for a in snap.alarms}
        self.lines = {line.line: line for line in snap.lines}
        self.dispensers = {dispenser_key(d.line, d.dispenser): d for d in snap.dispensers}
        self.decisions.extend(snap.decisions)
        self.shift = snap.shift
        self.loaded = True
        return Changes(everything=True)

    def apply(self, events: Iterable[m.Message]) -> Changes:
        changes = Changes()
        for event in events:
            self._apply(event, changes)
        return changes

    def _apply(self, event: m.Message, changes: Changes) -> None:
        match event:
            case m.Nozzle():
                if self.nozzles.get(event.key) != event:
                    self.nozzles[event.key] = event
                    changes.nozzles.add(event.key)
            case m.Sale():
                if self._add_sale(event):
                    changes.sales.append(event)
            case m.Alarm():
                old = self.alarms.get(event.key)
                if old is not None and old.acknowledged_by and not event.acknowledged_by:
                    event = dataclasses.replace(
                        event, acknowledged_by=old.acknowledged_by, acknowledged_at=old.acknowledged_at
                    )
                self.alarms[event.key] = event
                changes.alarms.add(event.key)
            case m.AlarmAcked():
                key = str(event.id)
                if key in self.alarms:
                    self.alarms[key] = dataclasses.replace(
                        self.alarms[key], acknowledged_by=event.by, acknowledged_at=event.at
                    )
                    changes.alarms.add(key)
            case m.AlarmCleared():
                key = str(event.id) if event.id is not None else f"{event.source}/{event.code}"
                if self.alarms.pop(key, None) is not None:
                    changes.alarms_removed.add(key)
            case m.LineStats():
                self.lines[event.line] = event
                changes.lines.add(event.line)
            case m.Trace():
                self.traces.append(event)
                changes.traces.append(event)
            case m.DispenserStatus():
                key = dispenser_key(event.line, event.dispenser)
                old_view = self.dispensers.get(key, m.DispenserView(event.line, event.dispenser))
                self.dispensers[key] = dataclasses.replace(old_view, online=event.online)
                changes.dispensers.add(key)
            case m.DispenserFault():
                key = dispenser_key(event.line, event.dispenser)
                old_view = self.dispensers.get(key, m.DispenserView(event.line, event.dispenser))
                self.dispensers[key] = dataclasses.replace(old_view, last_error=event.text)
                changes.dispensers.add(key)
            case m.Decision():
                self.decisions.append(event)
                changes.decisions.append(event)
            case m.Shift():
                self.shift = event.shift if event.shift is not None and event.shift.open else None
                changes.shift = True
            case _:
                pass

    def _add_sale(self, sale: m.Sale) -> bool:
        if sale.key in self._sale_keys:
            return False
        if len(self.sales) == self.sales.maxlen:
            self._sale_keys.discard(self.sales[0].key)
        self.sales.append(sale)
        self._sale_keys.add(sale.key)
        return True

    @property
    def unacknowledged(self) -> int:
        return sum(1 for a in self.alarms.values() if not a.acknowledged_by)


def _nozzle_order(n: m.Nozzle) -> tuple[str, int, int]:
    return (n.line, n.dispenser, n.nzn)
