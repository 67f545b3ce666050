"""scripts/install.sh against a temporary root (--destdir): the files and modes it leaves, the units
passing `systemd-analyze verify`, and the upgrade path: backup, migrate, switch, roll back, and an
upgrade whose migration fails rolling itself back. Finally uninstall, keeping or purging the data."""

from __future__ import annotations

import shutil
import sqlite3
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.deploy.deploykit import CHECKOUT, Dist, project_version, run, uv_binary

pytestmark = pytest.mark.e2e

INSTALL = CHECKOUT / "scripts" / "install.sh"
PREFIX = "/opt/station"


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def install_sh(root: Path, *args: str, python: str) -> subprocess.CompletedProcess[str]:
    return run(
        ["bash", str(INSTALL), *args, "--destdir", str(root), "--python", python],
        cwd=root.parent,
        UV=uv_binary(),
    )


def variant_wheel(dist: Dist, where: Path, version: str, migration_sql: str) -> Path:
    """The same product at another version, with one more migration (9000) in it."""
    with tarfile.open(dist.sdist) as archive:
        archive.extractall(where, filter="data")
    (src,) = where.iterdir()
    pyproject = src / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace(f'version = "{project_version()}"', f'version = "{version}"', 1)
    )
    (src / "storage" / "migrations" / "9000_upgrade_probe.sql").write_text(migration_sql)
    out = where / "dist"
    built = run([uv_binary(), "build", "--wheel", "--out-dir", str(out), str(src)], cwd=where)
    assert built.returncode == 0, built.stderr
    (wheel,) = out.glob(f"station_edge-{version}-*.whl")
    return wheel


def point_config_into(root: Path) -> Path:
    """The example configuration's absolute paths moved under the staged root (a test-only edit)."""
    config = root / "etc" / "station" / "station.toml"
    text = config.read_text()
    for folder in ("/var/lib/station", "/run/station"):
        text = text.replace(f'"{folder}/', f'"{root}{folder}/')
    config.write_text(text)
    (root / "run" / "station").mkdir(parents=True, exist_ok=True)
    return config


