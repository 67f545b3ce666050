"""`station demo` (what `make demo` runs) starts the web view beside the terminal UI and prints its URL."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from edge.demo_station import DEMO_WEB_USER, free_port
from tests.e2e.harness import wait_until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (make test installs it)"),
]


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True, timeout=30).stdout


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return int(reply.status) == 200
    except (urllib.error.URLError, OSError):
        return False


def test_demo_prints_the_web_view_url_and_serves_it_while_the_tui_runs(tmp_path: Path) -> None:
    port = free_port(0)
    url = f"http://127.0.0.1:{port}/"
    session = f"station-demo-web-{os.getpid()}"
    out = tmp_path / "demo.out"
    command = (
        f"{sys.executable} -m edge.cli demo --data-dir {tmp_path / 'demo'} --web-port {port} | tee {out}; "
        f"echo DEMO-EXITED; sleep 600"
    )
    try:
        tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "30", "-e", "TERM=xterm-256color",
             "bash", "-c", command)  # fmt: skip
        wait_until(lambda: answers(url), 120, "the demo's web view to answer")
        wait_until(lambda: "Nozzles" in tmux("capture-pane", "-p", "-t", session), 120, "the terminal UI")
        assert f"Web view of the terminal UI: {url}" in out.read_text()
        assert f"log in as {DEMO_WEB_USER}" in out.read_text()
        tmux("send-keys", "-t", session, "C-q")
        wait_until(lambda: "DEMO-EXITED" in tmux("capture-pane", "-p", "-t", session), 60, "the demo to end")
        assert url in tmux("capture-pane", "-p", "-t", session)
        wait_until(lambda: not answers(url), 60, "the web view to stop with the demo")
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True, timeout=30)
