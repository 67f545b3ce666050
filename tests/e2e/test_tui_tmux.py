"""The whole path an attendant sees: simulator → daemon → control API → `station tui` in tmux.

Logs in through the keyboard and reads the live nozzle grid from `tmux capture-pane`: a sale is seen
fuelling with growing figures and then finished.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.harness import Station, wait_until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (make test installs it)"),
]

USER, PASSWORD = "attendant", "pump-2026!"
AMOUNT = re.compile(r"¥\s*[\d,]+\.\d\d")


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True, timeout=30).stdout


def screen(session: str) -> str:
    return tmux("capture-pane", "-p", "-t", session)


def screen_showing(session: str, *words: str) -> str:
    """The screen when it shows any of `words`, else "" (for `wait_until`)."""
    text = screen(session)
    return text if any(word in text for word in words) else ""


def test_attendant_logs_in_and_watches_a_sale_progress_and_complete(tmp_path: Path) -> None:
    station = Station.create(tmp_path)
    add = subprocess.run(
        [sys.executable, "-m", "edge.cli", "operators", "--config", str(station.config), "add", USER,
         "--role", "operator", "--password-stdin"],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert add.returncode == 0, add.stderr
    session = f"station-tui-{os.getpid()}"
    try:
        station.start_sim("--seed", "3", "--rate", "20", "--fuel-speed", "400", "--p2p-interval-ms", "200")
        station.start_daemon()
        command = f"{sys.executable} -m edge.cli tui --config {station.config}"
        tmux("new-session", "-d", "-s", session, "-x", "80", "-y", "24", "-e", "TERM=xterm-256color",
             "-e", "LANG=C.UTF-8", command)  # fmt: skip
        wait_until(lambda: "Operator login" in screen(session), 60, "the login screen")
        wait_until(lambda: "ONLINE" in screen(session), 60, "the TUI to reach the daemon")
        tmux("send-keys", "-t", session, USER, "Enter")
        tmux("send-keys", "-t", session, PASSWORD, "Enter")
        wait_until(lambda: "Operator login" not in screen(session), 30, "the login to succeed")
        text = wait_until(lambda: screen_showing(session, "IDLE", "FUELLING", "CARD IN"), 30, "the grid")
        assert USER in text or "operator" in text.lower()

        first = wait_until(lambda: screen_showing(session, "FUELLING"), 120, "a nozzle fuelling")
        # The live figures move while the sale runs: a later capture differs on the fuelling tile.
        wait_until(
            lambda: "FUELLING" in (s := screen(session)) and s != first, 60, "the fuelling figures to move"
        )
        wait_until(lambda: "FINISHED" in screen(session), 120, "a sale to finish")
        tmux("send-keys", "-t", session, "2")  # the sales feed tab
        sale_row = re.compile(r"\bsale\s+…\d{4}\s+\S+\s+\d+\.\d\d\s+\d+\.\d\d")
        wait_until(lambda: sale_row.search(screen(session)), 30, "a completed sale row in the sales feed")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=30)
        station.stop()
