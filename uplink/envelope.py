"""Signed downlink documents: the signed body, the Ed25519 signature and the parts on the wire.

Layer: uplink (pure; `cryptography` for Ed25519). The centre signs the EXACT bytes of a document body
(no canonicalisation is needed on the station: it verifies the bytes it reassembled); the body is
compact JSON::

    body = {"v": 1, "kind": "prices", "station": "S1", "version": 7,
            "issued_at": "2024-05-01T08:00:00.000000+00:00", "expires_at": null,
            "payload": {...kind specific, see uplink.documents...}}

    sig  = Ed25519(centre private key, body)                      64 bytes
    doc  = SHA-256(body), hex                                      the document id

A body travels in one or more parts, each one MQTT message on `station/{id}/down` (QoS 1), every
part carrying the document id, the total size and the signature::

    {"v": 1, "doc": "<64 hex>", "part": 0, "parts": 3, "size": 300000,
     "sig": "<base64, 64 bytes>", "data": "<base64 of body[offset : offset + chunk]>"}

The station joins parts 0..parts-1 in order, checks size and SHA-256, THEN verifies the signature
against the configured centre public keys and only then parses the body: nothing of a document is
used before it is complete and verified. `station` is the target station id or "*" (any station);
`version` grows per kind; `expires_at` (optional) bounds how late a document may be applied.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from storage.clock import iso_instant
from uplink.errors import DownlinkRejected, Reason

ENVELOPE_VERSION: Final = 1
SIGNATURE_LEN: Final = 64
PUBLIC_KEY_LEN: Final = 32
ANY_STATION: Final = "*"
_BODY_KEYS: Final = frozenset({"v", "kind", "station", "version", "issued_at", "expires_at", "payload"})
_PART_KEYS: Final = frozenset({"v", "doc", "part", "parts", "size", "sig", "data"})


class DocKind(StrEnum):
    """What a document changes (its applier) — see `uplink.documents` for each payload."""

    LISTS = "lists"
    PRICES = "prices"
    CALENDAR = "calendar"
    CONFIG = "config"
    GREY = "grey"
    RESEND = "resend"
    CYLINDERS = "cylinders"
    CARD_STATUS = "card_status"


# --- keys -------------------------------------------------------------------------------------------


def public_key_from_text(text: str) -> Ed25519PublicKey:
    """A centre public key from its configuration form: base64 of the raw 32 bytes."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError(f"not base64: {exc}") from exc
    if len(raw) != PUBLIC_KEY_LEN:
        raise ValueError(f"an Ed25519 public key is {PUBLIC_KEY_LEN} bytes, got {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def public_key_text(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def load_private_key(path: str | Path) -> Ed25519PrivateKey:
    """The centre's signing key from a PEM (PKCS#8, unencrypted) file."""
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key")
    return key


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


# --- the signed body --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Body:
    """A verified document body."""

    kind: DocKind
    station: str
    version: int
    issued_at: dt.datetime
    expires_at: dt.datetime | None
    payload: dict[str, Any]


def encode_body(
    kind: DocKind | str,
    station: str,
    version: int,
    payload: dict[str, Any],
    *,
    issued_at: dt.datetime,
    expires_at: dt.datetime | None = None,
) -> bytes:
    """The bytes a centre signs (compact JSON, sorted keys)."""
    obj = {
        "v": ENVELOPE_VERSION,
        "kind": str(DocKind(kind)),
        "station": station,
        "version": version,
        "issued_at": iso_instant(issued_at),
        "expires_at": None if expires_at is None else iso_instant(expires_at),
        "payload": payload,
    }
    return json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def document_id(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def sign(key: Ed25519PrivateKey, body: bytes) -> bytes:
    return key.sign(body)


def verify(keys: Sequence[Ed25519PublicKey], body: bytes, sig: bytes) -> bool:
    """True when any of the configured centre keys signed `body` (several keys allow rotation)."""
    for key in keys:
        try:
            key.verify(sig, body)
        except InvalidSignature:
            continue
        return True
    return False


def _instant(value: Any, field: str) -> dt.datetime:
    if not isinstance(value, str):
        raise DownlinkRejected(Reason.SCHEMA, f"{field} must be an ISO 8601 instant")
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        raise DownlinkRejected(Reason.SCHEMA, f"{field} {value[:40]!r} is not an ISO 8601 instant") from None
    if parsed.tzinfo is None:
        raise DownlinkRejected(Reason.SCHEMA, f"{field} {value[:40]!r} has no UTC offset")
    return parsed


def parse_body(body: bytes) -> Body:
    """Parse a VERIFIED body; `DownlinkRejected(SCHEMA)` when it does not follow the contract."""
    try:
        obj = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DownlinkRejected(Reason.SCHEMA, f"body is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise DownlinkRejected(Reason.SCHEMA, "body is not a JSON object")
    unknown = set(obj) - _BODY_KEYS
    missing = _BODY_KEYS - {"expires_at"} - set(obj)
    if unknown or missing:
        raise DownlinkRejected(
            Reason.SCHEMA, f"body keys: unknown {sorted(unknown)[:5]}, missing {sorted(missing)}"
        )
    if obj["v"] != ENVELOPE_VERSION:
        raise DownlinkRejected(Reason.SCHEMA, f"envelope version {obj['v']!r} is not {ENVELOPE_VERSION}")
    try:
        kind = DocKind(obj["kind"])
    except ValueError:
        raise DownlinkRejected(Reason.SCHEMA, f"unknown kind {str(obj['kind'])[:40]!r}") from None
    station, version, payload = obj["station"], obj["version"], obj["payload"]
    if not isinstance(station, str) or not station:
        raise DownlinkRejected(Reason.SCHEMA, "station must be a station id or '*'")
    if not isinstance(version, int) or isinstance(version, bool) or not 1 <= version < 2**63:
        raise DownlinkRejected(Reason.SCHEMA, "version must be a positive integer")
    if not isinstance(payload, dict):
        raise DownlinkRejected(Reason.SCHEMA, "payload must be a JSON object")
    expires = obj.get("expires_at")
    return Body(
        kind=kind,
        station=station,
        version=version,
        issued_at=_instant(obj["issued_at"], "issued_at"),
        expires_at=None if expires is None else _instant(expires, "expires_at"),
        payload=payload,
    )


# --- parts ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Part:
    """One downlink message: a slice of a signed body."""

    doc: str
    index: int
    count: int
    size: int
    sig: bytes
    data: bytes


def make_parts(body: bytes, sig: bytes, chunk_bytes: int) -> list[bytes]:
    """The MQTT payloads that carry `body` (each with at most `chunk_bytes` of it)."""
    if chunk_bytes < 1:
        raise ValueError("chunk_bytes must be positive")
    doc = document_id(body)
    chunks = [body[i : i + chunk_bytes] for i in range(0, len(body), chunk_bytes)] or [b""]
    sig_text = base64.b64encode(sig).decode("ascii")
    return [
        json.dumps(
            {
                "v": ENVELOPE_VERSION,
                "doc": doc,
                "part": i,
                "parts": len(chunks),
                "size": len(body),
                "sig": sig_text,
                "data": base64.b64encode(chunk).decode("ascii"),
            },
            separators=(",", ":"),
            sort_keys=True,
        ).encode()
        for i, chunk in enumerate(chunks)
    ]


def _b64(value: Any, field: str, reason: Reason) -> bytes:
    if not isinstance(value, str):
        raise DownlinkRejected(reason, f"{field} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise DownlinkRejected(reason, f"{field} is not valid base64") from None


def _uint(obj: dict[str, Any], field: str) -> int:
    value = obj.get(field)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise DownlinkRejected(Reason.SCHEMA, f"{field} must be a non-negative integer")
    return value


def parse_part(message: bytes, *, max_part_bytes: int, max_document_bytes: int) -> Part:
    """Check one downlink message and return its part; `DownlinkRejected` says why it is refused."""
    if len(message) > max_part_bytes:
        raise DownlinkRejected(Reason.OVERSIZED, f"message of {len(message)} bytes exceeds {max_part_bytes}")
    try:
        obj = json.loads(message)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DownlinkRejected(Reason.MALFORMED, f"not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise DownlinkRejected(Reason.MALFORMED, "not a JSON object")
    if obj.get("sig") in (None, ""):
        raise DownlinkRejected(Reason.UNSIGNED, "no signature")
    unknown = set(obj) - _PART_KEYS
    if unknown or obj.get("v") != ENVELOPE_VERSION:
        raise DownlinkRejected(
            Reason.SCHEMA, f"part: version {obj.get('v')!r}, unknown keys {sorted(unknown)[:5]}"
        )
    doc = obj.get("doc")
    if not isinstance(doc, str) or len(doc) != 64 or doc.strip("0123456789abcdef"):
        raise DownlinkRejected(Reason.SCHEMA, "doc must be 64 lower-case hex digits")
    index, count, size = _uint(obj, "part"), _uint(obj, "parts"), _uint(obj, "size")
    if size > max_document_bytes:
        raise DownlinkRejected(Reason.OVERSIZED, f"document of {size} bytes exceeds {max_document_bytes}")
    if not 0 <= index < count or count > max(1, size):
        raise DownlinkRejected(Reason.SCHEMA, f"part {index} of {count} for {size} bytes")
    sig = _b64(obj["sig"], "sig", Reason.BAD_SIGNATURE)
    if len(sig) != SIGNATURE_LEN:
        raise DownlinkRejected(Reason.BAD_SIGNATURE, f"signature is {len(sig)} bytes, not {SIGNATURE_LEN}")
    data = _b64(obj.get("data"), "data", Reason.MALFORMED)
    if len(data) > size or (count == 1 and len(data) != size):
        raise DownlinkRejected(Reason.TRUNCATED, f"part carries {len(data)} bytes of a {size}-byte document")
    return Part(doc, index, count, size, sig, data)
