"""The Modbus link of field devices against the simulator's pymodbus server: RTU over a pty null modem
and Modbus TCP; exceptions, silence and garbage become typed failures; the link recovers."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from station_sim.modbus import ModbusLink as SimLink
from station_sim.modbus import Unit

from edge.devices.modbus import (
    LinkSettings,
    ModbusExceptionReply,
    ModbusLink,
    ModbusTimeout,
)
from protocol.modbus_map import RegisterTable


class Counter:
    """Registers equal to their address (plus a writable offset)."""

    def __init__(self) -> None:
        self.offset = 0
        self.writes: list[tuple[int, list[int]]] = []

    def read_registers(self, address: int, count: int) -> list[int]:
        return [(address + i + self.offset) & 0xFFFF for i in range(count)]

    def write_registers(self, address: int, values: Sequence[int]) -> None:
        self.writes.append((address, list(values)))
        self.offset = values[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _rig(url: str) -> AsyncIterator[tuple[SimLink, ModbusLink, Unit]]:
    unit = Unit(5, Counter())
    sim = SimLink(url, [unit], baud=19200)
    await sim.start()
    link = ModbusLink(LinkSettings(url, baud=19200, timeout_s=0.3))
    try:
        yield sim, link, unit
    finally:
        link.close()
        await sim.stop()


@pytest.fixture(params=["rtu", "tcp"])
async def rig(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[SimLink, ModbusLink, Unit]]:
    url = str(tmp_path / "console") if request.param == "rtu" else f"socket://127.0.0.1:{free_port()}"
    async for parts in _rig(url):
        yield parts


@pytest.fixture
async def rtu_rig(tmp_path: Path) -> AsyncIterator[tuple[SimLink, ModbusLink, Unit]]:
    async for parts in _rig(str(tmp_path / "console")):
        yield parts


async def read_with_retry(link: ModbusLink, address: int, count: int, device: int) -> list[int]:
    """The first read may race the server's start (TCP listen): a bounded retry loop, no sleep."""
    last: Exception | None = None
    for _ in range(20):
        try:
            return await link.read(RegisterTable.INPUT, address, count, device)
        except ModbusTimeout as exc:
            last = exc
    raise AssertionError(f"no answer: {last}")


async def test_reads_and_writes(rig: tuple[SimLink, ModbusLink, Unit]) -> None:
    _, link, unit = rig
    assert await read_with_retry(link, 100, 16, 5) == list(range(100, 116))
    assert await link.read(RegisterTable.HOLDING, 7, 3, 5) == [7, 8, 9]
    await link.write(40, [1000], 5)
    assert isinstance(unit.source, Counter)
    assert unit.source.writes == [(40, [1000])]
    assert await link.read(RegisterTable.INPUT, 0, 2, 5) == [1000, 1001]


async def test_faults_are_typed_and_the_link_recovers(rig: tuple[SimLink, ModbusLink, Unit]) -> None:
    _, link, unit = rig
    await read_with_retry(link, 0, 1, 5)
    unit.faults.exception = True
    with pytest.raises(ModbusExceptionReply) as exc_info:
        await link.read(RegisterTable.INPUT, 0, 4, 5)
    assert exc_info.value.code == 4
    unit.faults.exception = False
    unit.faults.offline = True
    with pytest.raises(ModbusTimeout):
        await link.read(RegisterTable.INPUT, 0, 4, 5)
    unit.faults.offline = False
    unit.faults.garbage = True
    with pytest.raises(ModbusTimeout):
        await link.read(RegisterTable.INPUT, 0, 4, 5)
    unit.faults.garbage = False
    assert await read_with_retry(link, 3, 2, 5) == [3, 4]
    assert link.failures >= 3


async def test_another_device_id_does_not_answer_on_an_rtu_bus(
    rtu_rig: tuple[SimLink, ModbusLink, Unit],
) -> None:
    _, link, _ = rtu_rig
    await read_with_retry(link, 0, 1, 5)
    with pytest.raises(ModbusTimeout):
        await link.read(RegisterTable.INPUT, 0, 4, 9)


async def test_too_many_registers_are_refused_before_the_wire(rig: tuple[SimLink, ModbusLink, Unit]) -> None:
    _, link, _ = rig
    with pytest.raises(Exception, match="cannot read 200 registers"):
        await link.read(RegisterTable.INPUT, 0, 200, 5)


async def test_an_answer_from_another_address_is_not_taken(rtu_rig: tuple[SimLink, ModbusLink, Unit]) -> None:
    _, link, unit = rtu_rig
    await read_with_retry(link, 0, 1, 5)
    unit.faults.wrong_address = True
    with pytest.raises(ModbusTimeout):
        await link.read(RegisterTable.INPUT, 0, 4, 5)
    unit.faults.wrong_address = False
    assert await read_with_retry(link, 0, 2, 5) == [0, 1]
