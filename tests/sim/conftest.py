"""Fixtures of the simulator tests: a generated station folder and the real `station-sim` process."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.pcsc import pcsc

from tests.sim.helpers import SCENARIO_TOML, STATION_TOML, SimProcess

__all__ = ["pcsc"]  # the private pcscd with vpcd readers, for the virtual card tests


@pytest.fixture
def station_dir(tmp_path: Path) -> Path:
    (tmp_path / "station.toml").write_text(STATION_TOML.format(dir=tmp_path))
    (tmp_path / "scenario.toml").write_text(SCENARIO_TOML)
    return tmp_path


@pytest.fixture
def sim(station_dir: Path) -> Iterator[SimProcess]:
    proc = SimProcess(station_dir, station_dir / "station.toml", station_dir / "ledger.jsonl")
    yield proc
    if proc.popen is not None:
        proc.stop()
