"""The registry of component kinds: which tables exist, which components to build, every event route.

Layer: edge core (pure). `edge.registry.default_registry()` lists the station's kinds; a new device kind
is ONE more entry there. The registry answers three questions for the daemon and `station run --check`:
every problem of every component table (plus tables no kind owns), the kinds to build in order, and the
event routes (the built-in ones plus what every kind publishes).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Generic, TypeVar

from edge.config import CORE_TABLES, PASS_THROUGH_TABLES, Config
from edge.core.component import CentreKindOf, Kind
from edge.core.routes import EventRoutes
from edge.errors import EdgeError

P = TypeVar("P")
Q = TypeVar("Q")


class RegistryError(EdgeError):
    """Two kinds claim the same name or table."""


class Registry(Generic[Q, P]):
    """`Q`: the parts the centre link is built from; `P`: the parts of every other component."""

    def __init__(
        self, *, centre: CentreKindOf[Q] | None, kinds: Iterable[Kind[P]], routes: EventRoutes
    ) -> None:
        self.centre = centre
        self.kinds: list[Kind[P]] = []
        self._routes = routes
        self._names: set[str] = set()
        self._tables: set[str] = set()
        if centre is not None:
            self._claim(centre.name, centre.table)
        for kind in kinds:
            self.register(kind)

    def _claim(self, name: str, table: str | None) -> None:
        if name in self._names:
            raise RegistryError(f"component kind {name!r} is registered twice")
        if table is not None and (table in self._tables or table in CORE_TABLES):
            raise RegistryError(f"configuration table [{table}] is claimed twice")
        self._names.add(name)
        if table is not None:
            self._tables.add(table)

    def register(self, kind: Kind[P]) -> None:
        """Add a kind (built after those registered before it)."""
        self._claim(kind.name, kind.table)
        self.kinds.append(kind)

    def tables(self) -> frozenset[str]:
        """The configuration tables the components own."""
        return frozenset(self._tables)

    def routes(self) -> EventRoutes:
        """The built-in routes plus every route the kinds publish."""
        publishes = [
            *(self.centre.publishes if self.centre else ()),
            *(r for k in self.kinds for r in k.publishes),
        ]
        return self._routes.extended(publishes)

    def problems(self, config: Config) -> list[str]:
        """Every problem of every component table, and each top-level table no component owns."""
        problems: list[str] = []
        if self.centre is not None:
            problems.extend(self.centre.check(config))
        for kind in self.kinds:
            problems.extend(kind.check(config))
        for table in sorted(set(config.extra) - self._tables - PASS_THROUGH_TABLES):
            problems.append(f"{config.path.name}: {table}: unknown table (no component reads it)")
        return problems
