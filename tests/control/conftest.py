"""Fixtures of the control API tests: a real station (database, sessions, bus) without serial lines,
a control server on a short temporary socket path, clients, and one operator per role."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from control_testkit import CONFIG, add_operator, password_of, username_of

from edge.config import load_config
from edge.control.client import ControlClient
from edge.control.messages import Role
from edge.control.server import ControlServer
from edge.daemon import Station, open_station


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short folder (a Unix socket path must stay under 108 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="ctl", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def station(short_dir: Path) -> AsyncIterator[Station]:
    path = short_dir / "station.toml"
    path.write_text(CONFIG)
    st = await open_station(load_config(path))
    for sessions in st.sessions.values():
        for session in sessions:
            session.reads.clear()
    try:
        yield st
    finally:
        await st.db.close()


@pytest.fixture
def server_options() -> dict[str, object]:
    """Override in a test module to tune the server (queue limit, buffers, demo …)."""
    return {}


@pytest.fixture
async def server(station: Station, server_options: dict[str, object]) -> AsyncIterator[ControlServer]:
    options: dict[str, object] = {"demo": False, "totals_wait_s": 5.0, **server_options}
    srv = ControlServer(station, **options)  # type: ignore[arg-type]
    await srv.start()
    task = asyncio.create_task(srv.serve_forever())
    try:
        yield srv
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.fixture
async def connect(server: ControlServer) -> AsyncIterator[Callable[[], Awaitable[ControlClient]]]:
    clients: list[ControlClient] = []

    async def make() -> ControlClient:
        client = await ControlClient.connect(server.path)
        clients.append(client)
        return client

    try:
        yield make
    finally:
        for client in clients:
            await client.close()


@pytest.fixture
async def operators(station: Station) -> dict[Role, tuple[str, str]]:
    """One operator per role: role → (user name, password)."""
    out = {}
    for role in Role:
        await add_operator(station, username_of(role), role, password_of(role))
        out[role] = (username_of(role), password_of(role))
    return out
