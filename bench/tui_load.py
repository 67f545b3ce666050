"""The TUI under load: 64 nozzles updating at 5 Hz, the TUI's CPU share and the daemon's poll rate
with and without the TUI attached.

The station: 32 point-to-point dispensers with 2 nozzles each (64 nozzles); each dispenser calls every
200 ms and reports its nozzles' live figures with every call, so each nozzle updates at 5 Hz while it
fuels; the simulator keeps most nozzles fuelling (long, slow sales). Phase A runs the daemon alone,
phase B the same with `station tui --demo` in tmux (80×24? no: 160×48, so all 64 tiles are on screen).
Printed: daemon polls/s in both phases, nozzle updates the daemon published (from the simulator's
0x31 rate), the TUI process's CPU share (target < 10 %), the bytes per second it writes to its terminal
(tmux `pipe-pane` copies what the UI writes; target < 32 KB/s: the UI is used over SSH, sometimes on a
mobile link), and the daemon's CPU in both phases.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.stationproc import cpu_seconds
from edge.children import spawn, stop_all
from edge.daemon import LINE_STATISTICS, parse_line_statistics

DISPENSERS = 32
STOP_S = 30.0
CALL_INTERVAL_MS = 200
TARGET_CPU_PERCENT = 10.0
TARGET_TERMINAL_BYTES_PER_S = 32 * 1024


def config_text(folder: Path) -> str:
    out = [
        "[station]", 'id = "BENCH-TUI"', "[storage]", 'database = "station.db"', "[logging]", 'level = "INFO"',
        "[[products]]", 'g_code = "0092"', 'name = "92#"', "prices = [750]",
    ]  # fmt: skip
    for i in range(DISPENSERS):
        n = 2 * i + 1
        out += [
            "[[lines]]", f'name = "p{i + 1}"', f'url = "{folder}/tty-p{i + 1}"', 'mode = "point-to-point"',
            "[[lines.dispensers]]", f"pos_p = {i + 1}",
            f'nozzles = [{{ nzn = {n}, g_code = "0092" }}, {{ nzn = {n + 1}, g_code = "0092" }}]',
        ]  # fmt: skip
    out += ["[simulator]", f"p2p_interval_ms = {CALL_INTERVAL_MS}", "rate = 60", "fuel_speed = 10"]
    return "\n".join(out) + "\n"


def _log_count(log: Path, text: str) -> int:
    return log.read_text(errors="replace").count(text) if log.exists() else 0


def _polls(log: Path, before: int, daemon: subprocess.Popen[bytes]) -> int:
    daemon.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while _log_count(log, LINE_STATISTICS) < before + DISPENSERS:
        if time.monotonic() > deadline:
            raise RuntimeError("the daemon did not log its statistics")
        time.sleep(0.02)
    return sum(stats["polls"] for stats in parse_line_statistics(log.read_text()).values())


def _size(path: Path | None) -> int:
    return path.stat().st_size if path is not None and path.exists() else 0


def _window(
    log: Path, daemon: subprocess.Popen[bytes], seconds: float, watch: int | None, screen: Path | None = None
) -> dict[str, float]:
    count = _log_count(log, LINE_STATISTICS)
    polls0, cpu0 = _polls(log, count, daemon), cpu_seconds(daemon.pid)
    tui0 = cpu_seconds(watch) if watch else 0.0
    written0 = _size(screen)
    t0 = time.monotonic()
    while time.monotonic() < t0 + seconds:
        time.sleep(0.2)
    elapsed = time.monotonic() - t0
    polls1 = _polls(log, count + DISPENSERS, daemon)
    result = {
        "polls_per_s": round((polls1 - polls0) / elapsed, 1),
        "daemon_cpu_percent": round(100 * (cpu_seconds(daemon.pid) - cpu0) / elapsed, 2),
    }
    if watch:
        result["tui_cpu_percent"] = round(100 * (cpu_seconds(watch) - tui0) / elapsed, 2)
    if screen is not None:
        result["terminal_bytes_per_s"] = round((_size(screen) - written0) / elapsed)
    return result


def _tui_pid(session: str) -> int:
    pane_pid = int(
        subprocess.check_output(["tmux", "display", "-p", "-t", session, "#{pane_pid}"], text=True)
    )
    return pane_pid  # `station tui` execs the UI in the pane's own process


def run(seconds: float = 20.0) -> dict[str, Any]:
    if shutil.which("tmux") is None:
        raise RuntimeError("tmux is needed (make setup-test installs it)")
    with tempfile.TemporaryDirectory(prefix="bench-tui-") as tmp:
        folder = Path(tmp)
        config = folder / "station.toml"
        config.write_text(config_text(folder))
        sim = spawn(
            "station-sim",
            [
                sys.executable,
                "-m",
                "station_sim.cli",
                "--config",
                str(config),
                "--state-dir",
                str(folder / "sim"),
            ],
            folder / "sim.log",
        )
        session = f"bench-tui-{os.getpid()}"
        daemon = None
        try:
            deadline = time.monotonic() + 30
            while not all((folder / f"tty-p{i + 1}").exists() for i in range(DISPENSERS)):
                if time.monotonic() > deadline:
                    raise RuntimeError("the simulator did not create its links")
                time.sleep(0.05)
            log = folder / "station.log"
            daemon = spawn(
                "station daemon",
                [sys.executable, "-m", "edge.cli", "run", "--config", str(config)],
                log,
                env={"STATION_DEMO": "1"},
            )
            warm = time.monotonic() + 8  # all dispensers online, start-up downloads done, sales running
            while time.monotonic() < warm:
                time.sleep(0.2)
            without = _window(log, daemon.popen, seconds, None)
            command = f"{sys.executable} -m edge.cli tui --config {config} --demo"
            subprocess.run(
                [
                    "tmux",
                    "new-session",
                    "-d",
                    "-s",
                    session,
                    "-x",
                    "160",
                    "-y",
                    "48",
                    "-e",
                    "TERM=xterm-256color",
                    command,
                ],
                check=True,
            )
            screen = folder / "terminal.out"
            subprocess.run(["tmux", "pipe-pane", "-O", "-t", session, f"cat > {screen}"], check=True)
            settle = time.monotonic() + 5
            while time.monotonic() < settle:
                time.sleep(0.2)
            with_tui = _window(log, daemon.popen, seconds, _tui_pid(session), screen)
        finally:
            subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
            stop_all([daemon, sim], STOP_S)
    ratio = with_tui["polls_per_s"] / without["polls_per_s"] if without["polls_per_s"] else 0.0
    print(
        f"tui: 64 nozzles at {1000 // CALL_INTERVAL_MS} Hz: TUI CPU {with_tui['tui_cpu_percent']} % of a core "
        f"(target < {TARGET_CPU_PERCENT:g} %); {with_tui['terminal_bytes_per_s'] / 1024:.1f} KB/s written to the "
        f"terminal (target < {TARGET_TERMINAL_BYTES_PER_S // 1024} KB/s); "
        f"daemon {without['polls_per_s']} polls/s without the TUI, {with_tui['polls_per_s']} with it "
        f"({ratio:.0%}); daemon CPU {without['daemon_cpu_percent']} % → {with_tui['daemon_cpu_percent']} %"
    )
    return {
        "name": "tui",
        "value": with_tui["tui_cpu_percent"],
        "unit": "% of one core (TUI process)",
        "target": TARGET_CPU_PERCENT,
        "terminal_bytes_per_s": with_tui["terminal_bytes_per_s"],
        "terminal_bytes_per_s_target": TARGET_TERMINAL_BYTES_PER_S,
        "nozzles": 2 * DISPENSERS,
        "update_hz": 1000 / CALL_INTERVAL_MS,
        "without_tui": without,
        "with_tui": with_tui,
        "poll_rate_ratio": round(ratio, 3),
    }
