"""A private pcscd with the vsmartcard vpcd driver, and virtual cards served to it: desk tests on real PC/SC.

    def test_x(pcsc: PcscRig) -> None:          # the fixture (tests/conftest.py registers it)
        pcsc.cards.insert(0, card)              # card in reader "Virtual PCD 00 00"
        ... pyscard / DeskReader / the daemon (env=pcsc.env) ...
        pcsc.cards.arm(0, TearPlan(3, TearMode.AFTER))
        pcsc.daemon.stop()                      # every reader vanishes

The daemon: Debian's `pcscd` in the foreground with its own reader.conf.d (`-c`): the vpcd driver on
two free TCP ports (readers "Virtual PCD 00 00" and "00 01"), so tests never meet a system pcscd or
another test run's cards. pcscd 1.9 always puts its socket in /run/pcscd, so it runs in a private mount
namespace (`unshare -m`) with a folder of ours bind-mounted there; clients find the socket through
`PCSCLITE_CSOCK_NAME`. libpcsclite reads that variable once per process, so the socket folder is fixed
per test process. Without the privilege for `unshare`, the system's /run/pcscd is used instead (one
test run at a time on that machine).

The cards: `CardServer` runs the simulator's `VpcdCard` clients in a thread with its own event loop, so
a test may block in pyscard while the card answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from station_sim.card.core import VirtualCard
from station_sim.card.slot import CardSlot, TearPlan
from station_sim.card.state import save_state
from station_sim.card.vpcd import VpcdCard

from support.waiting import wait_until_sync

SLOTS = 2
READY_TIMEOUT_S = 30.0
RUN_DIR = Path(tempfile.gettempdir()) / f"station-pcsc-{os.getpid()}"
DRIVER = Path("/usr/lib/pcsc/drivers/serial/libifdvpcd.so")
_T = TypeVar("_T")


def reader_name(slot: int) -> str:
    return f"Virtual PCD 00 {slot:02d}"


def _free_port_pair() -> int:
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
    raise RuntimeError("no two free consecutive TCP ports for vpcd")


def _can_unshare() -> bool:
    if shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "-m", "true"], capture_output=True, check=False).returncode == 0


class PcscDaemon:
    """A private pcscd with vpcd readers on `port` and `port + 1`."""

    def __init__(self, workdir: Path) -> None:
        if shutil.which("pcscd") is None or not DRIVER.exists():
            pytest.skip("pcscd and vsmartcard-vpcd are not installed (scripts/bootstrap.sh --test)")
        self.workdir = workdir
        self.conf = workdir / "reader.conf.d"
        self.log_path = workdir / "pcscd.log"
        self.private = _can_unshare()
        self.run_dir = RUN_DIR if self.private else Path("/run/pcscd")
        self.socket = self.run_dir / "pcscd.comm"
        self.port = _free_port_pair()
        self.proc: subprocess.Popen[bytes] | None = None
        os.environ["PCSCLITE_CSOCK_NAME"] = str(self.socket)

    @property
    def env(self) -> dict[str, str]:
        """Environment for a subprocess (the daemon under test) that must use this pcscd."""
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
        wait_until_sync(self._ready, READY_TIMEOUT_S, f"pcscd ready (log {self.log_path})")

    def _ready(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise AssertionError(
                f"pcscd exited with {self.proc.returncode}: {self.log_path.read_text()[-2000:]}"
            )
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
        """Our private socket folder goes with the daemon (recreated, same path, at the next start)."""
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


class CardServer:
    """Virtual cards in the vpcd slots, served from a thread with its own event loop."""

    def __init__(self, port: int, state_dir: Path | None = None) -> None:
        self.state_dir = state_dir
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="vpcd-cards", daemon=True)
        self._thread.start()
        self.slots = [CardSlot(self._saver()) for _ in range(SLOTS)]
        self.vpcd = [VpcdCard(slot, port=port + i) for i, slot in enumerate(self.slots)]

    def _saver(self) -> Callable[[VirtualCard], None] | None:
        directory = self.state_dir
        if directory is None:
            return None
        return lambda card: save_state(directory / f"{card.state.asn}.json", card.state)

    def _call(self, coro: Coroutine[Any, Any, _T], timeout_s: float = READY_TIMEOUT_S) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout_s)

    def insert(self, slot: int, card: VirtualCard) -> None:
        self._call(self.vpcd[slot].insert(card))

    def remove(self, slot: int) -> VirtualCard | None:
        return self._call(self.vpcd[slot].remove())

    def swap(self, slot: int, card: VirtualCard) -> VirtualCard | None:
        return self._call(self.vpcd[slot].swap(card))

    def arm(self, slot: int, plan: TearPlan | None) -> None:
        self.loop.call_soon_threadsafe(self.slots[slot].arm, plan)

    def ejected(self, slot: int) -> VirtualCard | None:
        """The card a tear pulled out of `slot`, if any."""
        return self.slots[slot].ejected

    def close(self) -> None:
        for vpcd in self.vpcd:
            with contextlib.suppress(Exception):
                self._call(vpcd.close(), 10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


class PcscRig:
    def __init__(self, workdir: Path) -> None:
        self.daemon = PcscDaemon(workdir)
        self.cards = CardServer(self.daemon.port, workdir)
        self.reader = reader_name

    @property
    def env(self) -> dict[str, str]:
        return self.daemon.env

    def close(self) -> None:
        try:
            self.cards.close()
        finally:
            self.daemon.stop()


@pytest.fixture
def pcsc(tmp_path: Path) -> Iterator[PcscRig]:
    """A running private pcscd with two empty vpcd readers; stopped (and the cards closed) afterwards."""
    rig = PcscRig(tmp_path / "pcsc")
    try:
        rig.daemon.start()
        yield rig
    finally:
        rig.close()
