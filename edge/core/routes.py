"""Where each bus event goes: its control-API message and its message for the centre, by registration.

Layer: edge core (pure). Every event type registers ONE `EventRoute` saying how it becomes

- a control-API message (`edge.control.messages`; the TUI folds that message in through its own
  registry of updates, `tui.model`; device messages show in the TUI's devices panel), and
- outbox messages for the centre (queued by the uplink's bus bridge in their own transaction), for facts
  that are not already queued in the transaction that stores them (records, totals, decisions, shifts are;
  see `edge.core.centre`).

The built-in events are registered in `edge.routes`; a device component brings its own routes
(`ComponentKind.publishes`). Adding an event adds an entry, never a branch: nothing dispatches on the
type's name or on the attributes an object happens to have.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from edge.control import messages as m
from edge.errors import EdgeError
from storage.outbox import OutboxMessage

E = TypeVar("E")


class RouteError(EdgeError):
    """An event type registered twice, or a route that does not fit its event."""


class ControlContext(Protocol):
    """What a control-API conversion may look up (implemented by `edge.control.convert.Products`)."""

    def nozzle_code(self, line: str, dispenser: int, nzn: int) -> str: ...
    def name(self, g_code: str) -> str: ...
    def unit(self, g_code: str) -> str: ...
    def line_mode(self, line: str) -> str: ...


@dataclass(frozen=True, slots=True)
class DeviceFact:
    """Something a field device reports to the centre (a `device` message on the events stream)."""

    kind: str
    """The device kind (`door`, `scale`, `tank` …)."""
    device: str
    """Which device of that kind (its configured name)."""
    event: str
    """What happened (`opened`, `level` …)."""
    at: dt.datetime
    fields: Mapping[str, m.JsonScalar] = field(default_factory=dict)


class CentreMessages(Protocol):
    """The messages an event may turn into for the centre (implemented by `uplink.messages.MessageFactory`)."""

    def dispenser(self, line: str, dispenser: int, online: bool, at: dt.datetime) -> OutboxMessage: ...
    def device(self, fact: DeviceFact) -> OutboxMessage: ...


@dataclass(frozen=True, slots=True)
class EventRoute(Generic[E]):
    """How events of type `event` leave the daemon; None where they do not go."""

    event: type[E]
    control: Callable[[E, ControlContext], m.Message | None] | None = None
    centre: Callable[[E, CentreMessages], Sequence[OutboxMessage]] | None = None

    def install(self, routes: EventRoutes) -> None:
        routes.register(self)


class Route(Protocol):
    """Any `EventRoute` (whatever its event type), as collections of routes hold them."""

    def install(self, routes: EventRoutes) -> None: ...


_ToControl = Callable[[object, ControlContext], m.Message | None]
_ToCentre = Callable[[object, CentreMessages], Sequence[OutboxMessage]]


def _control(route: EventRoute[E]) -> _ToControl | None:
    convert, kind = route.control, route.event
    if convert is None:
        return None

    def to_control(event: object, ctx: ControlContext) -> m.Message | None:
        assert isinstance(event, kind)
        return convert(event, ctx)

    return to_control


def _centre(route: EventRoute[E]) -> _ToCentre | None:
    convert, kind = route.centre, route.event
    if convert is None:
        return None

    def to_centre(event: object, messages: CentreMessages) -> Sequence[OutboxMessage]:
        assert isinstance(event, kind)
        return convert(event, messages)

    return to_centre


class EventRoutes:
    """The registered routes, looked up by the event's exact type."""

    def __init__(self, routes: Iterable[Route] = ()) -> None:
        self._types: set[type[object]] = set()
        self._control: dict[type[object], _ToControl] = {}
        self._centre: dict[type[object], _ToCentre] = {}
        for route in routes:
            route.install(self)

    def register(self, route: EventRoute[E]) -> None:
        if route.event in self._types:
            raise RouteError(f"event {route.event.__qualname__} has a route already")
        self._types.add(route.event)
        if (control := _control(route)) is not None:
            self._control[route.event] = control
        if (centre := _centre(route)) is not None:
            self._centre[route.event] = centre

    def extended(self, routes: Iterable[Route]) -> EventRoutes:
        """A copy with more routes (the registry adds the routes of its components)."""
        out = EventRoutes()
        out._types = set(self._types)
        out._control = dict(self._control)
        out._centre = dict(self._centre)
        for route in routes:
            route.install(out)
        return out

    @property
    def centre_types(self) -> tuple[type[object], ...]:
        """The event types with a route to the centre."""
        return tuple(self._centre)

    def __contains__(self, event_type: type[object]) -> bool:
        return event_type in self._types

    def to_control(self, event: object, ctx: ControlContext) -> m.Message | None:
        """The control-API message of `event`; None for events viewers do not get."""
        convert = self._control.get(type(event))
        return None if convert is None else convert(event, ctx)

    def to_centre(self, event: object, messages: CentreMessages) -> Sequence[OutboxMessage]:
        """The outbox messages of `event` (queued by the uplink's bus bridge); () when none."""
        convert = self._centre.get(type(event))
        return () if convert is None else convert(event, messages)
