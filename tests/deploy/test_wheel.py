"""The built wheel alone, in a clean virtual environment outside the checkout: `station --version`,
`station run --check` on the shipped example configuration, a 20-second headless demo."""

from __future__ import annotations

import json
import tarfile
import zipfile
from pathlib import Path

import pytest

from tests.deploy.deploykit import CHECKOUT, Dist, project_version, run, uv_binary

pytestmark = pytest.mark.e2e

RUNTIME_FILES = (
    "tui/styles/app.tcss",
    "protocol/locale/en/LC_MESSAGES/station.mo",
    "storage/migrations/0001_initial.sql",
    "protocol/locale/zh_CN/LC_MESSAGES/station.mo",
    "edge/web_templates/app_index.html",
    "edge/_bundled/docs/operations.md",
    "edge/_bundled/docs/configuration.md",
    "edge/_bundled/examples/station.toml",
    "edge/_bundled/deploy/station.service",
    "edge/_bundled/deploy/station-web.service",
    "edge/_bundled/scripts/install.sh",
)


def test_wheel_and_sdist_carry_what_the_product_needs_at_run_time(dist: Dist) -> None:
    with zipfile.ZipFile(dist.wheel) as archive:
        names = set(archive.namelist())
    for name in RUNTIME_FILES:
        assert name in names, f"{name} missing from {dist.wheel.name}"
    migrations = {p.name for p in (CHECKOUT / "storage" / "migrations").glob("*.sql")}
    assert {n.rsplit("/", 1)[1] for n in names if n.startswith("storage/migrations/")} == migrations
    assert not [n for n in names if n.startswith("tests/")]
    with tarfile.open(dist.sdist) as archive:
        sdist = {n.split("/", 1)[1] for n in archive.getnames() if "/" in n}
    for name in ("pyproject.toml", "docs/operations.md", "scripts/install.sh", "deploy/station.service"):
        assert name in sdist
    assert dist.wheel.name.startswith(f"station_edge-{project_version()}-")


@pytest.fixture(scope="module")
def venv(dist: Dist, base_python: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("clean")
    env_dir = where / "venv"
    made = run([uv_binary(), "venv", "--python", base_python, str(env_dir)], cwd=where)
    assert made.returncode == 0, made.stderr
    installed = run(
        [uv_binary(), "pip", "install", "--python", str(env_dir / "bin" / "python"), str(dist.wheel)],
        cwd=where,
    )
    assert installed.returncode == 0, installed.stderr
    return env_dir


def test_the_installed_package_is_the_wheel_not_the_checkout(venv: Path, tmp_path: Path) -> None:
    probe = run(
        [str(venv / "bin" / "python"), "-c", "import edge, tui, storage, station_sim; print(edge.__file__)"],
        cwd=tmp_path,
    )
    assert probe.returncode == 0, probe.stderr
    assert Path(probe.stdout.strip()).is_relative_to(venv), probe.stdout
    assert not Path(probe.stdout.strip()).is_relative_to(CHECKOUT)


def test_version_help_and_docs(venv: Path, tmp_path: Path) -> None:
    version = run([str(venv / "bin" / "station"), "--version"], cwd=tmp_path)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"station {project_version()}"
    helped = run([str(venv / "bin" / "station"), "--help"], cwd=tmp_path)
    assert helped.returncode == 0 and "web" in helped.stdout and "install" in helped.stdout
    doc = run([str(venv / "bin" / "station"), "docs", "operations"], cwd=tmp_path)
    assert doc.returncode == 0 and doc.stdout == (CHECKOUT / "docs" / "operations.md").read_text()


def test_run_check_on_the_shipped_example_configuration(venv: Path, tmp_path: Path) -> None:
    where = run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "from edge.bundled import bundled; print(bundled('examples/station.toml'))",
        ],
        cwd=tmp_path,
    )
    example = Path(where.stdout.strip())
    assert example.is_relative_to(venv), where.stdout + where.stderr
    checked = run([str(venv / "bin" / "station"), "run", "--config", str(example), "--check"], cwd=tmp_path)
    assert checked.returncode == 0, checked.stderr
    assert "OK (2 lines)" in checked.stdout


def test_twenty_second_headless_demo_from_the_wheel(venv: Path, tmp_path: Path) -> None:
    data = tmp_path / "demo"
    demo = run(
        [str(venv / "bin" / "station"), "demo", "--headless", "--seconds", "20", "--rate", "30",
         "--data-dir", str(data)],
        cwd=tmp_path,
        timeout=300,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stderr + (data / "station.log").read_text(errors="replace")
    summary = json.loads(demo.stdout)
    assert summary["records_produced"] > 0
    assert 0 < summary["records_stored"] <= summary["records_produced"]
    assert "Traceback" not in (data / "station.log").read_text(errors="replace")
