"""The multi-drop line runner: the controller polls, the addressed dispenser answers once.

Layer: firmware-sim (asyncio). Spec B1 (multi-drop)::

    controller  H 0x30 (DST = POS-P) ─▶  dispenser answers EXACTLY ONE frame:
                                          0x32 > 0x35 > 0x36 > 0x3B > 0x33/0x34 > 0x31 (N = 0 when idle)
    controller  H 0x38 / 0x3A / 0x3E ─▶  0x38 P / 0x3A P / 0x32 P or 0x3F P  (in place of a poll)
    controller  H 0x32 / 0x35 / 0x36 / 0x3C / 0x33 / 0x34 (answers) ─▶ applied, never answered

Only the dispenser whose POS-P equals the frame's DST answers; a powered-off one stays silent. An answer
echoes the frame number of the frame it answers (B2) and goes to the frame's SRC.
"""

from __future__ import annotations

import asyncio
import logging

from protocol.codec import decode_message, encode_message
from protocol.errors import ProtocolError
from protocol.frame import Frame
from protocol.messages import Direction
from station_sim.device import DeviceError
from station_sim.port import Port
from station_sim.slot import Slot

log = logging.getLogger(__name__)


class MultiDropRunner:
    def __init__(self, port: Port, slots: dict[int, Slot]) -> None:
        self.port = port
        self.slots = slots

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            async for frame in self.port.frames():
                reply = self.handle(frame)
                if reply is None:
                    continue
                delay = self.port.faults.late(reply.src, reply.command)
                if delay:
                    tg.create_task(self._late(reply, delay))
                else:
                    await self.port.send(reply, reply.src)

    def handle(self, frame: Frame) -> Frame | None:
        """The answer to one received frame, or None."""
        slot = self.slots.get(frame.dst)
        if slot is None or not slot.powered:
            return None
        try:
            msg = decode_message(frame.data, Direction.H)
        except ProtocolError as exc:
            log.warning("%s: undecodable frame to %d ignored: %s", self.port.name, frame.dst, exc)
            return None
        dev = slot.dev
        try:
            answer = dev.handle_host(msg)
        except DeviceError as exc:
            log.warning("%s: %s", self.port.name, exc)
            return None
        if answer is None:
            return None
        return Frame.make(frame.src, dev.pos_p, frame.frame_no, False, encode_message(answer))

    async def _late(self, reply: Frame, delay: float) -> None:
        await asyncio.sleep(delay)
        await self.port.send(reply, reply.src)
