"""Helpers of the packaging and install tests: the checkout, uv, clean virtual environments."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from dataclasses import dataclass
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Dist:
    wheel: Path
    sdist: Path


def uv_binary() -> str:
    found = shutil.which("uv")
    if found:
        return found
    recorded = CHECKOUT / ".venv" / ".uv-path"
    if recorded.exists():
        return recorded.read_text().strip()
    home = Path.home() / ".local" / "bin" / "uv"
    return str(home)


def project_version() -> str:
    return str(tomllib.loads((CHECKOUT / "pyproject.toml").read_text())["project"]["version"])


def clean_env(**extra: str) -> dict[str, str]:
    """The environment minus anything that points at the checkout or its venv."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"} and not k.startswith("PYTEST")
    }
    env["PATH"] = os.pathsep.join(
        p for p in env.get("PATH", "").split(os.pathsep) if p and not p.startswith(str(CHECKOUT))
    )
    env["UV_PYTHON_DOWNLOADS"] = "never"
    env.update(extra)
    return env


def run(argv: list[str], cwd: Path, timeout: float = 600, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=clean_env(**extra)
    )
