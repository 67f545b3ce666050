"""Fixtures of the packaging and install tests: `make dist`'s wheel and sdist, built once per run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.deploykit import CHECKOUT, Dist, uv_binary


@pytest.fixture(scope="session")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dist]:
    """The wheel and the sdist, built like `make dist` does (the wheel from the sdist)."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [uv_binary(), "build", "--out-dir", str(out), str(CHECKOUT)],
        check=True,
        capture_output=True,
        timeout=600,
        env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"},
    )
    wheels = sorted(out.glob("station_edge-*.whl"))
    sdists = sorted(out.glob("station_edge-*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, list(out.iterdir())
    yield Dist(wheels[0], sdists[0])


@pytest.fixture(scope="session")
def base_python() -> str:
    """The interpreter a release venv is made from (the one behind this test's venv)."""
    candidate = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    return str(candidate) if candidate.exists() else (shutil.which("python3") or sys.executable)
