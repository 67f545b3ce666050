"""The stations the process benchmarks start pass the daemon's and the simulator's configuration checks:
a benchmark that no longer starts is found by `make test`, not the next time someone measures."""

from __future__ import annotations

from pathlib import Path

from edge.commands.run import component_problems
from edge.config import load_config


def test_the_busy_hour_station_is_a_valid_configuration(tmp_path: Path) -> None:
    from bench.drain import write_secret
    from bench.station import config_text

    (tmp_path / "uplink.url").write_text("mqtt://127.0.0.1:1883", encoding="utf-8")
    write_secret(tmp_path / "uplink.password")
    (tmp_path / "pcsc.socket").write_text(str(tmp_path / "pcscd.comm"), encoding="utf-8")  # the desk's part runs
    path = tmp_path / "station.toml"
    text = config_text(tmp_path, 1.0)
    assert "[desk]" in text and text.count("[[tanks.tank]]") == 8 and text.count("[[lpg.scales]]") == 2
    path.write_text(text, encoding="utf-8")
    config = load_config(path)
    assert component_problems(config) == []


def test_the_benches_write_the_broker_password_for_its_owner_only(tmp_path: Path) -> None:
    from bench.drain import PASSWORD, write_secret

    secret = tmp_path / "uplink.password"
    write_secret(secret)
    assert secret.read_text() == PASSWORD
    assert secret.stat().st_mode & 0o077 == 0
