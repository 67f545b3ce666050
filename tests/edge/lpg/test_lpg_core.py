"""LPG pure core: scale maps as data, fitness rules with reasons in words, the [lpg] table, CSV files."""

from __future__ import annotations

import datetime as dt

import pytest

from edge.devices.lpg.csvio import dump_csv, parse_csv
from edge.devices.lpg.errors import BadCylinderFile, BadLpgConfig
from edge.devices.lpg.fitness import FillPlan, Refusal, RefusalCode, check_fill
from edge.devices.lpg.specs import DEFAULT_SPECS, LpgSettings, parse_settings
from protocol.modbus_map import RegisterMapError
from protocol.scale_maps import (
    DEFAULT_SCALE_MAP,
    SCALE_MAPS,
    VENDOR_SCALE_MAP,
    ScaleCommand,
    scale_map_from_table,
)
from storage.lpg import CylinderRow, CylinderState

TODAY = dt.date(2026, 6, 1)
SETTINGS = LpgSettings(specs=DEFAULT_SPECS)


def cyl(**kw: object) -> CylinderRow:
    base: dict[str, object] = dict(
        barcode="C1",
        spec="YSP-15",
        tare_kg=16.2,
        manufactured_on=dt.date(2022, 1, 1),
        last_inspection=None,
        next_inspection=dt.date(2027, 1, 1),
        scrap_on=dt.date(2030, 1, 1),
    )
    base.update(kw)
    return CylinderRow(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("scale_map", [DEFAULT_SCALE_MAP, VENDOR_SCALE_MAP])
def test_scale_maps_round_trip(scale_map: object) -> None:
    m = SCALE_MAPS[scale_map.name]  # type: ignore[attr-defined]
    block = m.readings.encode({"gross_kg": 31.24, "status": 1})
    figures = m.readings.decode(block)
    assert figures["gross_kg"] == pytest.approx(31.24, abs=1e-4)
    assert figures["status"] == 1
    assert m.command_of(m.code(ScaleCommand.STOP)) is ScaleCommand.STOP


def test_scale_map_from_configuration_and_its_problems() -> None:
    table = {
        "start": 0,
        "fields": [
            {"name": "gross_kg", "offset": 0, "type": "u32", "scale": 0.001},
            {"name": "status", "offset": 2},
        ],
        "command_register": 10,
        "commands": {"tare": 1, "zero": 2, "start": 3, "stop": 4},
    }
    m = scale_map_from_table("mine", table)
    assert m.readings.decode(m.readings.encode({"gross_kg": 12.345}))["gross_kg"] == pytest.approx(12.345)
    bad = dict(table, fields=[{"name": "status", "offset": 0}], commands={"tare": 1, "start": 1})
    with pytest.raises(RegisterMapError) as info:
        scale_map_from_table("broken", bad)
    text = str(info.value)
    assert "gross_kg" in text and "zero" in text and "distinct" in text


def test_fitness_refuses_with_the_reason_in_words() -> None:
    cases = {
        RefusalCode.UNKNOWN: (None, "not in the registry"),
        RefusalCode.SCRAPPED: (cyl(state=CylinderState.SCRAPPED), "scrapped"),
        RefusalCode.OVERDUE: (cyl(next_inspection=dt.date(2026, 5, 1)), "overdue since 2026-05-01 (31 days)"),
        RefusalCode.NO_TARE: (cyl(tare_kg=None), "tare weight unknown"),
        RefusalCode.NO_SPEC: (cyl(spec="YSP-2"), "YSP-2 is not configured"),
        RefusalCode.WRONG_STATE: (cyl(state=CylinderState.AT_CUSTOMER), "at customer"),
    }
    for code, (c, words) in cases.items():
        verdict = check_fill("C1", c, SETTINGS, TODAY)
        assert isinstance(verdict, Refusal), code
        assert verdict.code is code and words in verdict.reason
    # the scrap date passing scraps the cylinder even if its state was never changed
    past_scrap = check_fill("C1", cyl(scrap_on=TODAY), SETTINGS, TODAY)
    assert isinstance(past_scrap, Refusal) and past_scrap.code is RefusalCode.SCRAPPED


def test_fitness_target_is_tare_plus_nominal() -> None:
    plan = check_fill("C1", cyl(), SETTINGS, TODAY)
    assert isinstance(plan, FillPlan)
    assert plan.target_kg == pytest.approx(16.2 + 14.5)


def test_settings_name_every_problem() -> None:
    s = parse_settings(
        {"specs": {"YSP-15": {"nominal_kg": 14.5, "tolerance_kg": 0.3}}, "design_life_years": 8}
    )
    assert s.specs["YSP-15"].tolerance_kg == 0.3
    with pytest.raises(BadLpgConfig) as info:
        parse_settings({"specs": {"A": {"tolerance_kg": -1}, "B": {"nominal_kg": "x"}}, "design_life_years": -2,
                        "colour": 1})  # fmt: skip
    problems = "\n".join(info.value.problems)
    for key in ("lpg.specs.A.nominal_kg", "lpg.specs.A.tolerance_kg", "lpg.specs.B.nominal_kg",
                "lpg.design_life_years", "lpg.colour"):  # fmt: skip
        assert key in problems


def test_csv_round_trip_and_design_life() -> None:
    text = (
        "barcode,spec,tare_kg,manufactured_on,last_inspection,next_inspection,scrap_on,owner,state\n"
        "A1,YSP-15,16.2,2020-03-01,,2026-09-01,,,\n"
        "A2,YSP-5,6.1,2019-02-28,2023-02-01,2027-02-01,,customer:7,at_customer\n"
    )
    rows = parse_csv(text, SETTINGS)
    assert rows[0].scrap_on == dt.date(2028, 3, 1)  # 8 years
    assert rows[1].scrap_on == dt.date(2031, 2, 28)  # 8 + 4 after an inspection
    assert rows[1].state is CylinderState.AT_CUSTOMER and rows[1].owner == "customer:7"
    assert parse_csv(dump_csv(rows), SETTINGS) == rows


def test_malformed_csv_is_refused_whole_naming_every_problem() -> None:
    text = (
        "barcode,spec,tare_kg,manufactured_on,next_inspection,state\n"
        "A1,YSP-15,16.2,2020-03-01,2026-09-01,\n"
        "A2,YSP-99,-3,2020-13-01,soon,lost\n"
        "A1,YSP-15,16.2,2020-03-01,2026-09-01,\n"
    )
    with pytest.raises(BadCylinderFile) as info:
        parse_csv(text, SETTINGS)
    problems = "\n".join(info.value.problems)
    for part in ("line 3: spec", "line 3: tare_kg", "line 3: manufactured_on", "line 3: next_inspection",
                 "line 3: state", "line 4: barcode: A1 appears twice"):  # fmt: skip
        assert part in problems
    with pytest.raises(BadCylinderFile, match="missing column"):
        parse_csv("barcode,spec\nA,YSP-5\n", SETTINGS)


def test_scale_maps_from_the_lpg_table() -> None:
    table = {
        "scale_maps": {
            "acme": {
                "fields": [
                    {"name": "gross_kg", "offset": 0, "type": "u32", "scale": 0.005},
                    {"name": "status", "offset": 2},
                ],
                "command_register": 7,
                "commands": {"tare": 1, "zero": 2, "start": 3, "stop": 4},
                "resolution_kg": 0.005,
            },
            "broken": {"fields": [{"name": "status", "offset": 0}], "command_register": 7},
        }
    }
    with pytest.raises(BadLpgConfig) as info:
        parse_settings(table)
    [problem] = info.value.problems
    assert problem.startswith("station.toml: lpg.scale_maps.broken:") and "gross_kg" in problem
    del table["scale_maps"]["broken"]
    s = parse_settings(table)
    assert s.scale_maps["acme"].resolution_kg == 0.005 and "station-scale-v1" in s.scale_maps
    with pytest.raises(BadLpgConfig, match=r"lpg\.scalez: unknown key"):
        parse_settings({"scalez": []})
    assert parse_settings({"scales": []}).scales == ()
