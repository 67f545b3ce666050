"""One root error per package: every exception class a package defines derives from its package's root,
so a caller can catch "anything this package raises" with one `except`. A class that is also a built-in
kind keeps that base beside the root (`class TankError(EdgeError, ValueError)`)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

ROOTS = {
    "protocol": ("protocol.errors", "ProtocolError"),
    "storage": ("storage.errors", "StorageError"),
    "edge": ("edge.errors", "EdgeError"),
    "uplink": ("uplink.errors", "UplinkError"),
    "station_sim": ("station_sim.errors", "SimError"),
}
OUTSIDE = {
    "protocol.i18n": "the catalogs are shared words below every package (they import nothing of ours)",
    "protocol.words": "shared words",
    "protocol.reasons": "shared words",
}
"""Modules whose errors need not derive from their package's root, with the reason."""
CONTROL_FLOW = {"Interrupted", "Refuse"}
"""Exceptions used as control flow inside one module of the simulator (never escape it)."""
DEBT: set[str] = set()
"""Errors still outside their root, by qualified name (none left)."""


def _modules(package: str) -> list[str]:
    root = importlib.import_module(package)
    return [package] + [m.name for m in pkgutil.walk_packages(root.__path__, package + ".")]


@pytest.mark.parametrize("package", sorted(ROOTS))
def test_every_error_of_a_package_derives_from_its_root(package: str) -> None:
    module_name, root_name = ROOTS[package]
    root = getattr(importlib.import_module(module_name), root_name)
    strays = []
    for name in _modules(package):
        if name in OUTSIDE or name.endswith("__main__"):
            continue
        module = importlib.import_module(name)
        for value in vars(module).values():
            if not (isinstance(value, type) and issubclass(value, BaseException)):
                continue
            if value.__module__ != name or value.__name__.startswith("_") or value.__name__ in CONTROL_FLOW:
                continue
            in_debt = any(f"{base.__module__}.{base.__name__}" in DEBT for base in value.__mro__)
            if not issubclass(value, root) and not in_debt:
                strays.append(f"{name}.{value.__name__}")
    assert strays == [], f"errors outside {root_name}: {strays}"

