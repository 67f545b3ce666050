"""A component's configuration table read into its typed settings, driven by the dataclass's fields.

Layer: edge core (pure). A component's settings are a frozen dataclass whose field docstrings document
its keys (docs/configuration.md); `read_table` checks the table against it and reports EVERY problem with
the file and the key, as `ConfigError`:

    station.toml: door_sensor.poll_ms: must be int, got str '50'
    station.toml: door_sensor.colour: unknown key
    station.toml: door_sensor.doors: missing

Supported field types: str, int, float, bool, Path (relative to the configuration file), tuple[str, ...]
and dict[str, str]. A field's `metadata={"check": f}` adds a check: `f(value)` returns what is wrong, or
None. The annotations must be real types (resolved with `typing.get_type_hints`).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from edge.config import Config, ConfigError

T = TypeVar("T")
Check = Callable[[Any], str | None]


def check(fn: Check) -> dict[str, Check]:
    """`field(metadata=check(f))`: an extra check of one key."""
    return {"check": fn}


def _convert(hint: object, value: object, base: Path) -> tuple[object, str | None]:
    if hint is bool:
        return value, None if isinstance(value, bool) else "must be true or false"
    if hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        return value, None if ok else "must be an integer"
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value), None
        return value, "must be a number"
    if hint is str:
        return value, None if isinstance(value, str) else "must be a string"
    if hint is Path:
        if not isinstance(value, str) or not value:
            return value, "must be a path"
        return base / value, None
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is tuple and args[-1] is Ellipsis and args[0] is str:
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return tuple(value), None
        return value, "must be a list of strings"
    if origin is dict and args == (str, str):
        if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
            return {str(k): v for k, v in value.items()}, None
        return value, "must be a table of strings"
    raise TypeError(f"unsupported settings field type {hint!r}")


def _describe(value: object) -> str:
    return f"{type(value).__name__} {value!r}"


def read_table(config: Config, table: str, settings: type[T]) -> T | None:
    """`settings` from `[table]` of the configuration; None when the table is absent."""
    doc = config.extra.get(table)
    if doc is None:
        return None
    source = config.path.name
    if not isinstance(doc, dict):
        raise ConfigError([f"{source}: {table}: must be a table"])
    assert dataclasses.is_dataclass(settings)
    hints = typing.get_type_hints(settings)
    fields = {f.name: f for f in dataclasses.fields(settings)}
    problems = [f"{source}: {table}.{key}: unknown key" for key in doc if key not in fields]
    values: dict[str, object] = {}
    for name, f in fields.items():
        where = f"{source}: {table}.{name}"
        if name not in doc:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                problems.append(f"{where}: missing")
            continue
        value, wrong = _convert(hints[name], doc[name], config.path.parent)
        if wrong is None and (extra := f.metadata.get("check")) is not None:
            wrong = extra(value)
        if wrong is not None:
            problems.append(f"{where}: {wrong}, got {_describe(doc[name])}")
            continue
        values[name] = value
    if problems:
        raise ConfigError(problems)
    return typing.cast(T, settings(**values))
