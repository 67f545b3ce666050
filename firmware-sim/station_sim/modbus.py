"""Simulated Modbus field devices (tank consoles, filling scales): a pymodbus server per link.

Layer: firmware-sim (asyncio). A link is either TCP (`socket://127.0.0.1:PORT`, pymodbus TCP server) or
a serial line. On a pty (the simulator's usual virtual line) pymodbus needs a serial port path of its
own, so the link is a null modem built from two pty pairs, with the bytes copied between the masters:

    daemon ── opens ──▶ LINK (symlink to pty A's slave)
                         pty A master ◀── bridge (wire time at the line's baud) ──▶ pty B master
    pymodbus RTU server ── opens ──▶ pty B's slave

Each device on the link answers as one Modbus unit (device id); its registers are computed on every
request by a `RegisterSource` (the tank or scale model), so what the daemon reads is always the model's
state at that moment. Faults: a unit that stops answering (`offline`), answers with a Modbus exception,
or whose answer is replaced by garbage bytes (checked by the daemon's CRC) — see `UnitFaults`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import termios
import tty
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimAction, SimData, SimDevice

from station_sim.transport import PtyTransport

log = logging.getLogger(__name__)

BLOCK_REGISTERS = 4096
"""Registers each simulated unit exposes from address 0 (more than any map needs)."""


class RegisterSource(Protocol):
    """A device model seen as registers."""

    def read_registers(self, address: int, count: int) -> list[int]: ...

    def write_registers(self, address: int, values: Sequence[int]) -> None: ...


@dataclass
class UnitFaults:
    offline: bool = False
    exception: bool = False
    garbage: bool = False
    wrong_address: bool = False
    """Answer as if the device had another address (RTU: id + 1, CRC recomputed)."""


@dataclass
class Unit:
    device_id: int
    source: RegisterSource
    faults: UnitFaults = field(default_factory=UnitFaults)
    reads: int = 0


def _crc16_modbus(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def _byte_s(baud: int) -> float:
    return 10.0 / baud


class ModbusLink:
    """One simulated Modbus line (RTU over a pty or serial path) or TCP endpoint with its units."""

    def __init__(self, url: str, units: Sequence[Unit], *, baud: int = 9600, wire_time: bool = False) -> None:
        self.url = url
        self.units = {u.device_id: u for u in units}
        self.baud = baud
        self.wire_time = wire_time
        self._server: ModbusSerialServer | ModbusTcpServer | None = None
        self._serve_task: asyncio.Task[None] | None = None
        self._link: PtyTransport | None = None
        self._inner_master = -1
        self._inner_slave = -1
        self._bridge_tasks: list[asyncio.Task[None]] = []
        self._to_server: asyncio.Queue[bytes] = asyncio.Queue()

    def _devices(self) -> list[SimDevice]:
        devices = []
        for unit in self.units.values():
            devices.append(
                SimDevice(
                    id=unit.device_id,
                    simdata=[SimData(0, count=BLOCK_REGISTERS, values=0, datatype=DataType.REGISTERS)],
                    action=self._action_for(unit),
                )
            )
        return devices

    def _action_for(self, unit: Unit) -> SimAction:
        async def action(
            func_code: int,
            start_address: int,
            address: int,
            count: int,
            registers: list[int],
            values: list[int] | list[bool] | None,
        ) -> ExcCodes | None:
            if unit.faults.exception:
                return ExcCodes.DEVICE_FAILURE
            offset = address - start_address
            if values is not None and func_code in (6, 16):
                unit.source.write_registers(address, [int(v) for v in values])
                return None
            try:
                fresh = unit.source.read_registers(address, count)
            except (IndexError, ValueError):
                return ExcCodes.ILLEGAL_ADDRESS
            registers[offset : offset + count] = fresh
            unit.reads += 1
            return None

        return action

    def _trace_packet(self, sending: bool, data: bytes) -> bytes:
        if not sending or len(data) < 1:
            return data
        unit = self.units.get(data[0]) if not self.url.startswith("socket://") else None
        if self.url.startswith("socket://") and len(data) > 6:
            unit = self.units.get(data[6])
        if unit is None:
            # On a shared RTU bus a device that is not there does not answer at all.
            return data if self.url.startswith("socket://") else b""
        if unit.faults.offline:
            return b""
        if unit.faults.garbage:
            return bytes((b ^ 0x5A) for b in data)
        if unit.faults.wrong_address and not self.url.startswith("socket://") and len(data) > 3:
            body = bytes(((data[0] + 1) & 0xFF,)) + data[1:-2]
            return body + _crc16_modbus(body).to_bytes(2, "little")
        return data

    async def start(self) -> None:
        if self.url.startswith("socket://"):
            host, _, port = self.url.removeprefix("socket://").rpartition(":")
            self._server = ModbusTcpServer(
                self._devices(),
                address=(host or "127.0.0.1", int(port)),
                trace_packet=self._trace_packet,
                ignore_missing_devices=True,
            )
        else:
            inner = self._open_inner_pty()
            self._link = PtyTransport(Path(self.url))
            self._link.open()
            self._server = ModbusSerialServer(
                self._devices(),
                port=inner,
                baudrate=self.baud,
                trace_packet=self._trace_packet,
                ignore_missing_devices=True,
            )
            loop = asyncio.get_running_loop()
            loop.add_reader(self._inner_master, self._on_server_bytes)
            self._bridge_tasks.append(asyncio.create_task(self._daemon_to_server()))
            self._bridge_tasks.append(asyncio.create_task(self._server_to_daemon()))
        self._serve_task = asyncio.create_task(self._server.serve_forever())
        log.info("modbus link %s: units %s", self.url, sorted(self.units))

    def _open_inner_pty(self) -> str:
        master, slave = os.openpty()
        tty.setraw(slave)
        attrs = termios.tcgetattr(slave)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(slave, termios.TCSANOW, attrs)
        os.set_blocking(master, False)
        self._inner_master, self._inner_slave = master, slave
        return os.ttyname(slave)

    def _on_server_bytes(self) -> None:
        try:
            data = os.read(self._inner_master, 4096)
        except (BlockingIOError, OSError):
            return
        if data:
            self._to_server.put_nowait(data)

    async def _daemon_to_server(self) -> None:
        assert self._link is not None
        loop = asyncio.get_running_loop()
        while True:
            data = await self._link.read()
            if self.wire_time:
                await asyncio.sleep(len(data) * _byte_s(self.baud))
            view = memoryview(data)
            while view:
                try:
                    n = os.write(self._inner_master, view)
                    view = view[n:]
                except BlockingIOError:
                    await asyncio.sleep(0.001)
                if loop.is_closed():
                    return

    async def _server_to_daemon(self) -> None:
        assert self._link is not None
        while True:
            data = await self._to_server.get()
            if self.wire_time:
                await asyncio.sleep(len(data) * _byte_s(self.baud))
            await self._link.write(data)

    async def stop(self) -> None:
        for task in self._bridge_tasks:
            task.cancel()
        for task in self._bridge_tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._bridge_tasks.clear()
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.shutdown()  # type: ignore[no-untyped-call]
        if self._serve_task is not None:
            self._serve_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._serve_task
        if self._inner_master >= 0:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._inner_master)
            os.close(self._inner_master)
            os.close(self._inner_slave)
            self._inner_master = self._inner_slave = -1
        if self._link is not None:
            await self._link.close()
            self._link = None
