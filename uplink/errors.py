"""Typed errors of the uplink package: one root, `UplinkError`, and one leaf per cause.

Layer: uplink. Connection problems (`LinkError` and its leaves) end one MQTT connection and make the
service reconnect with back-off; `DownlinkRejected` carries the audit reason of a refused document;
`UplinkConfigError` lists every problem of the `[uplink]` table at once.
"""

from __future__ import annotations

from enum import StrEnum


class UplinkError(Exception):
    """Root of every error raised by `uplink`."""


class UplinkConfigError(UplinkError):
    """The `[uplink]` table is not valid; `problems` lists every one, each `file: key: what`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid uplink configuration:\n  " + "\n  ".join(problems))
        self.problems = problems


class LinkError(UplinkError):
    """An MQTT connection failed or ended; the service reconnects with back-off."""


class ConnectFailed(LinkError):
    """The TCP/TLS connection or the MQTT CONNECT was refused or timed out."""

    def __init__(self, message: str, *, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason


class ConnectionLost(LinkError):
    """An established connection ended (network, broker restart, keepalive timeout)."""


class PublishRejected(LinkError):
    """The broker answered a PUBLISH with a failure reason code (e.g. 0x87 not authorised)."""

    def __init__(self, topic: str, reason: str, code: int) -> None:
        super().__init__(f"broker refused a message on {topic}: {reason} ({code:#04x})")
        self.topic = topic
        self.reason = reason
        self.code = code


class SubscribeRefused(LinkError):
    """The broker refused a subscription (e.g. the ACL does not allow the topic)."""

    def __init__(self, topic: str, reason: str) -> None:
        super().__init__(f"broker refused the subscription to {topic}: {reason}")
        self.topic = topic
        self.reason = reason


class PayloadError(UplinkError):
    """An uplink payload does not follow the contract (the centre's decoder raises this)."""

    def __init__(self, message: str, data: bytes = b"") -> None:
        super().__init__(message)
        self.data = data[:256]


class Reason(StrEnum):
    """Why a downlink message was refused (the `reason` of the audit row and of the reply)."""

    OVERSIZED = "oversized"
    MALFORMED = "malformed"
    UNSIGNED = "unsigned"
    BAD_SIGNATURE = "bad_signature"
    TRUNCATED = "truncated"
    INCOMPLETE = "incomplete"
    SCHEMA = "schema"
    WRONG_STATION = "wrong_station"
    EXPIRED = "expired"
    STALE = "stale"
    REPLAYED = "replayed"
    APPLY_FAILED = "apply_failed"


class DownlinkRejected(UplinkError):
    """A downlink message or document is refused; nothing of it was applied."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail


class ApplyError(UplinkError):
    """An applier could not apply a verified document (it must have changed nothing)."""

    def __init__(self, message: str, *, reason: Reason = Reason.APPLY_FAILED) -> None:
        super().__init__(message)
        self.reason = reason
