"""The `[uplink]` table of the station configuration: one validated, typed `UplinkSettings`.

Layer: uplink (pure core; `load_*` helpers read files). `edge.config` passes the table through
verbatim (`Config.extra["uplink"]`); `parse_uplink` checks every key and reports every problem at
once, each as `file: uplink.key: what` (`UplinkConfigError.problems`). No table, or `enabled =
false`, means no uplink. Paths are relative to the configuration file's folder.

Identity: the station id in every topic is `station.id`; the MQTT username (default: the station id)
must equal it, and a client certificate's subject CN must equal it too, so the broker's `%u` ACL
pattern confines the station to `station/<id>/#` (see docs/mqtt.md, Operations).

Environment overrides: `STATION_UPLINK_URL` replaces `url`; `STATION_UPLINK_PASSWORD` replaces the
content of `password_file`.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.x509.oid import NameOID

from uplink.envelope import public_key_from_text
from uplink.errors import UplinkConfigError

T = TypeVar("T")
DEFAULT_PORTS: Final = {"mqtt": 1883, "mqtts": 8883}


DEFAULT_MAX_RATE_PER_S = 2000.0


@dataclass(frozen=True, slots=True)
class UplinkSettings:
    url: str
    """Broker: `mqtts://host[:8883]` (TLS) or `mqtt://host[:1883]` (plain; needs `allow_plaintext`)."""
    host: str
    port: int
    tls: bool
    enabled: bool = True
    """`false` keeps the table but runs no uplink (the outbox keeps filling; nothing is lost)."""
    allow_plaintext: bool = False
    """Allow `mqtt://` without TLS (tests and laboratories only)."""
    client_id: str = ""
    """MQTT client id (default: the station id). The broker keeps the session under it."""
    username: str = ""
    """MQTT username (default: the station id); must equal the station id."""
    password: str | None = field(default=None, repr=False)
    """Read from `password_file` (or STATION_UPLINK_PASSWORD); never written in the TOML itself."""
    password_file: Path | None = None
    """File holding the station's MQTT password (first line); mode 0600 recommended."""
    ca_file: Path | None = None
    """PEM CA certificate(s) the broker's certificate must chain to: the ONLY trusted roots (pinning)."""
    cert_file: Path | None = None
    """PEM client certificate (subject CN = station id) for certificate authentication."""
    key_file: Path | None = None
    """PEM private key of `cert_file`."""
    keepalive_s: int = 30
    """MQTT keepalive; a dead connection is noticed within 1.5 × this."""
    connect_timeout_s: float = 10.0
    """TCP + TLS + CONNACK must complete within this."""
    session_expiry_s: int = 7 * 24 * 3600
    """How long the broker keeps the station's session (subscriptions, queued downlink) while offline."""
    window: int = 64
    """Outbox messages in flight (published, PUBACK pending) at most; also capped by the broker."""
    batch: int = 500
    """Outbox rows read per database query."""
    flush_rows: int = 500
    """Delete acknowledged rows once this many PUBACKs are pending deletion …"""
    flush_s: float = 0.1
    """… or after this long, whichever comes first."""
    max_rate_per_s: float = DEFAULT_MAX_RATE_PER_S
    """Send at most this many outbox messages per second (0: as fast as the window allows). The cap
    leaves CPU to the dispenser lines while a large backlog drains: at the default, 100 000 records
    drain in under a minute and the multi-drop poll rate stays within 10 % of idle (`station bench
    drain`)."""
    idle_poll_s: float = 0.5
    """When the outbox is empty, look again after this long (new records wake the pump at once)."""
    backoff_min_s: float = 0.5
    """First reconnect delay; doubles per failed attempt (with jitter) …"""
    backoff_max_s: float = 60.0
    """… up to this."""
    live_interval_s: float = 1.0
    """Live nozzle status rate (QoS 0, coalesced); 0 disables live status."""
    monitor_interval_s: float = 5.0
    """How often outbox depth, age and drain rate are measured (status and alarms)."""
    alarm_sweep_s: float = 5.0
    """How often the alarm table is swept for changes to send (a raised alarm wakes it at once)."""
    alarm_outbox_depth: int = 10_000
    """Raise the alarm uplink/outbox_depth while more messages than this are queued (0: never)."""
    alarm_outbox_age_s: float = 3600.0
    """Raise uplink/outbox_age while the oldest queued message is older than this (0: never)."""
    alarm_offline_s: float = 300.0
    """Raise uplink/offline after this long without a broker connection (0: never)."""
    centre_keys: tuple[Ed25519PublicKey, ...] = ()
    """The centre's Ed25519 public keys (base64 of the 32 raw bytes); a document signed by any is
    accepted (two keys during a rotation). No key: every downlink document is rejected."""
    max_part_bytes: int = 256 * 1024
    """Largest downlink MQTT message accepted; the broker is told to drop anything above 4 × this."""
    max_document_bytes: int = 32 * 1024 * 1024
    """Largest downlink document (all parts) accepted."""
    assembly_timeout_s: float = 600.0
    """A chunked document not complete within this is dropped (audited `incomplete`)."""
    resend_max_records: int = 200_000
    """Records re-queued per re-send request at most."""

    @property
    def broker(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


class _Checker:
    def __init__(self, source: str, table: Mapping[str, Any]) -> None:
        self.source = source
        self.table = table
        self.problems: list[str] = []

    def problem(self, key: str, what: str) -> None:
        self.problems.append(f"{self.source}: uplink.{key}: {what}")

    def get(self, key: str, kind: type[T], default: T, check: Callable[[T], str | None] | None = None) -> T:
        if key not in self.table:
            return default
        value = self.table[key]
        ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            self.problem(key, f"must be {kind.__name__}, got {type(value).__name__} {value!r}")
            return default
        if check is not None and (msg := check(value)):
            self.problem(key, msg)
            return default
        return value  # type: ignore[no-any-return]

    def path(self, key: str, base: Path) -> Path | None:
        text = self.get(key, str, "")
        if not text:
            return None
        path = Path(text) if Path(text).is_absolute() else (base / text).resolve()
        if not path.is_file():
            self.problem(key, f"file {path} does not exist")
        return path


def _at_least(lo: float) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        return None if value >= lo else f"must be at least {lo:g}, got {value}"

    return check


KNOWN_KEYS: Final = frozenset(
    f for f in UplinkSettings.__dataclass_fields__ if f not in {"host", "port", "tls", "password"}
)


def parse_uplink(
    table: Any, *, station_id: str, source: str = "station.toml", base: Path = Path(".")
) -> UplinkSettings | None:
    """Validate the `[uplink]` table; None when absent. Raises `UplinkConfigError` listing every problem."""
    if table is None:
        return None
    if not isinstance(table, Mapping):
        raise UplinkConfigError([f"{source}: uplink: must be a table"])
    ck = _Checker(source, table)
    for key in sorted(set(table) - KNOWN_KEYS):
        ck.problem(key, "unknown key")

    url = os.environ.get("STATION_UPLINK_URL") or ck.get("url", str, "")
    host, port, tls = "", 0, True
    if not url:
        ck.problem("url", "missing (mqtts://host:port)")
    else:
        parts = urlsplit(url)
        if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/"):
            ck.problem("url", f"must be mqtts://host[:port] or mqtt://host[:port], got {url!r}")
        else:
            host, tls = parts.hostname, parts.scheme == "mqtts"
            try:
                port = parts.port or DEFAULT_PORTS[parts.scheme]
            except ValueError:
                ck.problem("url", f"bad port in {url!r}")
    allow_plaintext = ck.get("allow_plaintext", bool, False)
    if url and not tls and not allow_plaintext:
        ck.problem(
            "url",
            "plain mqtt:// sends credentials and records in clear; use mqtts:// (or set allow_plaintext = true in a laboratory)",
        )

    username = ck.get("username", str, "") or station_id
    if username != station_id:
        ck.problem(
            "username",
            f"must equal the station id {station_id!r} (the broker ACL confines a station by its username), got {username!r}",
        )

    password_file = ck.path("password_file", base)
    password = os.environ.get("STATION_UPLINK_PASSWORD")
    if password is None and password_file is not None and password_file.is_file():
        try:
            password = (
                password_file.read_text(encoding="utf-8").splitlines()[0].strip()
                if password_file.stat().st_size
                else ""
            )
        except (OSError, UnicodeDecodeError) as exc:
            ck.problem("password_file", f"cannot read: {exc}")
    ca_file = ck.path("ca_file", base)
    cert_file = ck.path("cert_file", base)
    key_file = ck.path("key_file", base)
    if tls and ca_file is None:
        ck.problem("ca_file", "missing: TLS needs the CA certificate to pin")
    if (cert_file is None) != (key_file is None):
        ck.problem("cert_file", "cert_file and key_file go together")
    if cert_file is not None and cert_file.is_file():
        problem = _check_cert_identity(cert_file, station_id)
        if problem:
            ck.problem("cert_file", problem)
    if not tls and cert_file is not None:
        ck.problem("cert_file", "a client certificate needs mqtts://")
    if password_file is None and cert_file is None and "STATION_UPLINK_PASSWORD" not in os.environ:
        ck.problem(
            "password_file", "missing: give password_file (or STATION_UPLINK_PASSWORD) or cert_file/key_file"
        )

    keys: list[Ed25519PublicKey] = []
    raw_keys = ck.get("centre_keys", list, [])
    for i, text in enumerate(raw_keys):
        if not isinstance(text, str):
            ck.problem(f"centre_keys[{i}]", "must be a base64 string")
            continue
        try:
            keys.append(public_key_from_text(text))
        except ValueError as exc:
            ck.problem(f"centre_keys[{i}]", f"not an Ed25519 public key: {exc}")

    settings = UplinkSettings(
        url=url,
        host=host,
        port=port,
        tls=tls,
        enabled=ck.get("enabled", bool, True),
        allow_plaintext=allow_plaintext,
        client_id=ck.get("client_id", str, "") or station_id,
        username=username,
        password=password,
        password_file=password_file,
        ca_file=ca_file,
        cert_file=cert_file,
        key_file=key_file,
        keepalive_s=ck.get("keepalive_s", int, 30, _at_least(5)),
        connect_timeout_s=ck.get("connect_timeout_s", float, 10.0, _at_least(0.5)),
        session_expiry_s=ck.get("session_expiry_s", int, 7 * 24 * 3600, _at_least(0)),
        window=ck.get("window", int, 64, _at_least(1)),
        batch=ck.get("batch", int, 500, _at_least(1)),
        flush_rows=ck.get("flush_rows", int, 500, _at_least(1)),
        flush_s=ck.get("flush_s", float, 0.1, _at_least(0.001)),
        idle_poll_s=ck.get("idle_poll_s", float, 0.5, _at_least(0.01)),
        max_rate_per_s=ck.get("max_rate_per_s", float, DEFAULT_MAX_RATE_PER_S, _at_least(0)),
        backoff_min_s=ck.get("backoff_min_s", float, 0.5, _at_least(0.01)),
        backoff_max_s=ck.get("backoff_max_s", float, 60.0, _at_least(0.01)),
        live_interval_s=ck.get("live_interval_s", float, 1.0, _at_least(0)),
        monitor_interval_s=ck.get("monitor_interval_s", float, 5.0, _at_least(0.01)),
        alarm_sweep_s=ck.get("alarm_sweep_s", float, 5.0, _at_least(0.01)),
        alarm_outbox_depth=ck.get("alarm_outbox_depth", int, 10_000, _at_least(0)),
        alarm_outbox_age_s=ck.get("alarm_outbox_age_s", float, 3600.0, _at_least(0)),
        alarm_offline_s=ck.get("alarm_offline_s", float, 300.0, _at_least(0)),
        centre_keys=tuple(keys),
        max_part_bytes=ck.get("max_part_bytes", int, 256 * 1024, _at_least(1024)),
        max_document_bytes=ck.get("max_document_bytes", int, 32 * 1024 * 1024, _at_least(1024)),
        assembly_timeout_s=ck.get("assembly_timeout_s", float, 600.0, _at_least(1)),
        resend_max_records=ck.get("resend_max_records", int, 200_000, _at_least(1)),
    )
    if settings.backoff_max_s < settings.backoff_min_s:
        ck.problem("backoff_max_s", "must not be below backoff_min_s")
    if tls and not ck.problems:
        _check_tls_files(ck, settings)
    if ck.problems:
        raise UplinkConfigError(ck.problems)
    return settings


def _check_tls_files(ck: _Checker, settings: UplinkSettings) -> None:
    """Load the CA and the client key pair once, as the connection will (bad PEM, wrong key …)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        ctx.load_verify_locations(cafile=str(settings.ca_file))
    except (ssl.SSLError, OSError) as exc:
        ck.problem("ca_file", f"not a usable PEM CA certificate: {exc}")
    if settings.cert_file is not None:
        try:
            ctx.load_cert_chain(str(settings.cert_file), str(settings.key_file))
        except (ssl.SSLError, OSError) as exc:
            ck.problem("key_file", f"certificate and key do not load together: {exc}")


def _check_cert_identity(path: Path, station_id: str) -> str | None:
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        return f"not a PEM certificate: {exc}"
    names = [a.value for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if names != [station_id]:
        return f"subject CN {names} must be the station id {station_id!r} (broker: use_identity_as_username)"
    return None
