"""Multi-drop line driver: the controller polls every dispenser on an RS-485 bus in turn. [B1]

Layer: edge (asyncio driver around `DispenserSession`).

    for each dispenser (offline ones only every `offline_poll_interval_s`):
        send H 0x30 (or a queued 0x38 / 0x3A / 0x3E, which takes the place of a poll)
        wait for exactly one answer from that address (reply timeout)
        answer a request at once (0x32 ack, 0x35, 0x36, 0x33/0x34, 0x3C) and poll the same
        dispenser again, at most `MAX_EXTRA_POLLS` times, while it still has something to say

Visits are paced (`edge.pacing`): a cycle lasts at least the line's `poll_cycle_ms`, no dispenser is
visited more often than `min_poll_interval_ms`, and a busy dispenser is visited again in the time the
cycle has left.

A record's ack is written only after `DispenserSession.handle()` returned, i.e. after the journal
committed it.
"""

from __future__ import annotations

import asyncio
import logging
import time

from edge.config import LineConfig
from edge.framed import FramedLine, Incoming
from edge.pacing import Pacing
from edge.session import DispenserSession, RecordNotStored
from protocol.messages import Message, NozzleInfo, PollReply

log = logging.getLogger(__name__)

MAX_EXTRA_POLLS = 4
STALE_ANSWER_GRACE = 2


class MultiDropDriver:
    """Polls the dispensers of one bus."""

    def __init__(self, config: LineConfig, line: FramedLine, sessions: list[DispenserSession]) -> None:
        self.config = config
        self.line = line
        self.sessions = sessions
        self.reply_timeout_s = config.effective_reply_timeout_s()
        self.cycle_started = 0.0
        self.pacing = Pacing.from_ms(config.poll_cycle_ms, config.min_poll_interval_ms)
        self._last_visit: dict[int, float] = {}
        self._busy: set[int] = set()

    async def run(self) -> None:
        first = True
        while True:
            started = time.monotonic()
            polled = 0
            for session in self.sessions:
                now = time.monotonic()
                if not session.online and session.misses >= self.config.offline_after:
                    if now < session.next_offline_poll:
                        continue
                    session.next_offline_poll = now + self.config.offline_poll_interval_s
                await self.visit(session)
                if first:
                    first = False
                    log.info("line %s: first poll cycle started", self.config.name)
                polled += 1
                session.tick()
            if polled == 0:
                # Every dispenser is offline and none is due: wait for the earliest retry.
                due = min(s.next_offline_poll for s in self.sessions)
                await self.line.receive(max(0.0, due - time.monotonic()))
                continue
            await self._fill_cycle(started)
            self._cycle_done(started)

    async def visit(self, session: DispenserSession) -> None:
        """Serve `session` once its minimum interval since the previous visit has passed."""
        due = self.pacing.earliest(self._last_visit.get(session.pos_p))
        wait = due - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self._last_visit[session.pos_p] = max(time.monotonic(), due)
        if await self.serve(session):
            self._busy.add(session.pos_p)
        else:
            self._busy.discard(session.pos_p)

    async def _fill_cycle(self, started: float) -> None:
        """Until the target cycle is over: visit busy dispensers whose interval has passed, else wait."""
        if not self.pacing.paced:
            return
        while True:
            busy = [s for s in self.sessions if s.online and s.pos_p in self._busy]
            due = {s.pos_p: self.pacing.earliest(self._last_visit.get(s.pos_p)) for s in busy}
            now = time.monotonic()
            wake = self.pacing.next_wake(now, started, due.values())
            if wake is None:
                return
            ready = [s for s in busy if due[s.pos_p] <= now]
            if not ready:
                await asyncio.sleep(wake - now)
                continue
            for session in ready:
                await self.visit(session)
                session.tick()

    def _cycle_done(self, started: float) -> None:
        stats = self.line.stats
        took_ms = (time.monotonic() - started) * 1000
        stats.poll_cycles += 1
        stats.last_cycle_ms = round(took_ms, 2)
        stats.avg_cycle_ms = (
            round(stats.avg_cycle_ms * 0.9 + took_ms * 0.1, 2) if stats.avg_cycle_ms else took_ms
        )

    async def serve(self, session: DispenserSession) -> bool:
        """One poll of `session`, plus the follow-ups its answers call for. Returns whether the
        dispenser is busy: it reported something, or reads for it are still queued."""
        for _ in range(1 + MAX_EXTRA_POLLS):
            request: Message = session.next_read() or session.poll_reply()
            answer = await self.exchange(session, request)
            if answer is None:
                if not isinstance(request, PollReply):
                    session.request_read(request)  # try the read again on a later poll
                return False
            message = answer.message
            try:
                reply = await session.handle(message, answer.frame.data)
            except RecordNotStored:
                return False  # no ack: the dispenser keeps the record and sends it again
            if reply is not None:
                await self.line.send(
                    session.pos_p, reply, answer.frame.frame_no, answering=answer.received_at
                )
            await session.after_reply()
            if isinstance(message, NozzleInfo):
                return bool(message.entries or session.reads)
            if reply is None and not session.reads:
                return True
        return True

    async def exchange(self, session: DispenserSession, request: Message) -> Incoming | None:
        """Send `request` to the dispenser and wait for its one answer."""
        stale = self.line.discard_pending()
        if stale:
            log.debug("%s: discarded %d late answers", self.config.name, stale)
        sent_at = await self.line.send(session.pos_p, request)
        self.line.stats.polls += 1
        deadline = sent_at + self.reply_timeout_s
        while True:
            remaining = deadline - time.monotonic()
            answer = await self.line.receive(remaining) if remaining > 0 else None
            if answer is None:
                self.line.stats.timeouts += 1
                await session.missed()
                return None
            if answer.frame.src != session.pos_p:
                log.warning(
                    "%s: answer from %#04x while polling %#04x; ignored",
                    self.config.name,
                    answer.frame.src,
                    session.pos_p,
                )
                continue
            await session.answered(answer.received_at)
            return answer
