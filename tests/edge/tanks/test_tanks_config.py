"""The [tanks] table: a valid one builds consoles and tanks; every problem is named with its key."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from edge.devices.tanks.config import parse_tanks
from edge.devices.tanks.errors import BadTankConfig

STRAP = [[0, 0], [1000, 10000], [2000, 21000]]


def table(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "poll_interval_s": 0.5,
        "reconcile_interval_min": 1,
        "day_start": "06:00",
        "consoles": [
            {"name": "c1", "url": "/tmp/tanks", "map": "tls-float-swapped", "device_id": 2},
            {"name": "c2", "url": "socket://127.0.0.1:1502"},
        ],
        "tank": [
            {"number": 1, "console": "c1", "unit": 0, "product": "0101", "strapping": STRAP},
            {
                "number": 2,
                "console": "c1",
                "unit": 1,
                "product": "0102",
                "strapping": STRAP,
                "nozzles": ["bus1:1:2"],
                "high_water_mm": 30,
                "delivery_settle_s": 10,
            },
            {"number": 3, "console": "c2", "unit": 0, "product": "0101", "strapping": STRAP},
        ],
    }
    base.update(changes)
    return base


def test_a_valid_table() -> None:
    cfg = parse_tanks(table(), "station.toml", frozenset({"0101", "0102"}))
    assert [c.name for c in cfg.consoles] == ["c1", "c2"]
    assert cfg.consoles[0].register_map.name == "tls-float-swapped"
    assert cfg.consoles[1].is_tcp
    assert [t.number for t in cfg.tanks_of("c1")] == [1, 2]
    t2 = cfg.tanks[1]
    assert str(t2.nozzles[0]) == "bus1:1:2"
    assert t2.alarms.high_water_mm == 30
    assert t2.alarms.capacity_l == 21000
    assert t2.delivery.settle_s == 10
    assert cfg.day_start == dt.time(6, 0)
    assert cfg.reconcile_interval_min == 1


def test_every_problem_is_named() -> None:
    bad = table(
        colour="red",
        tank=[
            {"number": 1, "console": "nope", "product": "0101", "strapping": STRAP},
            {"number": 2, "console": "c1", "product": "9999", "strapping": STRAP},
            {"number": 3, "console": "c1", "product": "0101", "strapping": [[0, 0], [10, 5], [5, 6]]},
            {"number": 4, "console": "c1", "product": "0101", "strapping": STRAP, "nozzles": ["x"]},
        ],
    )
    with pytest.raises(BadTankConfig) as info:
        parse_tanks(bad, "station.toml", frozenset({"0101"}))
    text = str(info.value)
    for part in (
        "tanks.colour: unknown key",
        "tanks.tank[0].console",
        "tanks.tank[1].product",
        "tanks.tank[2].strapping: not strictly increasing",
        "tanks.tank[3].nozzles[0]",
    ):
        assert part in text, part


def test_two_tanks_on_one_block_and_an_unknown_map() -> None:
    bad = table(
        consoles=[{"name": "c1", "url": "/tmp/t", "map": "mystery"}, {"name": "c2", "url": "/tmp/u"}],
        tank=[
            {"number": 1, "console": "c2", "unit": 0, "product": "0101", "strapping": STRAP},
            {"number": 2, "console": "c2", "unit": 0, "product": "0101", "strapping": STRAP},
        ],
    )
    with pytest.raises(BadTankConfig) as info:
        parse_tanks(bad, "station.toml", frozenset({"0101"}))
    assert "unknown register map 'mystery'" in str(info.value)
    assert "unit 0 is given to more than one tank" in str(info.value)


def test_a_map_of_ones_own() -> None:
    maps = {
        "mine": {
            "start": 10,
            "stride": 8,
            "fields": [
                {"name": "product_height_mm", "offset": 0, "type": "u32", "scale": 0.1},
                {"name": "water_height_mm", "offset": 2, "type": "u16"},
                {"name": "temperature_c", "offset": 3, "type": "s16", "scale": 0.1},
                {"name": "alarm_bits", "offset": 4},
                {"name": "probe_status", "offset": 5},
            ],
        }
    }
    cfg = parse_tanks(
        table(
            maps=maps, consoles=[{"name": "c1", "url": "/tmp/t", "map": "mine"}], tank=[table()["tank"][0]]
        ),
        "station.toml",
    )
    assert cfg.consoles[0].register_map.address(2) == 26
