"""Helpers of the uplink tests (imported by conftest.py and the test modules)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ipaddress
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.x509.oid import NameOID
from support import records
from support.waiting import wait_until

from protocol.record import TransactionRecord
from uplink.centre import CentreConsumer
from uplink.config import UplinkSettings, parse_uplink
from uplink.envelope import public_key_text
from uplink.link import LinkParams
from uplink.messages import decode_raw_record
from uplink.mosquitto import Mosquitto
from uplink.service import Uplink

STATION = "S1"
STATION_PASSWORD = "station-secret"
CENTRE_PASSWORD = "centre-secret"
USERS = {STATION: STATION_PASSWORD, "S2": "s2-secret", "centre": CENTRE_PASSWORD}
DEADLINE_S = 60.0


# --- PKI ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    other_cert: Path
    other_key: Path


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)


def _issue(
    folder: Path, name: str, cn: str, ca_key: ec.EllipticCurvePrivateKey, ca_name: x509.Name, *, server: bool
) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
    )
    if server:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
    cert = builder.sign(ca_key, hashes.SHA256())
    cert_path, key_path = folder / f"{name}.crt", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(key_path, key)
    return cert_path, key_path


def make_pki(folder: Path) -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    ca_name = _name("Test Centre CA")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = folder / "ca.crt"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    server = _issue(folder, "server", "localhost", ca_key, ca_name, server=True)
    client = _issue(folder, "client", STATION, ca_key, ca_name, server=False)
    other = _issue(folder, "other", "S2", ca_key, ca_name, server=False)
    return Pki(ca_path, *server, *client, *other)


def settings_for(
    broker: Mosquitto,
    tmp_path: Path,
    *,
    station: str = STATION,
    password: str = STATION_PASSWORD,
    **overrides: Any,
) -> UplinkSettings:
    pw = tmp_path / f"{station}.password"
    pw.write_text(password + "\n")
    table: dict[str, Any] = {
        "url": broker.url,
        "password_file": str(pw),
        "backoff_min_s": 0.05,
        "backoff_max_s": 0.5,
        "live_interval_s": 0,
        "monitor_interval_s": 0.1,
        "alarm_sweep_s": 0.05,
        "idle_poll_s": 0.05,
        "connect_timeout_s": 5,
    }
    if broker.tls is not None:
        table["ca_file"] = str(broker.tls.ca)
    else:
        table["allow_plaintext"] = True
    table.update(overrides)
    settings = parse_uplink(table, station_id=station, base=tmp_path)
    assert settings is not None
    return settings


def keys_setting(*keys: Ed25519PrivateKey) -> list[str]:
    return [public_key_text(k.public_key()) for k in keys]


def centre_params(broker: Mosquitto, client_id: str = "centre-test", **kw: Any) -> LinkParams:
    tls = None
    if broker.tls is not None:
        tls = ssl.create_default_context(cafile=str(broker.tls.ca))
    return LinkParams(
        host=broker.host,
        port=broker.port,
        client_id=client_id,
        tls=tls,
        username="centre",
        password=CENTRE_PASSWORD,
        clean_start=False,
        session_expiry_s=600,
        receive_maximum=64,
        **kw,
    )


@contextlib.asynccontextmanager
async def running(uplink: Uplink, *, wait_connected: bool = True) -> AsyncIterator[asyncio.Task[None]]:
    """Run the uplink's task for the block; cancel it (clean stop) at the end."""
    task = asyncio.create_task(uplink.run())
    try:
        if wait_connected:
            async with asyncio.timeout(DEADLINE_S):
                await uplink.connected.wait()
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@contextlib.asynccontextmanager
async def consuming(consumer: CentreConsumer) -> AsyncIterator[CentreConsumer]:
    task = asyncio.create_task(consumer.run())
    try:
        async with asyncio.timeout(DEADLINE_S):
            await consumer.subscribed.wait()
        yield consumer
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(condition: Callable[[], Any], timeout_s: float = DEADLINE_S, what: str = "condition") -> None:
    """Wait for a condition with a deadline (polling: for conditions with no event to wait on)."""
    await wait_until(condition, timeout_s, what)


UPLINK_TEMPLATE = TransactionRecord(
    pos_ttc=1, t_type=0x10, time=dt.datetime(2024, 5, 1, 8, 0, 0), asn="1" + "0" * 19, bal=100_000, amn=1000,
    ctc=0, tac=0, gmac=0, psam_tac=0, psam_asn="0" * 20, psam_tid=bytes(6), psam_ttc=0, ds=0, unit=0,
    c_type=0, ver=0, nzn=1, g_code="0102", vol=500, prc=745, emp=255, v_tot=0,
)  # fmt: skip


def make_record(
    pos_ttc: int, *, t_type: int = 0x10, nzn: int = 1, amn: int = 1000
) -> tuple[TransactionRecord, bytes]:
    """A record per POS_TTC (its own card, time and totals) and its 95 bytes (`support.records`)."""
    _record, raw = records.make_record(
        pos_ttc,
        template=UPLINK_TEMPLATE,
        t_type=t_type,
        time=dt.datetime(2024, 5, 1, 8, 0, 0) + dt.timedelta(seconds=pos_ttc % 86400),
        asn=f"1000000000{pos_ttc % 10**10:010d}",
        amn=amn,
        ctc=pos_ttc % 65536,
        psam_ttc=pos_ttc,
        nzn=nzn,
        v_tot=pos_ttc * 500,
    )
    return decode_raw_record(raw), raw
