"""The card rules' long-running parts as components: the price scheduler, the card re-check, the inbox.

Layer: edge (components). The rules themselves (`edge.rules_runtime.open_rules`) are built by the daemon
before the dispenser sessions, which need the authority; these kinds only run their loops under the
daemon's task group. None has a table of its own (`[rules]` is validated by `edge.rules_config`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from edge.config import Config
from edge.core.component import ComponentKind
from edge.station import Parts


@dataclass(frozen=True)
class TaskComponent:
    """A component that is one loop of another object (`run` until cancelled)."""

    name: str
    loop: Callable[[], Awaitable[None]]

    async def run(self) -> None:
        await self.loop()


def always(config: Config) -> Config:
    """`configure` of a component that every station runs (no table of its own)."""
    return config


PRICE_SCHEDULER: ComponentKind[Config, Parts] = ComponentKind(
    name="price scheduler",
    table=None,
    configure=always,
    build=lambda _config, parts: TaskComponent("price scheduler", parts.rules.prices.run),
)
"""Puts each price table in force at its effective time and follows the dispensers' receipts."""

CARD_RECHECK: ComponentKind[Config, Parts] = ComponentKind(
    name="card re-check",
    table=None,
    configure=always,
    build=lambda _config, parts: TaskComponent("card re-check", parts.rules.authority.run),
)
"""Decides again the cards whose card-inserted report came after their 0x36 answer."""

IMPORT_INBOX: ComponentKind[Config, Parts] = ComponentKind(
    name="import inbox",
    table=None,
    configure=always,
    build=lambda _config, parts: TaskComponent("import inbox", parts.rules.inbox.run),
)
"""Applies the lists, prices, calendar and grey files spooled by `station lists|prices import`."""
