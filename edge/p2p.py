"""Point-to-point line driver: one dispenser per line, and the dispenser is the caller. [B1]

Layer: edge (asyncio driver around `DispenserSession`).

    dispenser: 0x30 ─▶ controller: rich 0x30 reply, then at most one queued read (0x38/0x3A/0x3E)
    dispenser: 0x31 (no answer) and at most one job (0x32, 0x35, 0x36, 0x3B, 0x33/0x34)
    controller: answers the job at once (a 0x32 only after the journal committed it)

The controller never talks first except right after its 0x30 reply. A dispenser that has not called
for `reply timeout` counts a miss; `offline_after` misses in a row make it offline.
"""

from __future__ import annotations

import logging
import time

from edge.config import LineConfig
from edge.framed import FramedLine
from edge.session import DispenserSession, RecordNotStored
from protocol.messages import Poll

log = logging.getLogger(__name__)


class PointToPointDriver:
    """Answers the calls of the one dispenser on a line."""

    def __init__(self, config: LineConfig, line: FramedLine, session: DispenserSession) -> None:
        self.config = config
        self.line = line
        self.session = session
        self.reply_timeout_s = config.effective_reply_timeout_s()
        self._last_poll = 0.0

    async def run(self) -> None:
        session = self.session
        while True:
            incoming = await self.line.receive(self.reply_timeout_s)
            if incoming is None:
                self.line.stats.timeouts += 1
                await session.missed()
                session.tick()
                continue
            if incoming.frame.src != session.pos_p:
                log.warning(
                    "%s: frame from %#04x, expected dispenser %#04x; answered anyway",
                    self.config.name,
                    incoming.frame.src,
                    session.pos_p,
                )
            await session.answered(incoming.received_at)
            message = incoming.message
            try:
                reply = await session.handle(message, incoming.frame.data)
            except RecordNotStored:
                continue
            if reply is not None:
                await self.line.send(
                    incoming.frame.src, reply, incoming.frame.frame_no, answering=incoming.received_at
                )
            await session.after_reply()
            if isinstance(message, Poll):
                self._poll_seen()
                read = session.next_read()
                if read is not None:
                    await self.line.send(incoming.frame.src, read)
            session.tick()

    def _poll_seen(self) -> None:
        now = time.monotonic()
        stats = self.line.stats
        stats.polls += 1
        if self._last_poll:
            took_ms = (now - self._last_poll) * 1000
            stats.poll_cycles += 1
            stats.last_cycle_ms = round(took_ms, 2)
            stats.avg_cycle_ms = (
                round(stats.avg_cycle_ms * 0.9 + took_ms * 0.1, 2) if stats.avg_cycle_ms else took_ms
            )
        self._last_poll = now
