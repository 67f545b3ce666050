"""`edge.watchdog` alone: sd_notify datagrams on a real Unix datagram socket, the environment rules."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge.watchdog import Notifier, install_block_hook, supervised, watchdog_interval_s


@pytest.fixture
def listener(tmp_path: Path) -> Iterator[tuple[str, socket.socket]]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    sock.settimeout(30)
    try:
        yield path, sock
    finally:
        sock.close()


def test_notify_sends_one_datagram_of_newline_separated_fields(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    assert Notifier(path).notify("READY=1", "STATUS=up")
    assert sock.recv(4096) == b"READY=1\nSTATUS=up"


def test_abstract_namespace_address() -> None:
    name = f"station-test-{id(object())}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name)
        sock.settimeout(30)
        assert Notifier("@" + name).notify("WATCHDOG=1")
        assert sock.recv(64) == b"WATCHDOG=1"


def test_without_a_manager_nothing_is_sent() -> None:
    notifier = Notifier.from_environment({})
    assert notifier.address is None and notifier.watchdog_s is None
    assert not notifier.notify("READY=1")


def test_a_vanished_socket_is_a_warning_not_a_crash(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    assert not Notifier(str(tmp_path / "gone.sock")).notify("READY=1")
    assert "sd_notify" in caplog.text


@pytest.mark.parametrize(
    ("env", "pid", "expected"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 7, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "7"}, 7, 30.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "8"}, 7, None),  # meant for another process
        ({"WATCHDOG_USEC": "0"}, 7, None),
        ({"WATCHDOG_USEC": "soon"}, 7, None),
        ({}, 7, None),
    ],
)
def test_watchdog_interval_from_the_environment(
    env: dict[str, str], pid: int, expected: float | None
) -> None:
    assert watchdog_interval_s(env, pid) == expected


async def test_supervised_says_ready_pings_and_says_stopping(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    notifier = Notifier(path, watchdog_s=0.2)
    async with supervised(notifier, "testing"):
        first = await loop.sock_recv(sock, 4096)
        assert first.split(b"\n")[:2] == [b"READY=1", b"STATUS=testing"]
        for _ in range(3):
            assert await loop.sock_recv(sock, 4096) == b"WATCHDOG=1"
    tail = []
    while (data := await loop.sock_recv(sock, 4096)) != b"STOPPING=1\nSTATUS=stopping":
        tail.append(data)
    assert set(tail) <= {b"WATCHDOG=1"}


async def test_the_block_hook_needs_the_test_environment() -> None:
    assert not install_block_hook({})
    assert not install_block_hook({"STATION_TEST_HOOKS": "0"})


async def test_stopping_is_said_when_the_stop_begins(listener: tuple[str, socket.socket]) -> None:
    path, sock = listener
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    async with supervised(Notifier(path), "testing", stop):
        assert (await loop.sock_recv(sock, 4096)).startswith(b"READY=1\n")
        stop.set()
        assert await loop.sock_recv(sock, 4096) == b"STOPPING=1\nSTATUS=stopping"
    with pytest.raises(BlockingIOError):
        sock.recv(4096)  # said once, not again on the way out
