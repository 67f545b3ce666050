"""Shared by the process-level benchmarks: a generated multi-drop station, the simulator with
wire-time emulation and the real daemon as processes, and readings from /proc.

The processes are started with `edge.children.spawn`: they end with the benchmark even when it is
killed or times out, and `Run.stop()` kills what does not stop in time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from edge.children import Child, spawn
from edge.daemon import LINE_STATISTICS, parse_line_statistics

CLK_TCK = os.sysconf("SC_CLK_TCK")
STOP_S = 30.0


UNPACED = ("poll_cycle_ms = 0", "min_poll_interval_ms = 0")
"""A bus polled as fast as the wire allows: what the poll benchmarks measure (the loop's capacity)."""


def bus_config(
    folder: Path,
    dispensers: int,
    baud: int,
    *,
    station_id: str = "BENCH",
    extra: str = "",
    unpaced: bool = False,
) -> Path:
    lines = [
        "[station]", f'id = "{station_id}"', "[storage]", 'database = "station.db"', "[logging]", 'level = "INFO"',
        "[[products]]", 'g_code = "0092"', 'name = "92#"', "prices = [750]",
        "[[lines]]", 'name = "bus1"', f'url = "{folder}/tty-bus1"', 'mode = "multi-drop"', f"baud = {baud}",
    ]  # fmt: skip
    if unpaced:
        lines += UNPACED
    for i in range(dispensers):
        lines += [
            "[[lines.dispensers]]",
            f"pos_p = {i + 1}",
            f'nozzles = [{{ nzn = {i + 1}, g_code = "0092" }}]',
        ]
    path = folder / "station.toml"
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


@dataclass
class Run:
    sim: subprocess.Popen[bytes]
    daemon: subprocess.Popen[bytes]
    daemon_log: Path
    started: float
    folder: Path

    def snapshot(self, timeout_s: float = 10.0) -> dict[str, dict[str, float]]:
        """Ask the daemon (SIGUSR1) to log its line statistics and return them."""
        before = self.daemon_log.read_text().count(LINE_STATISTICS)
        self.daemon.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + timeout_s
        while self.daemon_log.read_text().count(LINE_STATISTICS) == before:
            if time.monotonic() > deadline:
                raise RuntimeError("the daemon did not log its statistics")
            time.sleep(0.01)
        return self._stats()

    def _stats(self) -> dict[str, dict[str, float]]:
        return parse_line_statistics(self.daemon_log.read_text())

    def stop(self) -> dict[str, dict[str, float]]:
        """Daemon, then simulator; whatever does not stop within STOP_S is killed (never left behind)."""
        Child("station daemon", self.daemon).stop(STOP_S)
        Child("station-sim", self.sim).stop(STOP_S)
        return self._stats()


def start(
    folder: Path,
    dispensers: int,
    baud: int,
    *,
    wire_time: bool = True,
    station_id: str = "BENCH",
    extra: str = "",
    unpaced: bool = False,
) -> Run:
    config = bus_config(folder, dispensers, baud, station_id=station_id, extra=extra, unpaced=unpaced)
    sim_args = [
        sys.executable,
        "-m",
        "station_sim.cli",
        "--config",
        str(config),
        "--state-dir",
        str(folder / "sim"),
        "--ledger",
        str(folder / "ledger.jsonl"),
    ]
    if wire_time:
        sim_args.append("--wire-time")
    sim = spawn("station-sim", sim_args, folder / "sim.log")
    deadline = time.monotonic() + 30
    while not (folder / "tty-bus1").exists():
        if not sim.alive() or time.monotonic() > deadline:
            sim.stop(STOP_S)
            raise RuntimeError("the simulator did not create its pty link")
        time.sleep(0.05)
    log = folder / "station.log"
    started = time.monotonic()
    daemon = spawn("station daemon", [sys.executable, "-m", "edge.cli", "run", "--config", str(config)], log)
    return Run(sim.popen, daemon.popen, log, started, folder)


def wait_downloads(folder: Path, count: int, timeout_s: float = 120) -> float:
    """Wait until the simulated dispensers completed `count` downloads (price table, station info):
    the start-up traffic that is not polling. Returns the seconds waited."""
    started = time.monotonic()
    ledger = folder / "ledger.jsonl"
    while time.monotonic() < started + timeout_s:
        text = ledger.read_text() if ledger.exists() else ""
        if text.count('"event": "download"') >= count:
            return time.monotonic() - started
        time.sleep(0.1)
    raise RuntimeError(f"fewer than {count} downloads completed in {timeout_s} s")


def wait_first_poll(run: Run, timeout_s: float = 30) -> float:
    """Seconds from the daemon's start to its first poll cycle (read from its log)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if "first poll cycle started" in run.daemon_log.read_text(errors="replace"):
            return time.monotonic() - run.started
        if run.daemon.poll() is not None:
            raise RuntimeError(run.daemon_log.read_text())
        time.sleep(0.01)
    raise RuntimeError("no poll within the deadline")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0
