"""Files the product ships beside its code: docs, the example configuration, the systemd units,
the install script.

Layer: edge (paths only). In a wheel they live in `edge/_bundled/` (`[tool.hatch.build.targets.wheel
.force-include]` in pyproject.toml); in a source checkout they are read from the checkout itself. The
version has one home, `[project] version` in pyproject.toml, read here from the installed metadata.
"""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

from edge.errors import EdgeError

DISTRIBUTION = "station-edge"
_BUNDLE = Path(__file__).resolve().parent / "_bundled"
_CHECKOUT = Path(__file__).resolve().parent.parent


class MissingResource(EdgeError, FileNotFoundError):
    """A file the product should ship is absent (a broken install)."""


def bundled(relative: str) -> Path:
    """The shipped file `relative` (e.g. `docs/operations.md`, `examples/station.toml`)."""
    for root in (_BUNDLE, _CHECKOUT):
        path = root / relative
        if path.exists():
            return path
    raise MissingResource(f"{relative} is not part of this installation (looked in {_BUNDLE})")


def version() -> str:
    """The installed product version (`station --version`)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0+unknown"
