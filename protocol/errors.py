"""Typed errors of the protocol layer.

Layer: protocol (pure). Every failure the codec can see is a subclass of `ProtocolError`; leaves carry
the offending bytes or value so a field engineer can read them in a log line.
"""

from __future__ import annotations


class ProtocolError(Exception):
    """Root of every error raised by the `protocol` package."""


class FrameError(ProtocolError):
    """A frame on the wire is damaged; the reader dropped it and resynchronised."""

    def __init__(self, message: str, raw: bytes = b"") -> None:
        super().__init__(message)
        self.raw = raw


class CrcError(FrameError):
    """The CRC of a complete frame does not match its contents."""

    def __init__(self, expected: int, received: int, raw: bytes) -> None:
        super().__init__(f"CRC mismatch: computed {expected:04X}, frame carries {received:04X}", raw)
        self.expected = expected
        self.received = received


class LengthError(FrameError):
    """The LEN field is not valid packed BCD, or is zero."""


class TruncatedFrameError(FrameError):
    """A new frame started (an unescaped 0xFA) before the current one was complete."""


class PayloadError(ProtocolError):
    """A frame passed the CRC but its DATA does not fit the command's layout."""

    def __init__(self, message: str, data: bytes = b"") -> None:
        super().__init__(message)
        self.data = data


class UnknownCommandError(PayloadError):
    """The command byte is not one this protocol defines for the given direction."""


class EncodeError(ProtocolError):
    """A message cannot be built: a field is out of range for its wire encoding."""
