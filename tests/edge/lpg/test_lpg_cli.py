"""`station lpg import|export|store` on a real database file: a bad file refused whole with every
problem printed; a good one applied; the export reads back the same."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.cli import main

CONFIG = """
[station]
id = "ST-1"
[storage]
database = "db/station.db"
[[products]]
g_code = "0095"
name = "LPG"
prices = [750]
[[lines]]
name = "bus1"
url = "/dev/null"
mode = "multi-drop"
baud = 9600
[[lines.dispensers]]
pos_p = 1
nozzles = [{ nzn = 1, g_code = "0095" }]
[lpg]
design_life_years = 8
[lpg.specs.YSP-15]
nominal_kg = 14.5
tolerance_kg = 0.3
"""

GOOD = (
    "barcode,spec,tare_kg,manufactured_on,last_inspection,next_inspection,scrap_on,owner,state\n"
    "A1,YSP-15,16.2,2022-03-01,,2027-09-01,,,\n"
    "A2,YSP-15,15.9,2022-03-01,,2027-09-01,,,full\n"
)


def test_import_export_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "station.toml"
    config.write_text(CONFIG)
    bad = tmp_path / "bad.csv"
    bad.write_text(GOOD + "A3,YSP-5,x,2022-03-01,,2027-09-01,,,\n")
    assert main(["lpg", "import", str(bad), "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "nothing imported" in err and "line 4: spec" in err and "line 4: tare_kg" in err
    assert main(["lpg", "store", "--json", "--config", str(config)]) == 0
    assert capsys.readouterr().out.strip() == "[]"

    good = tmp_path / "good.csv"
    good.write_text(GOOD)
    assert main(["lpg", "import", str(good), "--config", str(config)]) == 0
    assert "2 cylinders added" in capsys.readouterr().out
    out = tmp_path / "out.csv"
    assert main(["lpg", "export", "--output", str(out), "--config", str(config)]) == 0
    exported = out.read_text()
    assert "A1,YSP-15,16.2,2022-03-01,,2027-09-01,2030-03-01,station,empty" in exported
    assert main(["lpg", "store", "--config", str(config)]) == 0
    store = capsys.readouterr().out
    assert "empty" in store and "full" in store


def test_a_bad_lpg_table_is_a_configuration_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from edge.config import load_config
    from edge.registry import default_registry

    config = tmp_path / "station.toml"
    config.write_text(CONFIG.replace("nominal_kg = 14.5", "nominal_kg = -1"))
    problems = default_registry().problems(load_config(config))
    assert "station.toml: lpg.specs.YSP-15.nominal_kg: must be > 0, not -1" in problems
    assert main(["lpg", "store", "--config", str(config)]) == 2
    assert "lpg.specs.YSP-15.nominal_kg" in capsys.readouterr().err
