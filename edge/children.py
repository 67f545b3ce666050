"""Child processes that never outlive the process that started them.

Layer: edge (operations helper used by `station demo`, the end-to-end tests and the benchmarks).

A child is started in its own session (a terminal's SIGINT/SIGHUP reach only the parent, which stops
its children in order) and told its parent's pid in `STATION_PARENT_PID`. `station` and `station-sim`
call `arm_from_environment()` first thing: the kernel then sends them SIGTERM when that parent exits
for any reason, SIGKILL included (Linux `prctl(PR_SET_PDEATHSIG)`), so nothing is left running
behind a parent that died. `Child.stop()` sends SIGTERM, waits, and kills what did not stop in time.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

PARENT_PID_ENV = "STATION_PARENT_PID"
"""Set by `spawn` in the child's environment: the pid whose exit ends the child."""
PR_SET_PDEATHSIG = 1
STOP_TIMEOUT_S = 10.0
KILL_WAIT_S = 5.0
EXIT_PARENT_GONE = 1


def die_with_parent(sig: int = signal.SIGTERM) -> bool:
    """Ask the kernel to send `sig` to this process when its parent exits. False off Linux."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name, use_errno=True)
        return int(libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def arm_from_environment() -> None:
    """In a child started by `spawn`: end with the parent. Exits at once if the parent is already gone."""
    value = os.environ.pop(PARENT_PID_ENV, None)
    if value is None or not value.isdigit():
        return
    die_with_parent(signal.SIGTERM)
    if os.getppid() != int(value):
        # the parent exited between fork and prctl: the signal will never come
        print("the process that started this one has exited; not starting", file=sys.stderr)
        raise SystemExit(EXIT_PARENT_GONE)


@dataclass
class Child:
    """One started process and the file its output goes to."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return self.popen.poll()

    def send(self, sig: int) -> None:
        """Send `sig` if the process still runs."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(sig)

    def wait(self, timeout_s: float) -> bool:
        """True once the process has exited, False if it still runs after `timeout_s`."""
        try:
            self.popen.wait(max(0.0, timeout_s))
        except subprocess.TimeoutExpired:
            return False
        return True

    def stop(self, timeout_s: float = STOP_TIMEOUT_S, sig: int = signal.SIGTERM) -> int:
        """`sig` (SIGTERM), then SIGKILL if it has not exited within `timeout_s`. Returns the exit code."""
        if self.alive():
            self.send(sig)
            if not self.wait(timeout_s):
                log.warning("%s (pid %d) did not stop within %.1f s: killed", self.name, self.pid, timeout_s)
                self.kill()
        return int(self.popen.returncode)

    def kill(self) -> None:
        if self.alive():
            self.popen.kill()
        self.wait(KILL_WAIT_S)

    def log_text(self) -> str:
        if self.log is None or not self.log.exists():
            return ""
        return self.log.read_text(errors="replace")


def spawn(
    name: str,
    argv: Sequence[str],
    log_path: Path | None = None,
    env: dict[str, str] | None = None,
    *,
    own_session: bool = True,
) -> Child:
    """Start `argv` with its output appended to `log_path` (inherited when None).

    `own_session=False` keeps the child on the parent's terminal (the TUI needs it)."""
    environment = {**os.environ, **(env or {}), PARENT_PID_ENV: str(os.getpid())}
    if log_path is None:
        popen = subprocess.Popen(list(argv), env=environment, start_new_session=own_session)
    else:
        with log_path.open("ab") as out:
            popen = subprocess.Popen(
                list(argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=environment,
                start_new_session=own_session,
            )
    return Child(name, popen, log_path)


def stop_all(children: Sequence[Child | None], timeout_s: float = STOP_TIMEOUT_S) -> None:
    """Stop each child in the order given (None entries skipped), killing laggards."""
    for child in children:
        if child is not None:
            child.stop(timeout_s)


def wait_gone(pids: Sequence[int], timeout_s: float) -> list[int]:
    """The pids still alive after waiting up to `timeout_s` for them to exit (not our children only)."""
    deadline = time.monotonic() + timeout_s
    while True:
        alive = [p for p in pids if _alive(p)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
