"""Starting and stopping the demo's processes, whatever way the demo ends.

Layer: edge (operations shell of `station demo`). The demo starts, in order, the simulator (it creates
the pty links), the daemon and, unless headless, the terminal UI. It ends on its timer, when the UI is
closed (`q`, Ctrl-Q), on SIGTERM, SIGINT or SIGHUP (a closed terminal; also sent to the demo when its
own parent exits), or when one of its processes exits by itself. Every way goes through one stop:

    UI (SIGTERM; it restores the terminal), web view
    → simulator production halted (SIGUSR1), up to DRAIN_S for the last records to be acknowledged
    → daemon SIGTERM (a clean stop; killed after DAEMON_STOP_S)
    → simulator SIGTERM (state files, ledger `stop` event; killed after SIM_STOP_S)

The simulator and the daemon run in their own sessions (a terminal's signals reach only the demo) and
get SIGTERM from the kernel if the demo itself is killed (`edge.children`).
"""

from __future__ import annotations

import json
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from edge.children import Child, die_with_parent, spawn
from edge.demo_station import cpu_seconds, sim_command, sim_links, start_web_view, station_command

EXIT_OK = 0
"""The headless demo ran its time, or the terminal UI was closed."""
EXIT_FAILED = 1
"""A process of the demo could not start or exited by itself (its log is named)."""
EXIT_SIGNAL_BASE = 128
"""Stopped by signal N: 128 + N (SIGHUP 129, SIGINT 130, SIGTERM 143), as a shell reports it."""

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
POLL_S = 0.1
PTY_WAIT_S = 20.0
TUI_STOP_S = 1.0
DRAIN_S = 1.0
DAEMON_STOP_S = 2.5
SIM_STOP_S = 1.0


