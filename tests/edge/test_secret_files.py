"""The daemon refuses a password or private key file that other users can read."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge.config import load_config
from edge.demo_station import write_demo_config
from edge.secret_files import exposed_secret_problems, secret_paths


def station_with_secrets(tmp_path: Path, password_mode: int, key_mode: int | None = None) -> Path:
    config = write_demo_config(tmp_path)
    pw = tmp_path / "uplink.password"
    pw.write_text("s3cret\n")
    pw.chmod(password_mode)
    table = (
        '\n[uplink]\nurl = "mqtt://127.0.0.1:1"\nallow_plaintext = true\npassword_file = "uplink.password"\n'
    )
    if key_mode is not None:
        key = tmp_path / "client.key"
        key.write_text("not checked here\n")
        key.chmod(key_mode)
        table += f'key_file = "{key}"\n'
    with config.open("a") as f:
        f.write(table)
    return config


def check(config: Path, *more: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "edge.cli", "run", "--config", str(config), *more],
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o666])
def test_a_world_readable_password_file_is_a_configuration_problem(tmp_path: Path, mode: int) -> None:
    config = load_config(station_with_secrets(tmp_path, mode))
    (problem,) = exposed_secret_problems(config)
    assert (
        "uplink.password_file" in problem and "readable by every user" in problem and "chmod 600" in problem
    )


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o400])
def test_owner_or_group_only_is_fine(tmp_path: Path, mode: int) -> None:
    assert exposed_secret_problems(load_config(station_with_secrets(tmp_path, mode, key_mode=mode))) == []


def test_key_file_is_checked_too_with_relative_and_absolute_paths(tmp_path: Path) -> None:
    config = load_config(station_with_secrets(tmp_path, 0o600, key_mode=0o644))
    assert set(secret_paths(config)) == {"uplink.password_file", "uplink.key_file"}
    (problem,) = exposed_secret_problems(config)
    assert "uplink.key_file" in problem


def test_station_run_refuses_to_start_and_check_says_why(tmp_path: Path) -> None:
    config = station_with_secrets(tmp_path, 0o644)
    checked = check(config, "--check")
    assert checked.returncode == 2
    assert "uplink.password_file" in checked.stderr and "Traceback" not in checked.stderr
    started = check(config)
    assert started.returncode == 2 and "readable by every user" in started.stderr
    (tmp_path / "uplink.password").chmod(0o600)
    assert check(config, "--check").returncode == 0
