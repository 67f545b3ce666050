"""Register maps as data: round trips for every value type and word order, and the two tank maps agree."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.modbus_map import (
    RegisterField,
    RegisterMap,
    RegisterMapError,
    RegisterValueError,
    ValueType,
    WordOrder,
)
from protocol.tank_maps import DEFAULT_TANK_MAP, VENDOR_TANK_MAP, ConsoleAlarm, map_from_table

RANGES = {
    ValueType.U16: st.integers(0, 0xFFFF),
    ValueType.S16: st.integers(-0x8000, 0x7FFF),
    ValueType.U32: st.integers(0, 0xFFFFFFFF),
    ValueType.S32: st.integers(-0x80000000, 0x7FFFFFFF),
}


@given(st.sampled_from(list(RANGES)), st.sampled_from(list(WordOrder)), st.data())
def test_integer_fields_round_trip(vtype: ValueType, order: WordOrder, data: st.DataObject) -> None:
    raw = data.draw(RANGES[vtype])
    f = RegisterField("x", 0, vtype, 1.0, order)
    words = f.encode(raw)
    assert len(words) == vtype.words
    assert all(0 <= w <= 0xFFFF for w in words)
    assert f.decode(words) == raw


@given(st.floats(allow_nan=False, allow_infinity=False, width=32), st.sampled_from(list(WordOrder)))
def test_float_fields_round_trip(value: float, order: WordOrder) -> None:
    f = RegisterField("x", 0, ValueType.F32, 1.0, order)
    assert f.decode(f.encode(value)) == value


def test_word_swapped_float_is_low_word_first() -> None:
    high, low = struct.unpack(">HH", struct.pack(">f", 1234.5))
    assert RegisterField("x", 0, ValueType.F32, word_order=WordOrder.SWAPPED).encode(1234.5) == [low, high]
    assert RegisterField("x", 0, ValueType.F32, word_order=WordOrder.BIG).encode(1234.5) == [high, low]
    assert RegisterField("x", 0, ValueType.F32, word_order=WordOrder.SWAPPED).decode([low, high]) == 1234.5


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_floats_are_rejected(bad: float) -> None:
    words = list(struct.unpack(">HH", struct.pack(">f", bad)))
    with pytest.raises(RegisterValueError, match="not a finite number"):
        RegisterField("height", 0, ValueType.F32).decode(words)


def test_short_block_and_out_of_range_register_are_rejected() -> None:
    with pytest.raises(RegisterValueError, match="needs"):
        DEFAULT_TANK_MAP.decode([0, 0, 0])
    with pytest.raises(RegisterValueError, match="outside"):
        RegisterField("x", 0, ValueType.U32).decode([0x10000, 0])


FIGURES = st.fixed_dictionaries(
    {
        "product_height_mm": st.integers(0, 40000).map(lambda x: x / 10),
        "water_height_mm": st.integers(0, 2000).map(lambda x: x / 10),
        "temperature_c": st.integers(-3000, 6000).map(lambda x: x / 100),
        "alarm_bits": st.integers(0, 0x7F).map(float),
        "probe_status": st.integers(0, 3).map(float),
    }
)


@given(FIGURES)
def test_both_tank_maps_decode_to_the_same_figures(figures: dict[str, float]) -> None:
    a = DEFAULT_TANK_MAP.decode(DEFAULT_TANK_MAP.encode(figures))
    b = VENDOR_TANK_MAP.decode(VENDOR_TANK_MAP.encode(figures))
    for name, value in figures.items():
        assert a[name] == pytest.approx(value, abs=0.06)
        assert b[name] == pytest.approx(value, rel=1e-6, abs=1e-3)


def test_units_are_laid_out_by_stride() -> None:
    assert VENDOR_TANK_MAP.address(0) == 0
    assert VENDOR_TANK_MAP.address(3) == 63
    assert VENDOR_TANK_MAP.size == 16
    assert DEFAULT_TANK_MAP.address(2) == 32
    with pytest.raises(RegisterMapError, match="beyond"):
        DEFAULT_TANK_MAP.address(5000)


def test_overlapping_fields_and_short_stride_are_refused() -> None:
    with pytest.raises(RegisterMapError, match="overlap"):
        RegisterMap("bad", (RegisterField("a", 0, ValueType.U32), RegisterField("b", 1, ValueType.U16)))
    with pytest.raises(RegisterMapError, match="stride"):
        RegisterMap("bad", (RegisterField("a", 0, ValueType.U32),), stride=1)


def test_map_from_table_names_every_problem() -> None:
    with pytest.raises(RegisterMapError) as info:
        map_from_table(
            "console-x",
            {
                "stride": -1,
                "table": "coils",
                "fields": [
                    {"name": "product_height_mm", "offset": 0, "type": "f64"},
                    {"name": "", "offset": 2},
                    {"name": "water_height_mm", "offset": "x"},
                ],
            },
        )
    text = str(info.value)
    for part in ("f64", "name must be", "offset must be", "stride", "table must be"):
        assert part in text


def test_map_from_table_builds_a_working_map() -> None:
    fields = [
        {
            "name": f.name,
            "offset": f.offset,
            "type": str(f.type),
            "word_order": str(f.word_order),
            "scale": f.scale,
        }
        for f in VENDOR_TANK_MAP.fields
    ]
    m = map_from_table("copy", {"start": 100, "stride": 21, "fields": fields})
    assert m.address(1) == 121
    block = m.encode({"product_height_mm": 1500.0, "alarm_bits": float(ConsoleAlarm.LEAK)})
    assert m.decode(block)["product_height_mm"] == 1500.0
    assert int(m.decode(block)["alarm_bits"]) == ConsoleAlarm.LEAK
