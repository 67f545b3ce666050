"""The simulator's scale section: a scenario's `[[scales]]` validated with every problem named, and a
scripted scale putting the next cylinder on at each start (its overshoot, a fault switched mid-fill),
every start, fill and fault in the ledger."""

from __future__ import annotations

from typing import Any

from station_sim.scale_hall import Cylinder, ScaleScript, ScriptedScale, parse_scale_section

from protocol.scale_maps import DEFAULT_SCALE_MAP, ScaleCommand
from tests.support.waiting import wait_until


def test_every_problem_of_the_section_is_named() -> None:
    raw = [
        {"name": "S9", "rate_kg_s": 0, "colour": "red", "frozen": "yes"},
        {"name": "S1", "cylinders": [16.2, {"gross_kg": -1}, {"gross_kg": 15.0, "fault": "melted"}]},
        {"name": "S1"},
    ]
    _scripts, problems = parse_scale_section("day.toml", raw, ["S1", "S2"])
    text = "\n".join(problems)
    for words in ("scales[0].name: 'S9' is not a scale", "scales[0].rate_kg_s", "scales[0].colour: unknown key",
                  "scales[0].frozen: must be true or false", "scales[1].cylinders[1].gross_kg",
                  "scales[1].cylinders[2].fault: 'melted'", "'S1' is scripted twice"):  # fmt: skip
        assert words in text, (words, text)
    good, none = parse_scale_section("day.toml", [{"name": "S2", "cylinders": [6.1, {"gross_kg": 6.0}]}], ["S2"])
    assert none == [] and good[0].cylinders == (Cylinder(6.1), Cylinder(6.0))


async def test_the_next_cylinder_at_each_start_and_its_fault_mid_fill() -> None:
    events: list[dict[str, Any]] = []
    now = [100.0]
    script = ScaleScript("S1", rate_kg_s=10.0, overshoot_kg=0.05, noise_kg=0.0, settle_s=0.0,
                         cylinders=(Cylinder(16.2), Cylinder(15.8, overshoot_kg=0.9),
                                    Cylinder(15.9, fault="offline", after_s=0.01)))  # fmt: skip
    scale = ScriptedScale("S1", DEFAULT_SCALE_MAP, rate_kg_s=10.0, overshoot_kg=0.05, noise_kg=0.0, settle_s=0.0,
                          clock=lambda: now[0], script=script, write=events.append)  # fmt: skip
    scale.start_script()
    assert scale.gross_kg == 16.2
    reg = DEFAULT_SCALE_MAP.command_register
    for expected_start, overshoot in ((16.2, 0.05), (15.8, 0.9)):
        scale.write_registers(reg, [DEFAULT_SCALE_MAP.code(ScaleCommand.START)])
        now[0] += 1.45
        scale.write_registers(reg, [DEFAULT_SCALE_MAP.code(ScaleCommand.STOP)])
        fill = [e for e in events if e["event"] == "scale_fill"][-1]
        assert fill["start_gross_kg"] == expected_start
        assert abs(fill["final_gross_kg"] - (expected_start + 14.5 + overshoot)) < 0.011
    scale.write_registers(reg, [DEFAULT_SCALE_MAP.code(ScaleCommand.START)])
    assert not scale.unit_faults.offline
    await wait_until(lambda: scale.unit_faults.offline, 10, "the scripted fault switched on mid-fill")
    assert [e["event"] for e in events] == ["scale_start", "scale_fill", "scale_start", "scale_fill", "scale_start",
                                            "scale_fault"]  # fmt: skip
