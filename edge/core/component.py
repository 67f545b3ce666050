"""The component seam: what the daemon runs beside the dispenser lines, and how it is built.

Layer: edge core (typing only). A `ComponentKind` names its configuration table, validates it into typed
settings (every problem with its file and key, as `ConfigError`), builds the `Component` from those
settings and the daemon's parts (typed, required, passed to the constructor), and declares the events
it publishes (with their routes) and consumes. The daemon starts every component's `run()` under its
`TaskGroup` and stops it by cancelling that task; `run()` releases what it holds in `finally`.

    configure(config) ─▶ settings | None (not configured: not built)
    build(settings, parts) ─▶ Component ─▶ TaskGroup: run() … cancelled at stop

The uplink is the one `CentreKind`: it is prepared first, because what it queues for the centre
(`CentreOutbox`) is given to the sessions, the rules and the shifts when they are constructed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from edge.config import Config, ConfigError
from edge.core.centre import CentreOutbox, CentreView
from edge.core.routes import Route

S = TypeVar("S")
P = TypeVar("P")
P_contra = TypeVar("P_contra", contravariant=True)


class Component(Protocol):
    """Something the daemon runs beside the dispenser lines."""

    @property
    def name(self) -> str: ...

    async def run(self) -> None:
        """Run until cancelled (the daemon stopping); release everything in `finally`. Failures of the
        outside world are handled inside (logged, alarmed, retried); an exception escaping is a bug and
        stops the daemon through its supervisor."""
        ...


class CentreLink(Component, CentreView, Protocol):
    """The running link to the centre (the uplink): a component that also reports its state."""


@dataclass(frozen=True)
class ComponentKind(Generic[S, P]):
    """One kind of component; registered once in `edge.registry`."""

    name: str
    table: str | None
    """Its configuration table (`[door_sensor]` …); None for a component without one."""
    configure: Callable[[Config], S | None]
    """Validate the table into settings; None when the component is not configured. Raises `ConfigError`
    listing every problem, each `file: table.key: what`."""
    build: Callable[[S, P], Component]
    publishes: tuple[Route, ...] = ()
    """The routes of the event types it publishes (control message, centre message)."""
    consumes: tuple[type[object], ...] = ()
    """The event types it reads from the bus (documentation, checked by the registry's tests)."""

    def check(self, config: Config) -> list[str]:
        """Every problem of its table (empty when valid or absent)."""
        try:
            self.configure(config)
        except ConfigError as exc:
            return list(exc.problems)
        return []

    def assemble(self, config: Config, parts: P) -> Component | None:
        settings = self.configure(config)
        return None if settings is None else self.build(settings, parts)


class Kind(Protocol[P_contra]):
    """Any `ComponentKind` whose parts are `P_contra` (whatever its settings type)."""

    @property
    def name(self) -> str: ...
    @property
    def table(self) -> str | None: ...
    @property
    def publishes(self) -> tuple[Route, ...]: ...
    @property
    def consumes(self) -> tuple[type[object], ...]: ...
    def check(self, config: Config) -> list[str]: ...
    def assemble(self, config: Config, parts: P_contra) -> Component | None: ...


@dataclass(frozen=True)
class PreparedCentre(Generic[P]):
    """A configured centre: its outbox now, its link once the parts it needs exist."""

    outbox: CentreOutbox
    build: Callable[[P], CentreLink]


@dataclass(frozen=True)
class CentreKind(Generic[S, P]):
    """The link to the centre (one per station, optional)."""

    name: str
    table: str
    configure: Callable[[Config], S | None]
    outbox: Callable[[S], CentreOutbox]
    build: Callable[[S, CentreOutbox, P], CentreLink]
    publishes: tuple[Route, ...] = ()
    consumes: tuple[type[object], ...] = ()

    def check(self, config: Config) -> list[str]:
        try:
            self.configure(config)
        except ConfigError as exc:
            return list(exc.problems)
        return []

    def prepare(self, config: Config) -> PreparedCentre[P] | None:
        settings = self.configure(config)
        if settings is None:
            return None
        outbox = self.outbox(settings)

        def build(parts: P) -> CentreLink:
            return self.build(settings, outbox, parts)

        return PreparedCentre(outbox, build)


class CentreKindOf(Protocol[P]):
    """Any `CentreKind` whose parts are `P`."""

    @property
    def name(self) -> str: ...
    @property
    def table(self) -> str: ...
    @property
    def publishes(self) -> tuple[Route, ...]: ...
    @property
    def consumes(self) -> tuple[type[object], ...]: ...
    def check(self, config: Config) -> list[str]: ...
    def prepare(self, config: Config) -> PreparedCentre[P] | None: ...
