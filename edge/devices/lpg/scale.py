"""One filling scale on a Modbus link, read and commanded through its register map.

Layer: edge (thin I/O shell). A failed exchange is a `ModbusFailure`; an answer whose registers do not
decode (NaN, short block, wrong map) is a `RegisterValueError`.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge.devices.modbus import ModbusLink
from protocol.scale_maps import ScaleCommand, ScaleMap, ScaleStatus

__all__ = ["Scale", "ScaleReading"]


@dataclass(frozen=True, slots=True)
class ScaleReading:
    gross_kg: float
    stable: bool
    valve_open: bool


class Scale:
    def __init__(self, name: str, link: ModbusLink, device_id: int, scale_map: ScaleMap) -> None:
        self.name = name
        self.link = link
        self.device_id = device_id
        self.map = scale_map
        self.reads = 0

    async def read(self) -> ScaleReading:
        m = self.map.readings
        registers = await self.link.read(m.table, m.address(0), m.size, self.device_id)
        figures = m.decode(registers)
        self.reads += 1
        status = ScaleStatus(int(figures["status"]) & 0xFF)
        gross = round(figures["gross_kg"] / self.map.resolution_kg) * self.map.resolution_kg
        return ScaleReading(round(gross, 3), ScaleStatus.STABLE in status, ScaleStatus.VALVE_OPEN in status)

    async def command(self, command: ScaleCommand) -> None:
        await self.link.write(self.map.command_register, [self.map.code(command)], self.device_id)
