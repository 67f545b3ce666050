"""`station web` without a browser: loopback by default, the command each browser session runs."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from edge.cli import build_parser
from edge.web import RemoteBindRefused, check_host, tui_command, url_of


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_addresses_are_allowed(host: str) -> None:
    check_host(host, allow_remote=False)


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "station.local"])
def test_other_addresses_need_allow_remote(host: str) -> None:
    with pytest.raises(RemoteBindRefused, match="reverse proxy"):
        check_host(host, allow_remote=False)
    check_host(host, allow_remote=True)


def test_default_is_loopback() -> None:
    args = build_parser().parse_args(["web", "--socket", "/run/station/control.sock"])
    assert args.host == "127.0.0.1" and not args.allow_remote


def test_each_browser_session_is_an_ordinary_tui_that_starts_at_the_login() -> None:
    argv = shlex.split(tui_command(Path("/run/station/control sock")))
    assert argv == [sys.executable, "-m", "tui", "--socket", "/run/station/control sock"]
    assert "--demo" not in argv


def test_urls() -> None:
    assert url_of("127.0.0.1", 8765) == "http://127.0.0.1:8765/"
    assert url_of("::1", 8765) == "http://[::1]:8765/"


def test_station_web_refuses_a_public_address_without_a_traceback(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "edge.cli", "web", "--socket", str(tmp_path / "c.sock"), "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "not a loopback address" in result.stderr and "Traceback" not in result.stderr


def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "edge.cli",
                "web",
                "--socket",
                str(tmp_path / "c.sock"),
                "--port",
                str(port),
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2, result.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
