"""Tank console register maps: the documented default and one vendor-style map.

Layer: protocol (pure). Every map yields the same named figures, so the tank component never knows
which console it reads:

    product_height_mm   product (fuel) level above the tank bottom, mm
    water_height_mm     water at the bottom, mm
    temperature_c       average product temperature, °C
    alarm_bits          the console's own alarm bits (see `ConsoleAlarm`)
    probe_status        0 = probe healthy, anything else = probe error / out

Default map `station-v1` (input registers, 16 per tank from register 0, integers):

    off  type  scale  field
    0    u16   1      probe_status
    1    u16   1      alarm_bits
    2    u32   0.1    product_height_mm   (0.1 mm)
    4    u32   0.1    water_height_mm     (0.1 mm)
    6    s16   0.01   temperature_c       (0.01 °C)
    7..15              reserved (0)

Vendor-style map `tls-float-swapped` (input registers, 21 per tank from register 0, IEEE-754 floats
sent low word first — "word-swapped", CD AB — as several Chinese TLS-compatible consoles do):

    off  type  field                 off  type  field
    0    f32   volume_l              10   f32   temperature_c
    2    f32   tc_volume_l           12   f32   water_volume_l
    4    f32   ullage_l              14   u16   alarm_bits
    6    f32   product_height_mm     15   u16   probe_status
    8    f32   water_height_mm       16..20     reserved

The console's own volumes (vendor map) are informative: the controller computes volumes from its own
strapping table so that every console is reconciled the same way.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import IntFlag
from typing import Any

from protocol.modbus_map import (
    RegisterField,
    RegisterMap,
    RegisterMapError,
    RegisterTable,
    ValueType,
    WordOrder,
)

__all__ = [
    "DEFAULT_TANK_MAP",
    "REQUIRED_FIGURES",
    "TANK_MAPS",
    "VENDOR_TANK_MAP",
    "ConsoleAlarm",
    "map_from_table",
]

REQUIRED_FIGURES = ("product_height_mm", "water_height_mm", "temperature_c", "alarm_bits", "probe_status")


class ConsoleAlarm(IntFlag):
    """Alarm bits a console raises on its own (both maps use the same bits)."""

    LEAK = 0x01
    HIGH_WATER = 0x02
    OVERFILL = 0x04
    LOW_PRODUCT = 0x08
    SUDDEN_LOSS = 0x10
    HIGH_PRODUCT = 0x20
    PROBE_OUT = 0x40


DEFAULT_TANK_MAP = RegisterMap(
    name="station-v1",
    start=0,
    stride=16,
    table=RegisterTable.INPUT,
    fields=(
        RegisterField("probe_status", 0, ValueType.U16),
        RegisterField("alarm_bits", 1, ValueType.U16),
        RegisterField("product_height_mm", 2, ValueType.U32, 0.1),
        RegisterField("water_height_mm", 4, ValueType.U32, 0.1),
        RegisterField("temperature_c", 6, ValueType.S16, 0.01),
    ),
)

_SW = WordOrder.SWAPPED
VENDOR_TANK_MAP = RegisterMap(
    name="tls-float-swapped",
    start=0,
    stride=21,
    table=RegisterTable.INPUT,
    fields=(
        RegisterField("volume_l", 0, ValueType.F32, word_order=_SW),
        RegisterField("tc_volume_l", 2, ValueType.F32, word_order=_SW),
        RegisterField("ullage_l", 4, ValueType.F32, word_order=_SW),
        RegisterField("product_height_mm", 6, ValueType.F32, word_order=_SW),
        RegisterField("water_height_mm", 8, ValueType.F32, word_order=_SW),
        RegisterField("temperature_c", 10, ValueType.F32, word_order=_SW),
        RegisterField("water_volume_l", 12, ValueType.F32, word_order=_SW),
        RegisterField("alarm_bits", 14, ValueType.U16),
        RegisterField("probe_status", 15, ValueType.U16),
    ),
)

TANK_MAPS: dict[str, RegisterMap] = {m.name: m for m in (DEFAULT_TANK_MAP, VENDOR_TANK_MAP)}


def map_from_table(name: str, table: Mapping[str, Any]) -> RegisterMap:
    """A register map from a configuration table; raises `RegisterMapError` naming every problem.

    ```toml
    [tank_maps.my-console]
    start = 100
    stride = 21
    table = "holding"
    fields = [
      { name = "product_height_mm", offset = 6, type = "f32", word_order = "swapped" },
      ...
    ]
    ```
    """
    problems: list[str] = []
    raw_fields = table.get("fields")
    fields: list[RegisterField] = []
    if not isinstance(raw_fields, list) or not raw_fields:
        problems.append("fields must be a non-empty list of tables")
        raw_fields = []
    for i, item in enumerate(raw_fields):
        where = f"fields[{i}]"
        if not isinstance(item, Mapping):
            problems.append(f"{where} must be a table")
            continue
        unknown = set(item) - {"name", "offset", "type", "scale", "word_order"}
        if unknown:
            problems.append(f"{where}: unknown keys {sorted(unknown)}")
        fname, offset = item.get("name"), item.get("offset")
        if not isinstance(fname, str) or not fname:
            problems.append(f"{where}.name must be a non-empty string")
            continue
        if type(offset) is not int:
            problems.append(f"{where}.offset must be an integer")
            continue
        try:
            vtype = ValueType(item.get("type", "u16"))
            order = WordOrder(item.get("word_order", "big"))
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        scale = item.get("scale", 1.0)
        if type(scale) not in (int, float):
            problems.append(f"{where}.scale must be a number")
            continue
        fields.append(RegisterField(fname, offset, vtype, float(scale), order))
    start, stride = table.get("start", 0), table.get("stride", 0)
    if type(start) is not int or type(stride) is not int or stride < 0:
        problems.append("start and stride must be non-negative integers")
        start, stride = 0, 0
    try:
        reg_table = RegisterTable(table.get("table", "input"))
    except ValueError:
        problems.append("table must be 'input' or 'holding'")
        reg_table = RegisterTable.INPUT
    missing = [f for f in REQUIRED_FIGURES if f not in {x.name for x in fields}]
    if fields and missing:
        problems.append(f"missing figures {missing}")
    if problems:
        raise RegisterMapError(f"register map {name!r}: " + "; ".join(problems))
    return RegisterMap(name=name, fields=tuple(fields), start=start, stride=stride, table=reg_table)
