"""Modbus links for field devices (tank consoles, filling scales): RTU on a serial line, or TCP.

Layer: edge (I/O shell around `pymodbus`). One `ModbusLink` per physical line or TCP endpoint; the
devices on an RTU bus (different device ids) share it, and its lock keeps one request on the wire at a
time. Every failure is a typed `ModbusFailure`: no answer (`ModbusTimeout`), a Modbus exception answer
(`ModbusExceptionReply`, with its code), or an answer that does not decode (`ModbusBadAnswer`). A reply
from another device id, or with a bad CRC, is dropped by the RTU framer and so surfaces as a timeout.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.exceptions import ModbusException

from edge.devices.prioritylock import PriorityLock
from edge.errors import EdgeError
from protocol.modbus_map import RegisterTable

log = logging.getLogger(__name__)

MAX_REGISTERS_PER_READ = 125
"""The Modbus limit for one read of holding/input registers."""

logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
"""pymodbus logs every missed answer as an error with a frame dump; the link reports them itself."""


def _raise_if_cancelling() -> None:
    """pymodbus waits with `asyncio.wait_for`, which on Python 3.11 can swallow a cancellation that
    arrives as the answer does: a task being cancelled stops here, whatever pymodbus returned."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


class ModbusFailure(EdgeError):
    """Root of the errors of a Modbus exchange."""

    def __init__(self, message: str, link: str, device_id: int) -> None:
        super().__init__(f"{link} device {device_id}: {message}")
        self.link = link
        self.device_id = device_id


class ModbusTimeout(ModbusFailure):
    """No (valid) answer within the timeout."""


class ModbusExceptionReply(ModbusFailure):
    """The device answered with a Modbus exception."""

    def __init__(self, link: str, device_id: int, code: int) -> None:
        super().__init__(f"Modbus exception {code}", link, device_id)
        self.code = code


class ModbusBadAnswer(ModbusFailure):
    """The answer does not have the registers that were asked for."""


@dataclass(frozen=True, slots=True)
class LinkSettings:
    url: str
    """A serial path (RTU) or `socket://host:port` (Modbus TCP)."""
    baud: int = 9600
    parity: str = "N"
    stop_bits: int = 1
    timeout_s: float = 0.5


class ModbusLink:
    """One RTU line or TCP endpoint, shared by the devices on it."""

    def __init__(self, settings: LinkSettings) -> None:
        self.settings = settings
        self._lock = PriorityLock()
        self._client: AsyncModbusSerialClient | AsyncModbusTcpClient | None = None
        self.requests = 0
        self.failures = 0

    @property
    def name(self) -> str:
        return self.settings.url

    def _make_client(self) -> AsyncModbusSerialClient | AsyncModbusTcpClient:
        s = self.settings
        if s.url.startswith("socket://"):
            host, _, port = s.url.removeprefix("socket://").rpartition(":")
            return AsyncModbusTcpClient(
                host or "127.0.0.1", port=int(port), timeout=s.timeout_s, retries=0, reconnect_delay=0
            )
        return AsyncModbusSerialClient(
            s.url,
            baudrate=s.baud,
            parity=s.parity,
            stopbits=s.stop_bits,
            timeout=s.timeout_s,
            retries=0,
            reconnect_delay=0,
        )

    async def _connected(self, device_id: int) -> AsyncModbusSerialClient | AsyncModbusTcpClient:
        if self._client is not None and self._client.connected:
            return self._client
        if self._client is not None:
            self._client.close()
        self._client = self._make_client()
        if not await self._client.connect():
            self._client.close()
            self._client = None
            raise ModbusTimeout("cannot open the link", self.name, device_id)
        return self._client

    async def read(self, table: RegisterTable, address: int, count: int, device_id: int) -> list[int]:
        """`count` registers from `address` of `device_id`; raises a `ModbusFailure`."""
        if not 1 <= count <= MAX_REGISTERS_PER_READ:
            raise ModbusBadAnswer(f"cannot read {count} registers at once", self.name, device_id)
        async with self._lock.hold(priority=1):
            self.requests += 1
            try:
                client = await self._connected(device_id)
                if table is RegisterTable.INPUT:
                    reply = await client.read_input_registers(address, count=count, device_id=device_id)
                else:
                    reply = await client.read_holding_registers(address, count=count, device_id=device_id)
            except ModbusException as exc:
                _raise_if_cancelling()
                self.failures += 1
                raise ModbusTimeout(str(exc).strip() or "no answer", self.name, device_id) from exc
            except OSError as exc:
                self.failures += 1
                self.close()
                raise ModbusTimeout(f"line error: {exc}", self.name, device_id) from exc
        _raise_if_cancelling()
        if reply.isError():
            self.failures += 1
            raise ModbusExceptionReply(self.name, device_id, int(getattr(reply, "exception_code", 0)))
        registers = list(getattr(reply, "registers", []) or [])
        if len(registers) != count:
            self.failures += 1
            raise ModbusBadAnswer(f"asked {count} registers, got {len(registers)}", self.name, device_id)
        return registers

    async def write(self, address: int, values: list[int], device_id: int) -> None:
        """Write holding registers (commands of a scale); raises a `ModbusFailure`. A write takes the line
        before the reads queued for it (a stop command must not wait behind the other devices' polls)."""
        async with self._lock.hold(priority=0):
            self.requests += 1
            try:
                client = await self._connected(device_id)
                if len(values) == 1:
                    reply = await client.write_register(address, values[0], device_id=device_id)
                else:
                    reply = await client.write_registers(address, values, device_id=device_id)
            except ModbusException as exc:
                _raise_if_cancelling()
                self.failures += 1
                raise ModbusTimeout(str(exc).strip() or "no answer", self.name, device_id) from exc
            except OSError as exc:
                self.failures += 1
                self.close()
                raise ModbusTimeout(f"line error: {exc}", self.name, device_id) from exc
        _raise_if_cancelling()
        if reply.isError():
            self.failures += 1
            raise ModbusExceptionReply(self.name, device_id, int(getattr(reply, "exception_code", 0)))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
