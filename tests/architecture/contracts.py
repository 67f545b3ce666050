"""The import contracts of the code base, checked from the sources (the build fails on a violation).

Every module of the product packages belongs to one unit; a unit may import only the units listed in
`MAY_IMPORT` (which is itself acyclic, so the units form layers):

    edge root (CLI, commands, daemon, registry) ─▶ uplink ─▶ edge ─▶ storage ─▶ protocol ─▶ shared words
                                                               └────▶ configuration, control API types
    tui ─▶ control API types, shared words        firmware-sim ─▶ protocol, configuration

("shared words": the catalogs and the words of kinds, payments and reasons, `SHARED_WORDS`.) A direct
import across the layers is allowed only in `EXCEPTIONS`, with its reason.
Also: no import cycles between the modules of `edge`, `uplink`, `storage` and `protocol` (imports under
`if TYPE_CHECKING:` excepted: they never run); `construct` is imported only in `protocol`; SQL statements
appear only in `storage`. `check(sources)` returns every violation as one line of text.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "protocol": ROOT / "protocol",
    "storage": ROOT / "storage",
    "edge": ROOT / "edge",
    "uplink": ROOT / "uplink",
    "tui": ROOT / "tui",
    "station_sim": ROOT / "firmware-sim" / "station_sim",
}
EDGE_ROOT = (
    "edge.cli",
    "edge.commands",
    "edge.daemon",
    "edge.registry",
    "edge.demo_station",
    "edge.demo_lifecycle",
    "edge.__main__",
)
"""The composition root and the command line: the only part of `edge` that may import the uplink."""

SHARED_WORDS = ("protocol.i18n", "protocol.words", "protocol.reasons")
"""Pure vocabulary every layer may use: the catalogs, the words of kinds, payments and reasons."""

MAY_IMPORT: Mapping[str, frozenset[str]] = {
    "shared words": frozenset(),
    "protocol": frozenset({"shared words"}),
    "storage": frozenset({"protocol", "shared words"}),
    "edge errors": frozenset(),
    "configuration": frozenset({"shared words", "edge errors"}),
    "control API types": frozenset({"shared words", "edge errors"}),
    "edge": frozenset(
        {"protocol", "storage", "configuration", "control API types", "shared words", "edge errors"}
    ),
    "uplink": frozenset(
        {"protocol", "storage", "configuration", "control API types", "shared words", "edge errors", "edge"}
    ),
    "edge root": frozenset(
        {
            "protocol",
            "storage",
            "configuration",
            "control API types",
            "shared words",
            "edge errors",
            "edge",
            "uplink",
        }
    ),
    "tui": frozenset({"control API types", "shared words"}),
    "firmware-sim": frozenset({"protocol", "configuration", "shared words"}),
}
EXCEPTIONS: Mapping[tuple[str, str], str] = {
    ("station_sim.scale_hall", "edge.devices.lpg.specs"): "the simulator reads [lpg] scales with the daemon's reader",
    ("station_sim.scale_hall", "edge.devices.lpg.errors"): "the simulator reports the reader's errors as they are",
    (
        "station_sim.tanks",
        "edge.devices.tanks.config",
    ): "the simulator reads [tanks] with the daemon's reader",
    ("station_sim.tanks", "edge.devices.tanks.errors"): "the simulator reports the reader's errors as they are",
    ("station_sim.sim", "edge.devices.tanks.config"): "the simulator reads [tanks] with the daemon's reader",
    ("station_sim.cli", "edge.devices.tanks.config"): "the simulator reads [tanks] with the daemon's reader",
    ("station_sim.cli", "edge.devices.tanks.errors"): "the simulator reports the reader's errors as they are",
    (
        "station_sim.cli",
        "edge.children",
    ): "the simulator ends with its parent through the same helper (stdlib)",
    # Debt, to be moved under the composition root or into storage (listed so that nothing new joins it):
    ("edge.control.reports", "edge.daemon"): "debt: the reports read the station through the daemon module",
    ("edge.doctor", "edge.commands.run"): "debt: the doctor reuses the run command's checks",
    ("edge.doctor", "edge.commands.housekeeping"): "debt: the doctor reuses the housekeeping command",
    ("edge.housekeeping", "edge.commands.housekeeping"): "debt: the daily jobs reuse the command's functions",
}
"""(importer, imported) → why this one direct import is allowed across the layers."""
SQL_DEBT: Mapping[str, str] = {
    "edge.control.dayclose": "debt: the daily close's sales-in-progress query belongs in storage.reports",
    "edge.doctor": "debt: the doctor's database checks belong in storage",
}
"""Modules allowed SQL outside storage for now (debt; any other module with SQL fails)."""
ACYCLIC = ("protocol", "storage", "edge", "uplink")
"""Top-level packages whose modules may not import each other in a cycle."""
SQL = re.compile(
    r"^\s*(SELECT\b.*\bFROM\b|SELECT\s+\w+\s*\(|INSERT\s+(OR\s+\w+\s+)?INTO\b|UPDATE\s+\w+\s+SET\b"
    r"|DELETE\s+FROM\b|(CREATE|DROP)\s+(TEMP\s+|TEMPORARY\s+|UNIQUE\s+)?(TABLE|INDEX|TRIGGER|VIEW)\b"
    r"|ALTER\s+TABLE\b|PRAGMA\s+\w+|REPLACE\s+INTO\b|WITH\s+(RECURSIVE\s+)?\w+(\s*\([^)]*\))?\s+AS\b)",
    re.S,
)
"""The shape of an SQL statement (so that an APDU's name, "SELECT of the application", is not one)."""


def unit_of(module: str) -> str:
    top = module.split(".")[0]
    if module in SHARED_WORDS:
        return "shared words"
    if module == "edge.errors":
        return "edge errors"
    if module == "edge.config":
        return "configuration"
    if module == "edge.control.messages":
        return "control API types"
    if top == "edge":
        return "edge root" if any(module == r or module.startswith(r + ".") for r in EDGE_ROOT) else "edge"
    return {"station_sim": "firmware-sim"}.get(top, top)


@dataclass
class Module:
    name: str
    path: str
    tree: ast.Module
    imports: list[tuple[str, int, bool]] = field(default_factory=list)
    """(imported name, line, under TYPE_CHECKING)."""


def sources_on_disk() -> dict[str, tuple[str, str]]:
    """module name → (path, source) for every module of the product packages (a fresh copy)."""
    return dict(_read_sources())


@functools.cache
def _read_sources() -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = [package, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = (str(path.relative_to(ROOT)), path.read_text(encoding="utf-8"))
    return out


@functools.lru_cache(maxsize=4096)
def _parse(name: str, path: str, source: str) -> Module:
    module = Module(name, path, ast.parse(source, path))
    guarded: set[int] = set()
    for node in ast.walk(module.tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            guarded.update(id(n) for n in ast.walk(node))
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    for node in ast.walk(module.tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            names = [f"{base}.{a.name}" for a in node.names]
        module.imports.extend((n, node.lineno, id(node) in guarded) for n in names)  # type: ignore[attr-defined]
    return module


def _resolve(name: str, known: Iterable[str]) -> str | None:
    known = set(known)
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def _cycles(graph: Mapping[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def check(sources: Mapping[str, tuple[str, str]]) -> list[str]:
    """Every violation of the contracts in `sources` (module name → (path, source))."""
    modules = {name: _parse(name, path, source) for name, (path, source) in sources.items()}
    problems: list[str] = []
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for m in modules.values():
        unit = unit_of(m.name)
        for imported, line, type_only in m.imports:
            top = imported.split(".")[0]
            if top == "construct" and unit != "protocol":
                problems.append(f"{m.path}:{line}: imports construct (only protocol may)")
            target = _resolve(imported, modules)
            if target is None or target == m.name:
                continue
            other = unit_of(target)
            if other != unit and other not in MAY_IMPORT[unit] and (m.name, target) not in EXCEPTIONS:
                problems.append(f"{m.path}:{line}: {unit} may not import {other} ({m.name} → {target})")
            if not type_only and m.name.split(".")[0] in ACYCLIC and target.split(".")[0] in ACYCLIC:
                graph[m.name].add(target)
        if unit != "storage" and m.name not in SQL_DEBT:
            for node in ast.walk(m.tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.match(node.value):
                    problems.append(
                        f"{m.path}:{node.lineno}: SQL outside storage: {node.value.strip()[:40]!r}"
                    )
    problems.extend(f"import cycle: {' → '.join(c)}" for c in _cycles(graph))
    return sorted(set(problems))


def units_are_layers() -> list[list[str]]:
    """Cycles in `MAY_IMPORT` itself (none: the units are layers)."""
    return _cycles({u: set(deps) for u, deps in MAY_IMPORT.items()})
