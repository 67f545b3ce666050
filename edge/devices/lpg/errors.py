"""Typed errors of the LPG package."""

from __future__ import annotations

from edge.errors import EdgeError

__all__ = ["BadCylinderFile", "BadLpgConfig", "LpgError"]


class LpgError(EdgeError, ValueError):
    """Root of every error raised by `edge.devices.lpg`."""


class BadLpgConfig(LpgError):
    """The `[lpg]` configuration is not usable; `problems` names every key at fault."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid [lpg] configuration:\n  " + "\n  ".join(problems))
        self.problems = problems


class BadCylinderFile(LpgError):
    """An import file is not usable; `problems` names every line and column at fault (nothing applied)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("cylinder file refused, nothing imported:\n  " + "\n  ".join(problems))
        self.problems = problems
