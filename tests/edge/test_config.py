"""Configuration validation: every problem listed at once, by file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.config import ConfigError, LineMode, check_devices, load_config, multidrop_reply_timeout_s

GOOD = """
[station]
id = "ST-1"
[storage]
database = "db/station.db"
[[products]]
g_code = "0092"
name = "92#"
prices = [750, 740]
[[lines]]
name = "bus1"
url = "{dev}"
mode = "multi-drop"
baud = 9600
[[lines.dispensers]]
pos_p = 1
nozzles = [{{ nzn = 1, g_code = "0092" }}]
[[lines.dispensers]]
pos_p = 2
nozzles = [{{ nzn = 2, g_code = "0092" }}]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "station.toml"
    path.write_text(text)
    return path


def test_good_config_loads_with_defaults(tmp_path: Path) -> None:
    dev = tmp_path / "tty"
    dev.touch()
    cfg = load_config(write(tmp_path, GOOD.format(dev=dev)))
    assert cfg.station.id == "ST-1"
    assert cfg.station.controller_address == 0xE0
    assert cfg.storage.database == (tmp_path / "db/station.db").resolve()
    line = cfg.lines[0]
    assert line.mode is LineMode.MULTI_DROP
    assert [d.pos_p for d in line.dispensers] == [1, 2]
    assert line.effective_reply_timeout_s() == pytest.approx(multidrop_reply_timeout_s(9600))
    assert 0.1 < line.effective_reply_timeout_s() < 0.2  # about 150 ms at 9600 baud (B4)
    assert check_devices(cfg) == []


def test_every_problem_is_listed_with_file_and_key(tmp_path: Path) -> None:
    bad = (
        GOOD.format(dev="/nonexistent/tty")
        .replace("baud = 9600", 'baud = "fast"\ncolour = "red"')
        .replace("pos_p = 2", "pos_p = 1")
        .replace('id = "ST-1"', 'id = "ST-1"\ncontroller_address = 250')
    )
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, bad))
    problems = err.value.problems
    text = "\n".join(problems)
    assert "station.toml: lines[0].colour: unknown key" in text
    assert "station.toml: lines[0].baud: must be int" in text
    assert "station.toml: lines[0].dispensers: address 1 (0x01) is used by two dispensers" in text
    assert "station.toml: station.controller_address: 0xFA is the frame start byte" in text
    assert len(problems) == 4


def test_address_fa_and_controller_address_rejected(tmp_path: Path) -> None:
    bad = GOOD.format(dev="x").replace("pos_p = 2", "pos_p = 224").replace("pos_p = 1", "pos_p = 250")
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, bad))
    text = "\n".join(err.value.problems)
    assert "lines[0].dispensers[0].pos_p: 0xFA is the frame start byte" in text
    assert "lines[0].dispensers[1].pos_p: 0xe0 is the controller's own address" in text


def test_missing_device_reported(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, GOOD.format(dev=tmp_path / "missing")))
    assert check_devices(cfg) == [f"station.toml: lines[0].url: device {tmp_path / 'missing'} does not exist"]


def test_unknown_product_and_point_to_point_with_two_dispensers(tmp_path: Path) -> None:
    bad = (
        GOOD.format(dev="x")
        .replace('mode = "multi-drop"', 'mode = "point-to-point"')
        .replace('{ nzn = 2, g_code = "0092" }', '{ nzn = 2, g_code = "0095" }')
    )
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, bad))
    text = "\n".join(err.value.problems)
    assert "lines[0].dispensers[1].nozzles[0].g_code: product 0095 is not in [[products]]" in text
    assert "lines[0].dispensers: a point-to-point line has exactly one dispenser" in text


def test_not_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, "[station\nid="))
    assert "not valid TOML" in err.value.problems[0]


def test_missing_required_tables(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, "[storage]\ndatabase = 'x.db'\n"))
    assert set(err.value.problems) >= {"station.toml: station: missing", "station.toml: lines: missing"}


def test_station_run_rejects_bad_config_listing_every_problem(tmp_path: Path) -> None:
    import subprocess
    import sys

    bad = GOOD.format(dev=tmp_path / "missing").replace("pos_p = 2", "pos_p = 1") + "\n[rules]\nbogus = 1\n"
    path = write(tmp_path, bad)
    result = subprocess.run(
        [sys.executable, "-m", "edge.cli", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "lines[0].dispensers: address 1 (0x01) is used by two dispensers" in result.stderr
    good = GOOD.format(dev=tmp_path / "missing") + "\n[rules]\nbogus = 1\n"
    result = subprocess.run(
        [sys.executable, "-m", "edge.cli", "run", "--config", str(write(tmp_path, good))],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "station.toml: rules.bogus: unknown key" in result.stderr
    assert f"station.toml: lines[0].url: device {tmp_path / 'missing'} does not exist" in result.stderr


def test_station_language_defaults_to_chinese_and_is_checked(tmp_path: Path) -> None:
    dev = tmp_path / "tty"
    dev.touch()
    assert load_config(write(tmp_path, GOOD.format(dev=dev))).station.language == "zh_CN"
    english = GOOD.format(dev=dev).replace('id = "ST-1"', 'id = "ST-1"\nlanguage = "en_US"')
    assert load_config(write(tmp_path, english)).station.language == "en"
    french = GOOD.format(dev=dev).replace('id = "ST-1"', 'id = "ST-1"\nlanguage = "fr"')
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, french))
    assert any("station.language" in p and "unknown language 'fr'" in p for p in info.value.problems)
