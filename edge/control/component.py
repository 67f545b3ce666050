"""The control API as a component: built from `[control]` (a core table) and the station.

Layer: edge (component). Every station runs it.
"""

from __future__ import annotations

from edge.config import Config
from edge.control.server import ControlServer
from edge.core.component import ComponentKind
from edge.station import Parts


def _build(_config: Config, parts: Parts) -> ControlServer:
    return ControlServer(parts.station)


CONTROL_API: ComponentKind[Config, Parts] = ComponentKind(
    name="control API", table=None, configure=lambda config: config, build=_build
)
