"""Fixtures of the terminal UI tests: a fake daemon on a short temporary socket, the app, UTC time."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from tui_fake_daemon import FakeDaemon, FakeOperator

from edge.control.messages import Role


@pytest.fixture(autouse=True)
def utc() -> Iterator[None]:
    """Times on screen are local: make local time UTC so the screens are the same everywhere."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="tui", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def socket_path(short_dir: Path) -> Path:
    return short_dir / "ctl.sock"


@pytest.fixture
def fake_options() -> dict[str, object]:
    return {}


@pytest.fixture
async def daemon(socket_path: Path, fake_options: dict[str, object]) -> AsyncIterator[FakeDaemon]:
    fake = FakeDaemon(
        socket_path,
        operators={
            "senior1": FakeOperator("pw-senior-1", Role.SENIOR),
            "operator1": FakeOperator("pw-operator-1", Role.OPERATOR),
            "viewer": FakeOperator("pw-viewer-1", Role.READONLY),
            "ana": FakeOperator("secret-1", Role.OPERATOR, card="10000411000000009001"),
            "engineer": FakeOperator("pw-engineer-1", Role.VENDOR, language="en"),
        },
        **fake_options,  # type: ignore[arg-type]
    )
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
