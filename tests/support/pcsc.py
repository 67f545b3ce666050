"""A private pcscd with the vsmartcard vpcd driver, and virtual cards served to it: desk tests on real PC/SC.

    def test_x(pcsc: PcscRig) -> None:          # the fixture (tests/conftest.py registers it)
        pcsc.cards.insert(0, card)              # card in reader "Virtual PCD 00 00"
        ... pyscard / DeskReader / the daemon (env=pcsc.env) ...
        pcsc.cards.arm(0, TearPlan(3, TearMode.AFTER))
        pcsc.daemon.stop()                      # every reader vanishes

The daemon: the simulator's private pcscd (`station_sim.card.pcscd`: its own reader.conf.d, the vpcd
driver on two free TCP ports, its socket in a private mount namespace), so tests never meet a system
pcscd or another test run's cards. libpcsclite reads `PCSCLITE_CSOCK_NAME` once per process, so the
socket folder is fixed per test process.

The cards: `CardServer` runs the simulator's `VpcdCard` clients in a thread with its own event loop, so
a test may block in pyscard while the card answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from station_sim.card.core import VirtualCard
from station_sim.card.pcscd import SLOTS, PrivatePcscd, installed, reader_name
from station_sim.card.slot import CardSlot, TearPlan
from station_sim.card.state import save_state
from station_sim.card.vpcd import VpcdCard

READY_TIMEOUT_S = 30.0
RUN_DIR = Path(tempfile.gettempdir()) / f"station-pcsc-{os.getpid()}"
_T = TypeVar("_T")


class PcscDaemon(PrivatePcscd):
    """The rig's pcscd: skips the test where it is not installed; this test process's PC/SC clients
    (pyscard in the test) use it."""

    def __init__(self, workdir: Path) -> None:
        if not installed():
            pytest.skip("pcscd and vsmartcard-vpcd are not installed (scripts/bootstrap.sh --test)")
        super().__init__(workdir, RUN_DIR)
        os.environ["PCSCLITE_CSOCK_NAME"] = str(self.socket)


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
