"""The root of the controller's own errors.

Layer: edge errors (imports nothing; every part of `edge`, its configuration reader and the control
API's types derive their errors from `EdgeError`). `storage.errors.StorageError`,
`protocol.errors.ProtocolError` and `uplink.errors.UplinkError` are the roots of their packages; an
error of `edge` that is also a built-in kind keeps that base too (`class TankError(EdgeError,
ValueError)`), so code catching the built-in kind still catches it.
"""

from __future__ import annotations

__all__ = ["EdgeError"]


class EdgeError(Exception):
    """Root of every error the controller (`edge`) raises itself."""
