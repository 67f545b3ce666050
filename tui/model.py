"""What the terminal UI knows about the station: a snapshot plus the events since, and what changed.

Layer: tui (pure state, no Textual). `load(snapshot)` resets everything; `apply(events)` folds a batch
of events in and returns a `Changes` naming exactly what the widgets must redraw (nozzle keys, new
sales, alarm keys …), so widgets update single cells and tiles instead of rebuilding. Each message type
registers its update (`@updates(m.Nozzle)`); every device kind arrives as `m.Device` and lands in
`devices` (the devices panel), so a new device kind needs no change here.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

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
    devices: set[str] = field(default_factory=set)

    def merge(self, new: Changes) -> None:
        """Fold a later batch's changes into these."""
        self.everything = self.everything or new.everything
        self.nozzles |= new.nozzles
        self.sales += new.sales
        self.alarms |= new.alarms
        self.alarms_removed |= new.alarms_removed
        self.lines |= new.lines
        self.dispensers |= new.dispensers
        self.traces += new.traces
        self.decisions += new.decisions
        self.shift = self.shift or new.shift
        self.devices |= new.devices

    def __bool__(self) -> bool:
        return self.everything or any(
            (self.nozzles, self.sales, self.alarms, self.alarms_removed, self.lines, self.dispensers,
             self.traces, self.decisions, self.shift, self.devices)
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
        self.devices: dict[str, m.Device] = {}
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
        update = UPDATES.get(type(event))
        if update is not None:
            update(self, event, changes)

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


# --- how each control-API event changes the model: one registered update per message type ---------

M = TypeVar("M", bound=m.Message)
_Update = Callable[[StationModel, m.Message, Changes], None]
UPDATES: dict[type[m.Message], _Update] = {}
"""Message type → its update; an event type without one is ignored (a newer daemon may send more)."""


def updates(kind: type[M]) -> Callable[[Callable[[StationModel, M, Changes], None]], None]:
    """Register the update of one message type (`@updates(m.Nozzle)`)."""

    def register(update: Callable[[StationModel, M, Changes], None]) -> None:
        if kind in UPDATES:
            raise ValueError(f"{kind.__name__} has an update already")

        def apply(model: StationModel, event: m.Message, changes: Changes) -> None:
            assert isinstance(event, kind)
            update(model, event, changes)

        UPDATES[kind] = apply

    return register


@updates(m.Nozzle)
def _nozzle(model: StationModel, event: m.Nozzle, changes: Changes) -> None:
    if model.nozzles.get(event.key) != event:
        model.nozzles[event.key] = event
        changes.nozzles.add(event.key)


@updates(m.Sale)
def _sale(model: StationModel, event: m.Sale, changes: Changes) -> None:
    if model._add_sale(event):
        changes.sales.append(event)


@updates(m.Alarm)
def _alarm(model: StationModel, event: m.Alarm, changes: Changes) -> None:
    old = model.alarms.get(event.key)
    if old is not None and old.acknowledged_by and not event.acknowledged_by:
        event = dataclasses.replace(
            event, acknowledged_by=old.acknowledged_by, acknowledged_at=old.acknowledged_at
        )
    model.alarms[event.key] = event
    changes.alarms.add(event.key)


@updates(m.AlarmAcked)
def _alarm_acked(model: StationModel, event: m.AlarmAcked, changes: Changes) -> None:
    key = str(event.id)
    if key in model.alarms:
        model.alarms[key] = dataclasses.replace(
            model.alarms[key], acknowledged_by=event.by, acknowledged_at=event.at
        )
        changes.alarms.add(key)


@updates(m.AlarmCleared)
def _alarm_cleared(model: StationModel, event: m.AlarmCleared, changes: Changes) -> None:
    key = str(event.id) if event.id is not None else f"{event.source}/{event.code}"
    if model.alarms.pop(key, None) is not None:
        changes.alarms_removed.add(key)


@updates(m.LineStats)
def _line_stats(model: StationModel, event: m.LineStats, changes: Changes) -> None:
    model.lines[event.line] = event
    changes.lines.add(event.line)


@updates(m.Trace)
def _trace(model: StationModel, event: m.Trace, changes: Changes) -> None:
    model.traces.append(event)
    changes.traces.append(event)


@updates(m.DispenserStatus)
def _dispenser_status(model: StationModel, event: m.DispenserStatus, changes: Changes) -> None:
    key = dispenser_key(event.line, event.dispenser)
    old_view = model.dispensers.get(key, m.DispenserView(event.line, event.dispenser))
    model.dispensers[key] = dataclasses.replace(old_view, online=event.online)
    changes.dispensers.add(key)


@updates(m.DispenserFault)
def _dispenser_fault(model: StationModel, event: m.DispenserFault, changes: Changes) -> None:
    key = dispenser_key(event.line, event.dispenser)
    old_view = model.dispensers.get(key, m.DispenserView(event.line, event.dispenser))
    model.dispensers[key] = dataclasses.replace(old_view, last_error=event.text)
    changes.dispensers.add(key)


@updates(m.Decision)
def _decision(model: StationModel, event: m.Decision, changes: Changes) -> None:
    model.decisions.append(event)
    changes.decisions.append(event)


@updates(m.Shift)
def _shift(model: StationModel, event: m.Shift, changes: Changes) -> None:
    model.shift = event.shift if event.shift is not None and event.shift.open else None
    changes.shift = True


@updates(m.Device)
def _device(model: StationModel, event: m.Device, changes: Changes) -> None:
    """Every device kind: one row per device in the devices panel."""
    if model.devices.get(event.key) != event:
        model.devices[event.key] = event
        changes.devices.add(event.key)
