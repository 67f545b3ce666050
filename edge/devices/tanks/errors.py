"""Typed errors of the tank package.

Layer: edge (pure core). Leaves carry the offending value so a field engineer can read it in a log line.
"""

from __future__ import annotations

from edge.errors import EdgeError

__all__ = ["BadMeasurement", "BadStrappingTable", "BadTankConfig", "TankError"]


class TankError(EdgeError, ValueError):
    """Root of every error raised by `edge.devices.tanks`."""


class BadStrappingTable(TankError):
    """A strapping (calibration) table is not usable: too short, not strictly increasing, negative."""


class BadMeasurement(TankError):
    """A reading cannot be a measurement of this tank (out of range, not finite)."""

    def __init__(self, message: str, value: object = None) -> None:
        super().__init__(message)
        self.value = value


class BadTankConfig(TankError):
    """A tank's configuration is not usable."""
