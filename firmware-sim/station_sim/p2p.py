"""The point-to-point line runner: the dispenser calls.

Layer: firmware-sim (asyncio). Spec B1 (point-to-point), one dispenser per line::

    every p2p_interval_ms:
      dispenser P 0x30 ─▶ controller H 0x30 (time + versions)      (no answer within the reply timeout:
      dispenser P 0x31 (no answer expected)                          try again at the next interval)
      dispenser P at most one job ─▶ its answer:
          0x32 ─▶ 0x32 H ack   0x35 ─▶ 0x35 H   0x36 ─▶ 0x36 H   0x3B ─▶ 0x3C   0x33/0x34 ─▶ 0x33/0x34 H
    at any time: controller H 0x38 / 0x3A / 0x3E ─▶ answered at once (0x38 P / 0x3A P / 0x32 P or 0x3F P)

The dispenser numbers the frames it initiates with its own counter and echoes the number of a read it
answers (B2); mismatches in the controller's answers are tolerated. An answer that comes after the
timeout is still applied — except a 0x32 ack: acks carry no POS_TTC, so one outside its reply window
could belong to an earlier send of another record; it is ignored and the record is sent again.
"""

from __future__ import annotations

import asyncio
import logging

from protocol.codec import decode_message, encode_message
from protocol.errors import ProtocolError
from protocol.frame import Frame
from protocol.messages import (
    Direction,
    DownloadInfo,
    DownloadStart,
    ErrorAck,
    ErrorInfo,
    GreyQuery,
    GreyReply,
    InfoRead,
    ListQuery,
    ListReply,
    Message,
    Poll,
    PollReply,
    RecordAck,
    RecordRead,
    RecordUpload,
    SegmentData,
    SegmentRequest,
    TotalsRead,
)
from station_sim.device import DeviceError
from station_sim.port import Port
from station_sim.slot import Slot

log = logging.getLogger(__name__)

ANSWER_TO: dict[type, type] = {
    Poll: PollReply,
    RecordUpload: RecordAck,
    GreyQuery: GreyReply,
    ListQuery: ListReply,
    ErrorInfo: ErrorAck,
    DownloadStart: DownloadInfo,
    SegmentRequest: SegmentData,
}
READS = (TotalsRead, InfoRead, RecordRead)


class PointToPointRunner:
    def __init__(
        self, port: Port, slot: Slot, controller_address: int, interval_s: float, reply_timeout_s: float
    ) -> None:
        self.port = port
        self.slot = slot
        self.controller = controller_address
        self.interval_s = interval_s
        self.reply_timeout_s = reply_timeout_s
        self._waiter: tuple[type, asyncio.Future[Message]] | None = None

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._receive(tg))
            await self._call_loop()

    async def _receive(self, tg: asyncio.TaskGroup) -> None:
        async for frame in self.port.frames():
            slot = self.slot
            dev = slot.dev
            if not slot.powered or frame.dst != dev.pos_p:
                continue
            try:
                msg = decode_message(frame.data, Direction.H)
            except ProtocolError as exc:
                log.warning("%s: undecodable frame ignored: %s", self.port.name, exc)
                continue
            try:
                if isinstance(msg, READS):
                    answer = dev.handle_host(msg)
                    if answer is not None:
                        reply = Frame.make(
                            frame.src, dev.pos_p, frame.frame_no, False, encode_message(answer)
                        )
                        delay = self.port.faults.late(dev.pos_p, reply.command)
                        if delay:
                            tg.create_task(self._late(reply, delay))
                        else:
                            await self.port.send(reply, dev.pos_p)
                    continue
                if isinstance(msg, RecordAck) and not self._waiting_for(RecordAck):
                    # Acks carry no POS_TTC: one outside its window could belong to an earlier send.
                    log.info("%s: 0x32 ack outside its reply window ignored", self.port.name)
                    continue
                if not isinstance(msg, PollReply):
                    dev.handle_host(msg)
            except DeviceError as exc:
                log.warning("%s: %s", self.port.name, exc)
                continue
            waiter = self._waiter
            if waiter is not None and isinstance(msg, waiter[0]) and not waiter[1].done():
                waiter[1].set_result(msg)

    def _waiting_for(self, kind: type) -> bool:
        return self._waiter is not None and self._waiter[0] is kind and not self._waiter[1].done()

    async def _late(self, reply: Frame, delay: float) -> None:
        await asyncio.sleep(delay)
        await self.port.send(reply, reply.src)

    async def _send(self, msg: Message) -> None:
        dev = self.slot.dev
        frame = Frame.make(self.controller, dev.pos_p, dev.next_frame_no(), False, encode_message(msg))
        await self.port.send(frame, dev.pos_p)

    async def _request(self, msg: Message) -> Message | None:
        """Send `msg` and wait for its answer (None after the reply timeout)."""
        future: asyncio.Future[Message] = asyncio.get_running_loop().create_future()
        self._waiter = (ANSWER_TO[type(msg)], future)
        try:
            await self._send(msg)
            async with asyncio.timeout(self.reply_timeout_s):
                return await future
        except TimeoutError:
            log.debug("%s: no answer to %s", self.port.name, type(msg).__name__)
            return None
        finally:
            self._waiter = None

    async def _call_loop(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            delay = next_at - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            next_at = max(next_at + self.interval_s, loop.time())
            if not self.slot.powered:
                continue
            reply = await self._request(Poll())
            if not isinstance(reply, PollReply) or not self.slot.powered:
                continue
            dev = self.slot.dev
            dev.observe_poll_reply(reply)
            await self._send(dev.realtime())
            job = dev.next_job()
            if job is not None:
                await self._request(job)
