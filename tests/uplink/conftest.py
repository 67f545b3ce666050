"""Fixtures of the uplink tests: a private mosquitto per test, a test PKI, a station database.

Every broker is started by the test that needs it, on a free loopback port, with a configuration
written into the test's tmp_path, and stopped in the fixture's finalizer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from uplink_helpers import USERS, Pki, make_pki

from storage.db import Database
from uplink.mosquitto import STATION_ACL, Mosquitto, TlsFiles


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


# --- brokers --------------------------------------------------------------------------------------


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    """Plain-TCP mosquitto with passwords and the station ACL of docs/mqtt.md."""
    mq = Mosquitto(tmp_path / "broker", users=USERS, acl=STATION_ACL)
    mq.start()
    try:
        yield mq
    finally:
        mq.stop()


@pytest.fixture
def tls_broker(tmp_path: Path, pki: Pki) -> Iterator[Mosquitto]:
    """TLS mosquitto (server certificate from the test CA) with a password file and the station ACL."""
    mq = Mosquitto(
        tmp_path / "tls-broker",
        users=USERS,
        acl=STATION_ACL,
        tls=TlsFiles(pki.ca, pki.server_cert, pki.server_key),
    )
    mq.start()
    try:
        yield mq
    finally:
        mq.stop()


# --- station side ---------------------------------------------------------------------------------


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "station.db")
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
def centre_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()
