"""`station bench demo`: what the demo station costs, without and with the terminal UI attached.

The station of `station demo` (a multi-drop bus with three dispensers and a point-to-point dispenser,
wire time emulated at 9600 baud, default poll pacing, random traffic at 6 sales a minute per
dispenser): first the daemon and the simulator alone, then with `station tui --demo` in tmux (80×24,
the size of a small terminal). Targets: daemon < 5 %, simulator < 5 % of a core; the UI < 10 %.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.tui_load import _size, _tui_pid
from edge.children import Child, spawn
from edge.demo_station import cpu_seconds, sim_command, station_command, wait_for_paths, write_demo_config

TARGET_DAEMON_PERCENT = 5.0
TARGET_SIM_PERCENT = 5.0
TARGET_TUI_PERCENT = 10.0
WARM_UP_S = 8.0


def _shares(procs: dict[str, int], seconds: float, screen: Path | None = None) -> dict[str, float]:
    before = {name: cpu_seconds(pid) for name, pid in procs.items()}
    written = _size(screen)
    began = time.monotonic()
    while time.monotonic() < began + seconds:
        time.sleep(0.2)
    elapsed = time.monotonic() - began
    out = {
        f"{name}_cpu_percent": round(100 * (cpu_seconds(pid) - before[name]) / elapsed, 2)
        for name, pid in procs.items()
    }
    if screen is not None:
        out["terminal_bytes_per_s"] = round((_size(screen) - written) / elapsed)
    return out


def run(seconds: float = 30.0) -> dict[str, Any]:
    if shutil.which("tmux") is None:
        raise RuntimeError("tmux is needed (make setup-test installs it)")
    session = f"bench-demo-{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        data = Path(tmp)
        config = write_demo_config(data)
        sim = spawn(
            "station-sim",
            sim_command("--config", str(config), "--ledger", str(data / "ledger.jsonl"), "--state-dir",
                        str(data / "sim-state"), "--seed", "0"),
            data / "sim.log",
        )  # fmt: skip
        daemon: Child | None = None
        try:
            wait_for_paths([data / "tty-bus1", data / "tty-p2p1"], sim)
            daemon = spawn(
                "station",
                station_command("run", "--config", str(config)),
                data / "station.log",
                {"STATION_DEMO": "1"},
            )
            time.sleep(WARM_UP_S)  # start-up downloads done, traffic running
            procs = {"daemon": daemon.popen.pid, "simulator": sim.popen.pid}
            alone = _shares(procs, seconds)
            command = f"{sys.executable} -m edge.cli tui --config {config} --demo"
            subprocess.run(
                ["tmux", "new-session", "-d", "-s", session, "-x", "80", "-y", "24", "-e", "TERM=xterm-256color", command],
                check=True,
            )  # fmt: skip
            screen = data / "terminal.out"
            subprocess.run(["tmux", "pipe-pane", "-O", "-t", session, f"cat > {screen}"], check=True)
            time.sleep(5)  # logged in, first snapshot drawn
            with_tui = _shares({**procs, "tui": _tui_pid(session)}, seconds, screen)
        finally:
            subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
            if daemon is not None:
                daemon.stop(30)
            sim.stop(30)
    print(
        f"demo: daemon {alone['daemon_cpu_percent']} % (target < {TARGET_DAEMON_PERCENT:g} %), simulator "
        f"{alone['simulator_cpu_percent']} % (< {TARGET_SIM_PERCENT:g} %) of a core; with the UI attached: UI "
        f"{with_tui['tui_cpu_percent']} % (< {TARGET_TUI_PERCENT:g} %), {with_tui['terminal_bytes_per_s'] / 1024:.1f} "
        f"KB/s to its terminal, daemon {with_tui['daemon_cpu_percent']} %, simulator {with_tui['simulator_cpu_percent']} %"
    )
    return {
        "name": "demo",
        "value": max(alone["daemon_cpu_percent"], alone["simulator_cpu_percent"]),
        "unit": "% of one core (daemon, simulator: the larger)",
        "target": TARGET_DAEMON_PERCENT,
        "tui_target_percent": TARGET_TUI_PERCENT,
        "seconds": seconds,
        "without_tui": alone,
        "with_tui": with_tui,
    }
