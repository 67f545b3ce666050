"""The daemon under a watchdog: a fake service manager on a NOTIFY_SOCKET does what systemd does with
`Type=notify` and `WatchdogSec=`: it waits for READY=1, expects WATCHDOG=1 pings, and when they stop
for longer than the watchdog period it kills the daemon (SIGABRT) and starts it again.

The daemon's event loop is blocked through its test hook (`STATION_TEST_HOOKS=1`, SIGUSR2): the pings
stop, the daemon is still alive (hung, not crashed), the supervisor restarts it, and the new daemon
is ready and pinging again.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.e2e.harness import Process, Station, spawn, wait_until

pytestmark = pytest.mark.e2e

WATCHDOG_USEC = 2_000_000
"""WatchdogSec=2 for the test (the shipped unit has 30)."""


@dataclass
class Datagram:
    at: float
    fields: dict[str, str]


@dataclass
class FakeSupervisor:
    """The service manager's side of sd_notify: a bound datagram socket and the rule of WatchdogSec."""

    path: Path
    sock: socket.socket = field(init=False)
    received: list[Datagram] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.setblocking(False)

    def drain(self) -> list[Datagram]:
        new = []
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                break
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if "=" in line)
            new.append(Datagram(time.monotonic(), fields))
        self.received.extend(new)
        return new

    def count(self, key: str, since: int = 0) -> int:
        self.drain()
        return sum(1 for d in self.received[since:] if key in d.fields)

    def ready_pid(self, since: int = 0) -> int | None:
        self.drain()
        for d in self.received[since:]:
            if d.fields.get("READY") == "1":
                return int(d.fields.get("MAINPID", "0"))
        return None

    def watchdog_expired(self) -> bool:
        """What systemd checks: no WATCHDOG=1 for longer than WatchdogSec."""
        self.drain()
        pings = [d.at for d in self.received if d.fields.get("WATCHDOG") == "1"]
        last = pings[-1] if pings else 0.0
        return time.monotonic() - last > WATCHDOG_USEC / 1_000_000

    def start(self, station: Station, run: int) -> Process:
        env = {
            **os.environ,
            "NOTIFY_SOCKET": str(self.path),
            "WATCHDOG_USEC": str(WATCHDOG_USEC),
            "STATION_TEST_HOOKS": "1",
        }
        argv = [sys.executable, "-m", "edge.cli", "run", "--config", str(station.config)]
        proc = spawn("station", argv, station.dir / f"station-{run}.log", env=env)
        station.extra.append(proc)
        return proc

    def close(self) -> None:
        self.sock.close()


def test_watchdog_restarts_a_daemon_whose_event_loop_is_blocked(tmp_path: Path) -> None:
    station = Station.create(tmp_path / "station")
    supervisor = FakeSupervisor(tmp_path / "notify.sock")
    try:
        station.start_sim("--seed", "2")
        first = supervisor.start(station, 1)
        wait_until(lambda: supervisor.ready_pid() or not first.alive(), 60, "READY=1 from the daemon")
        assert supervisor.ready_pid() == first.popen.pid, first.log_text()
        wait_until(lambda: supervisor.count("WATCHDOG") >= 3, 60, "watchdog pings from the event loop")
        assert not supervisor.watchdog_expired()

        first.popen.send_signal(signal.SIGUSR2)  # the test hook: block the event loop
        wait_until(lambda: "blocking the event loop" in first.log_text(), 60, "the loop to be blocked")
        supervisor.drain()
        blocked_at = len(supervisor.received)
        wait_until(supervisor.watchdog_expired, 60, "the watchdog period to pass without a ping")
        assert supervisor.count("WATCHDOG", since=blocked_at) == 0, "pings went on from a blocked loop"
        assert first.alive(), "a blocked daemon hangs; it does not exit by itself"

        # What systemd does on a watchdog timeout: SIGABRT, then Restart=on-failure starts it again.
        first.popen.send_signal(signal.SIGABRT)
        first.popen.wait(60)
        assert first.popen.returncode != 0
        since = len(supervisor.received)
        second = supervisor.start(station, 2)
        wait_until(lambda: supervisor.ready_pid(since) or not second.alive(), 60, "READY=1 after the restart")
        assert supervisor.ready_pid(since) == second.popen.pid, second.log_text()
        wait_until(lambda: supervisor.count("WATCHDOG", since) >= 3, 60, "pings from the restarted daemon")
        second.popen.send_signal(signal.SIGTERM)
        wait_until(lambda: supervisor.count("STOPPING", since) == 1, 60, "STOPPING=1 when asked to stop")
        second.terminate()
    finally:
        station.stop()
        supervisor.close()