def schema(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def tables(db: Path) -> set[str]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_install_upgrade_rollback_uninstall_in_a_temporary_root(
    dist: Dist, base_python: str, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    version = project_version()

    # --- install ---------------------------------------------------------------------------------
    done = install_sh(root, "install", "--wheel", str(dist.wheel), python=base_python)
    assert done.returncode == 0, done.stdout + done.stderr
    etc, var, opt = root / "etc" / "station", root / "var" / "lib" / "station", root / "opt" / "station"
    assert mode(etc) == 0o750
    assert mode(etc / "station.toml") == 0o640
    assert mode(var) == 0o750 and mode(var / "backups") == 0o750
    assert (opt / "current").is_symlink() and str((opt / "current").readlink()) == f"releases/{version}"
    station = opt / "current" / "bin" / "station"
    assert station.exists() and mode(station) & stat.S_IXUSR
    assert "ST-0001" in (etc / "station.toml").read_text()  # the shipped example, unedited
    for unit in ("station.service", "station-web.service"):
        path = root / "etc" / "systemd" / "system" / unit
        assert mode(path) == 0o644
        assert f"ExecStart={PREFIX}/current/bin/station " in path.read_text()
    unit_text = (root / "etc" / "systemd" / "system" / "station.service").read_text()
    for setting in ("ProtectSystem=strict", "ReadWritePaths=/var/lib/station", "NoNewPrivileges=true",
                    "PrivateTmp=true", "Restart=on-failure", "WatchdogSec=", "Type=notify",
                    "SupplementaryGroups=dialout"):  # fmt: skip
        assert setting in unit_text
    version_out = run([str(station), "--version"], cwd=tmp_path)
    assert version_out.stdout.strip() == f"station {version}"

    again = install_sh(root, "install", "--wheel", str(dist.wheel), python=base_python)
    assert again.returncode != 0 and "use upgrade" in again.stderr

    # --- a station with data ----------------------------------------------------------------------
    config = point_config_into(root)
    add = subprocess.run(
        [str(station), "operators", "--config", str(config), "add", "keeper", "--role", "senior",
         "--password-stdin"],
        input="keeper-pass-1\n", capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert add.returncode == 0, add.stderr
    db = var / "station.db"
    before_schema = schema(db)

    # --- upgrade: backup, migrate, switch ---------------------------------------------------------
    newer = variant_wheel(
        dist, tmp_path / "v2", "99.0.0", "CREATE TABLE upgrade_probe (id INTEGER PRIMARY KEY);\n"
    )
    up = install_sh(root, "upgrade", "--wheel", str(newer), python=base_python)
    assert up.returncode == 0, up.stdout + up.stderr
    assert str((opt / "current").readlink()) == "releases/99.0.0"
    assert str((opt / "previous").readlink()) == f"releases/{version}"
    assert schema(db) == 9000 and "upgrade_probe" in tables(db)
    (backup,) = (var / "backups").iterdir()
    assert backup.name.endswith(f"-from-{version}")
    assert schema(backup / "station.db") == before_schema
    assert (backup / "etc-station" / "station.toml").read_text() == config.read_text()
    status = install_sh(root, "status", python=base_python)
    assert "current:  releases/99.0.0" in status.stdout and "database 9000, release 9000" in status.stdout

    # --- roll back: the old release cannot read schema 9000, so the backup comes back -------------
    back = install_sh(root, "rollback", python=base_python)
    assert back.returncode == 0, back.stdout + back.stderr
    assert str((opt / "current").readlink()) == f"releases/{version}"
    assert schema(db) == before_schema and "upgrade_probe" not in tables(db)
    aside = list(var.glob("station.db.rolled-back-*"))
    assert len(aside) == 1 and schema(aside[0]) == 9000  # kept: whatever it recorded since the upgrade
    listed = run([str(station), "operators", "--config", str(config), "list"], cwd=tmp_path)
    assert "keeper" in listed.stdout, listed.stderr

    # --- an upgrade whose migration fails rolls itself back -----------------------------------------
    broken = variant_wheel(dist, tmp_path / "v3", "99.0.1", "CREATE TABLE oops (;\n")
    failed = install_sh(root, "upgrade", "--wheel", str(broken), python=base_python)
    assert failed.returncode != 0
    assert "migration failed" in failed.stdout and f"release {version} restored" in failed.stderr
    assert str((opt / "current").readlink()) == f"releases/{version}"
    assert schema(db) == before_schema

    # --- uninstall: keeps the configuration and the data; --purge removes them ----------------------
    gone = install_sh(root, "uninstall", python=base_python)
    assert gone.returncode == 0, gone.stderr
    assert not opt.exists() and not (root / "etc" / "systemd" / "system" / "station.service").exists()
    assert config.exists() and db.exists()
    purged = install_sh(root, "uninstall", "--purge", python=base_python)
    assert purged.returncode == 0 and not etc.exists() and not var.exists()


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (make test installs systemd)",
)
def test_installed_units_pass_systemd_analyze_verify(dist: Dist, base_python: str, tmp_path: Path) -> None:
    """`systemd-analyze verify --root` on the units as installed: ExecStart exists in the root, every
    key is known (an unknown key is only a warning, so any output fails the test)."""
    root = tmp_path / "root"
    root.mkdir()
    done = install_sh(root, "install", "--wheel", str(dist.wheel), python=base_python)
    assert done.returncode == 0, done.stdout + done.stderr
    # verify resolves the units the service depends on (sysinit.target …) inside the root.
    shutil.copytree("/usr/lib/systemd/system", root / "usr" / "lib" / "systemd" / "system", symlinks=True)
    for unit in ("station.service", "station-web.service"):
        result = subprocess.run(
            ["systemd-analyze", "verify", f"--root={root}", f"/etc/systemd/system/{unit}"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "" and result.stderr.strip() == "", result.stdout + result.stderr


def test_the_shipped_unit_with_a_mistake_fails_verify(tmp_path: Path) -> None:
    """The verify test above can fail: a unit whose ExecStart does not exist is refused."""
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    unit = tmp_path / "station.service"
    unit.write_text(
        (CHECKOUT / "deploy" / "station.service").read_text().replace("/opt/station", str(tmp_path / "none"))
    )
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode != 0 and "is not executable" in result.stderr


def test_station_install_runs_the_shipped_script() -> None:
    helped = subprocess.run(
        [sys.executable, "-m", "edge.cli", "install", "--help"], capture_output=True, text=True, timeout=60
    )
    assert helped.returncode == 0
    assert "upgrade" in helped.stdout
