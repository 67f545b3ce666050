"""Typed errors of the simulator.

Layer: firmware-sim. One root (`SimError`); leaves carry what went wrong.
"""

from __future__ import annotations


class SimError(Exception):
    """Root of every error raised by `station_sim`."""


class SettingsError(SimError):
    """Command line or `[simulator]` table values are invalid; `problems` lists every one."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid simulator settings:\n  " + "\n  ".join(problems))
        self.problems = problems


class ScenarioError(SimError):
    """A scenario file is invalid; `problems` lists every one, each `file: key: what`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid scenario:\n  " + "\n  ".join(problems))
        self.problems = problems


class TransportError(SimError):
    """A line's url cannot be opened or served."""

    def __init__(self, url: str, message: str) -> None:
        super().__init__(f"{url}: {message}")
        self.url = url


class StateError(SimError):
    """A state file cannot be read or written."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