class StopRequest:
    """The first stop signal received (handlers only record it; the main loop acts on it)."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def install(self) -> None:
        for sig in STOP_SIGNALS:
            signal.signal(sig, self._handler)
        die_with_parent(signal.SIGHUP)  # the demo's parent exiting is a hang-up too

    def _handler(self, signum: int, _frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum

    @property
    def requested(self) -> bool:
        return self.signum is not None


@dataclass
class Ending:
    """How the demo ended and the exit code that says so."""

    how: str
    code: int


@dataclass
class DemoProcesses:
    data: Path
    config: Path
    stop_request: StopRequest
    sim: Child | None = None
    daemon: Child | None = None
    tui: Child | None = None
    web: Child | None = None
    station_started: float = 0.0
    """Monotonic time the daemon was started (for the CPU shares of the summary)."""

    @property
    def ledger(self) -> Path:
        return self.data / "ledger.jsonl"

    def start_station(self, seed: int) -> Ending | None:
        """Simulator, then (once its pty links exist) the daemon. An `Ending` if that could not be done."""
        options = ["--config", str(self.config), "--ledger", str(self.ledger)]
        options += ["--state-dir", str(self.data / "sim-state"), "--seed", str(seed)]
        self.sim = spawn("station-sim", sim_command(*options), self.data / "sim.log")
        links = sim_links(self.config)
        deadline = time.monotonic() + PTY_WAIT_S
        while not all(p.exists() for p in links):
            if (ending := self.ending()) is not None:
                return ending
            if time.monotonic() > deadline:
                return Ending(
                    f"the simulator did not create its pty links within {PTY_WAIT_S:g} s", EXIT_FAILED
                )
            time.sleep(POLL_S / 2)
        self.station_started = time.monotonic()
        self.daemon = spawn(
            "station daemon",
            station_command("run", "--config", str(self.config)),
            self.data / "station.log",
            env={"STATION_DEMO": "1"},
        )
        return None

    def start_web(self, port: int) -> str:
        """The web view beside the terminal UI; returns the line saying where it is and how to log in."""
        self.web, banner = start_web_view(self.data, self.config, port)
        return banner

    def cpu_shares(self) -> dict[str, float]:
        """Share of a core the daemon and the simulator used since the daemon started ({} if one exited)."""
        elapsed = time.monotonic() - self.station_started
        shares: dict[str, float] = {}
        for role, child in (("daemon", self.daemon), ("simulator", self.sim)):
            if child is None or not child.alive() or elapsed <= 0:
                return {}
            try:
                shares[role] = round(100 * cpu_seconds(child.pid) / elapsed, 2)
            except OSError:
                return {}
        return shares

    def start_tui(self) -> None:
        """The terminal UI stays on the demo's terminal (same session), logged in as the demo operator."""
        self.tui = spawn(
            "station tui", station_command("tui", "--config", str(self.config), "--demo"), own_session=False
        )

    def ending(self) -> Ending | None:
        """Why the demo must end now, if it must: a stop signal, a process that exited, the UI closed."""
        if self.stop_request.signum is not None:
            sig = self.stop_request.signum
            return Ending(signal.Signals(sig).name, EXIT_SIGNAL_BASE + sig)
        for child, log_name in ((self.sim, "sim.log"), (self.daemon, "station.log")):
            if child is not None and not child.alive():
                return Ending(
                    f"{child.name} exited by itself with code {child.returncode} (see {self.data / log_name})",
                    EXIT_FAILED,
                )
        if self.tui is not None and not self.tui.alive():
            if self.tui.returncode == 0:
                return Ending("terminal UI closed", EXIT_OK)
            return Ending(f"terminal UI exited with code {self.tui.returncode}", EXIT_FAILED)
        return None

    def watch(self, seconds: float | None) -> Ending:
        """Wait until something ends the demo, or `seconds` have passed (None: no timer)."""
        deadline = None if seconds is None else time.monotonic() + seconds
        while True:
            if (ending := self.ending()) is not None:
                return ending
            if deadline is not None and time.monotonic() >= deadline:
                return Ending(f"ran its {seconds:g} s", EXIT_OK)
            time.sleep(POLL_S)

    def stop(self) -> None:
        """Stop whatever runs, in order (see the module docstring). Safe to call in any state."""
        if self.tui is not None:
            self.tui.stop(TUI_STOP_S)
        if self.web is not None:
            self.web.stop(TUI_STOP_S)
        if self.sim is not None and self.daemon is not None and self.sim.alive():
            halted_before = ledger_counts(self.ledger).halted
            self.sim.send(signal.SIGUSR1)  # handlers are installed: the pty links exist
            self._drain(halted_before)
        if self.daemon is not None:
            self.daemon.stop(DAEMON_STOP_S)
        if self.sim is not None:
            self.sim.stop(SIM_STOP_S)

    def _drain(self, halted_before: int) -> None:
        """Up to DRAIN_S for the simulator to confirm the halt and the daemon to acknowledge every
        record the dispensers have made."""
        deadline = time.monotonic() + DRAIN_S
        while time.monotonic() < deadline and self.sim is not None and self.sim.alive():
            counts = ledger_counts(self.ledger)
            daemon_gone = self.daemon is None or not self.daemon.alive()
            if counts.halted > halted_before and (counts.records == counts.acks or daemon_gone):
                return
            time.sleep(POLL_S / 2)


@dataclass
class LedgerCounts:
    records: int = 0
    acks: int = 0
    halted: int = 0
    """`production_halted` events (the simulator confirms SIGUSR1)."""
    pending: int | None = None
    """What the dispensers still held when the simulator stopped (its `stop` event), if it said so."""


def ledger_counts(ledger: Path) -> LedgerCounts:
    counts = LedgerCounts()
    if not ledger.exists():
        return counts
    for line in ledger.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a line being written
        kind = event.get("event")
        if kind == "record":
            counts.records += 1
        elif kind == "ack":
            counts.acks += 1
        elif kind == "production_halted":
            counts.halted += 1
        elif kind == "start":
            counts.pending = None
        elif kind == "stop":
            counts.pending = int(event.get("pending", 0))
    return counts
