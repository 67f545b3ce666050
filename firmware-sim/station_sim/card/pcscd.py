"""A private pcscd with the vsmartcard vpcd driver: real PC/SC readers for virtual cards.

Layer: simulator (hardware-in-the-loop rig). Debian's `pcscd` runs in the foreground with its own
reader.conf.d (`-c`): the vpcd driver on two free TCP ports, readers "Virtual PCD 00 00" and "00 01",
where `station-card serve --port PORT` (or `VpcdCard`) plugs its cards in. pcscd 1.9 always puts its
socket in /run/pcscd, so it runs in a private mount namespace (`unshare -m`) with `run_dir`
bind-mounted there; its clients find the socket through `PCSCLITE_CSOCK_NAME` (`env`). Without the
privilege for `unshare`, the system's /run/pcscd is used (one rig at a time on that machine).

Used by the desk tests (`tests/support/pcsc.py`) and by `station bench station` (the busy hour's desk).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from station_sim.errors import SimError

SLOTS = 2
DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
READY_TIMEOUT_S = 30.0


class PcscdUnavailable(SimError):
    """pcscd or the vpcd driver is not installed, or the daemon did not come up."""


def reader_name(slot: int) -> str:
    return f"Virtual PCD 00 {slot:02d}"


def installed() -> bool:
    return shutil.which("pcscd") is not None and DRIVER.exists()


def free_port_pair() -> int:
    """A TCP port `p` with `p` and `p + 1` free (vpcd's two readers)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("0.0.0.0", 0))
            port = int(probe.getsockname()[1])
        if port + SLOTS > 65535:
            continue
        try:
            with socket.socket() as a, socket.socket() as b:
                a.bind(("0.0.0.0", port))
                b.bind(("0.0.0.0", port + 1))
        except OSError:
            continue
        return port
    raise PcscdUnavailable("no two free consecutive TCP ports for vpcd")


def can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False).returncode == 0


class PrivatePcscd:
    """A pcscd with vpcd readers on `port` and `port + 1`, its socket in `run_dir` (when private)."""

    def __init__(self, workdir: Path, run_dir: Path) -> None:
        if not installed():
            raise PcscdUnavailable("pcscd and vsmartcard-vpcd are not installed (scripts/bootstrap.sh --test)")
        self.workdir = workdir
        self.conf = workdir / "reader.conf.d"
        self.log_path = workdir / "pcscd.log"
        self.private = can_unshare()
        self.run_dir = run_dir if self.private else Path("/run/pcscd")
        self.socket = self.run_dir / "pcscd.comm"
        self.port = free_port_pair()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """Environment for a process (the daemon, pyscard) that must use this pcscd."""
        return {**os.environ, "PCSCLITE_CSOCK_NAME": str(self.socket)}

    def start(self) -> None:
        if self.proc is not None:
            return
        self.conf.mkdir(parents=True, exist_ok=True)
        (self.conf / "vpcd").write_text(
            f'FRIENDLYNAME "Virtual PCD"\nDEVICENAME   /dev/null:0x{self.port:04X}\n'
            f"LIBPATH      {DRIVER}\nCHANNELID    0x{self.port:04X}\n"
        )
        self.run_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.socket.unlink()
        pcscd = ["pcscd", "--foreground", "--info", "--config", str(self.conf)]
        if self.private:
            script = 'mkdir -p /run/pcscd && mount --bind "$0" /run/pcscd && exec "$@"'
            command = ["unshare", "-m", "sh", "-c", script, str(self.run_dir), *pcscd]
        else:
            command = pcscd
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process, closed in stop()
        self.proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not self._ready():
            if time.monotonic() > deadline:
                self.stop()
                raise PcscdUnavailable(f"pcscd not ready within {READY_TIMEOUT_S:g} s (log {self.log_path})")
            time.sleep(0.05)

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise PcscdUnavailable(f"pcscd exited with {self.proc.returncode}: {self.log_path.read_text()[-2000:]}")
        return self.socket.exists() and "daemon ready" in self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=20)
        self._clean_run_dir()

    def _clean_run_dir(self) -> None:
        """The private socket folder goes with the daemon (recreated, same path, at the next start)."""
        if self.private:
            shutil.rmtree(self.run_dir, ignore_errors=True)

    def kill(self) -> None:
        """SIGKILL: the service vanishes without cleaning up (a reader and service pulled)."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(timeout=20)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None
