"""Control-API commands served by a component: who asks, and the handler's shape.

Layer: edge core (typing only). A component registers its handlers in `Station.device_commands` when it
is built; `edge.control.handlers` checks the session and the role (auditing a refusal) before calling one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from edge.control import messages as m

__all__ = ["Actor", "DeviceCommand"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks for a device command: the logged-in operator and their role."""

    username: str
    role: m.Role


DeviceCommand = Callable[[Any, Actor], Awaitable[m.Reply]]
"""A request of the component's own type → its reply (refusals as replies or `error`)."""
