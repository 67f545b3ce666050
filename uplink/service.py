"""The uplink service: one long-lived task that keeps the station connected to the centre.

Layer: uplink (supervision of the uplink's parts). `Uplink` is the station's centre link component
(`uplink.component.UPLINK`): `run()` is what the daemon runs under its task group; it never ends on a network or broker failure, and never stops the
dispenser lines: every failure is logged, shown in `status()`, alarmed, and retried.

    run ─┬─ connection loop (aiomqtt's reconnection style: one MqttLink per attempt)
         │     connect ─ publish retained status "online" ─ subscribe station/{id}/down
         │     ├─ OutboxPump.run(link)     queued messages, QoS 1, deleted on PUBACK
         │     ├─ LiveStatus.run(link)     coalesced nozzle status, QoS 0
         │     ├─ downlink worker          one message at a time → Downlink.handle → ack
         │     └─ link.wait_closed()       ends the session on any connection failure
         │     then back-off (exponential, jitter) and again
         ├─ Monitor.run()    outbox depth / age / drain rate, alarms
         ├─ AlarmFeed.run()  alarm rows → outbox
         └─ BusBridge.run()  bus events → outbox / pump wake-ups / live status

On cancellation (daemon stop) the station publishes the retained "offline" status itself and sends
DISCONNECT, so the Will is not needed; on a crash or a network loss the broker publishes the Will.
Connection, TLS and database failures are caught here; anything else is a bug and propagates to the
daemon's supervisor.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

from edge.core.alarms import AlarmSink
from edge.core.cancel import in_own_task, raise_if_cancelling
from edge.core.centre import JsonScalar
from edge.core.routes import EventRoutes
from edge.events import EventBus
from storage.clock import Clock, iso_instant, utc_now
from storage.db import Database
from storage.errors import StorageError
from storage.outbox import Outbox
from storage.uplink_store import UplinkStore
from uplink import payloads as p
from uplink import topics
from uplink.appliers import Appliers
from uplink.backoff import Backoff
from uplink.config import UplinkSettings
from uplink.downlink import Downlink, DownlinkLimits
from uplink.errors import LinkError, UplinkError
from uplink.feeds import AlarmFeed, BusBridge
from uplink.link import Incoming, LinkParams, MqttLink, Will
from uplink.live import LiveStatus
from uplink.messages import MessageFactory, RecordUplink
from uplink.monitor import Monitor
from uplink.params import link_params, ssl_context
from uplink.pump import OutboxPump

log = logging.getLogger(__name__)

GOODBYE_TIMEOUT_S: Final = 1.0
STABLE_SESSION_S: Final = 30.0
"""Only a connection that lasted this long resets the reconnect back-off."""


@dataclass(slots=True)
class ConnectionState:
    state: str = "starting"
    connected_since: float | None = None
    offline_since: float | None = None
    last_error: str | None = None
    connects: int = 0
    failures: int = 0
    next_retry_s: float | None = None
    session: str = ""


class Uplink:
    def __init__(
        self,
        settings: UplinkSettings,
        station: str,
        db: Database,
        *,
        appliers: Appliers | Callable[[Uplink], Appliers] = {},  # noqa: B006 - never mutated
        bus: EventBus | None = None,
        routes: EventRoutes | None = None,
        alarms: AlarmSink | None = None,
        clock: Clock = utc_now,
        software: str = "",
        link_factory: Callable[[LinkParams, Callable[[Incoming], None]], MqttLink] = MqttLink,
    ) -> None:
        self.settings = settings
        self.station = station
        self._clock = clock
        self._software = software
        self._link_factory = link_factory
        self.factory = MessageFactory(station)
        self.store = UplinkStore(db, clock=clock)
        self.outbox = Outbox(db, clock=clock)
        self.record_hook = RecordUplink(self.factory).for_result
        """Set as `Services.outbox_for_record`: a conflicting copy (B8) is queued under its own key."""
        self.pump = OutboxPump(
            self.store,
            self.outbox,
            window=settings.window,
            batch=settings.batch,
            flush_rows=settings.flush_rows,
            flush_s=settings.flush_s,
            idle_poll_s=settings.idle_poll_s,
            max_rate_per_s=settings.max_rate_per_s,
        )
        self.live = LiveStatus(station, settings.live_interval_s)
        self.alarm_feed = AlarmFeed(
            self.store, self.factory, on_queued=self.pump.wake, sweep_s=settings.alarm_sweep_s
        )
        self._bus = bus
        if bus is not None and routes is None:
            raise ValueError("an uplink on the event bus needs the event routes")
        self.bridge = (
            None
            if bus is None or routes is None
            else BusBridge(
                bus,
                routes,
                self.store,
                self.factory,
                self.live,
                wake_pump=self.pump.wake,
                wake_alarms=self.alarm_feed.wake,
            )
        )
        self.conn = ConnectionState(offline_since=time.monotonic())
        self.monitor = Monitor(
            self.store, self.pump.stats, settings, alarms=alarms, offline_for_s=self._offline_for_s
        )
        self.downlink = Downlink(
            station,
            self.store,
            self.factory,
            settings.centre_keys,
            appliers(self) if callable(appliers) else appliers,
            limits=DownlinkLimits(
                max_part_bytes=settings.max_part_bytes,
                max_document_bytes=settings.max_document_bytes,
                assembly_timeout_s=settings.assembly_timeout_s,
            ),
            clock=clock,
            on_reply=self.pump.wake,
        )
        self._tls = ssl_context(settings)
        self._link: MqttLink | None = None
        self.connected = asyncio.Event()
        """Set while a connection is up (tests and the control API wait on it)."""

    @property
    def link(self) -> MqttLink | None:
        """The connection in use (None while disconnected)."""
        return self._link

    # --- status -------------------------------------------------------------------------------------

    def _offline_for_s(self) -> float | None:
        since = self.conn.offline_since
        return None if since is None else time.monotonic() - since

    def status(self) -> dict[str, Any]:
        """Everything `station status` / the control API shows about the uplink (no I/O)."""
        c, stats, dl = self.conn, self.pump.stats, self.downlink.stats
        return {
            "state": c.state,
            "broker": self.settings.broker,
            "client_id": self.settings.client_id,
            "connected_for_s": None
            if c.connected_since is None
            else round(time.monotonic() - c.connected_since, 1),
            "offline_for_s": None if (o := self._offline_for_s()) is None else round(o, 1),
            "connects": c.connects,
            "failures": c.failures,
            "last_error": c.last_error,
            "next_retry_s": c.next_retry_s,
            "outbox": {
                **self.monitor.figures.as_dict(),
                "in_flight": stats.in_flight,
                "sent": stats.sent,
                "acked": stats.acked,
                "deleted": stats.deleted,
                "rejected": stats.rejected,
            },
            "downlink": {
                "applied": dl.applied,
                "rejected": dl.rejected,
                "by_reason": dict(dl.by_reason),
                "pending_documents": self.downlink.pending_docs,
                "last": dict(dl.last),
            },
            "live_published": self.live.published,
            "alarms": sorted(self.monitor.active),
        }

    # --- running ------------------------------------------------------------------------------------

    @property
    def name(self) -> str:
        return "uplink"

    async def view(self) -> dict[str, JsonScalar]:
        """The `edge.core.centre.CentreView`: what `station status` and the TUI show (flat scalars)."""
        status = self.status()
        outbox, downlink = status["outbox"], status["downlink"]
        return {
            "state": status["state"],
            "broker": status["broker"],
            "outbox_depth": outbox.get("depth"),
            "outbox_oldest_age_s": outbox.get("oldest_age_s"),
            "drain_rate_per_s": outbox.get("drain_rate_per_s"),
            "in_flight": outbox.get("in_flight"),
            "downlink_applied": downlink.get("applied"),
            "downlink_rejected": downlink.get("rejected"),
        }

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._connect_forever())
            tg.create_task(self.monitor.run())
            tg.create_task(self.alarm_feed.run())
            if self.bridge is not None:
                tg.create_task(self.bridge.run())

    def _status_payload(self, online: bool) -> bytes:
        return p.encode(
            p.StatusPayload(
                self.station, online, iso_instant(self._clock()), self.conn.session, self._software
            )
        )

    async def _connect_forever(self) -> None:
        backoff = Backoff(self.settings.backoff_min_s, self.settings.backoff_max_s)
        while True:
            self.conn.session = uuid.uuid4().hex[:16]
            self.conn.state = "connecting"
            self.conn.next_retry_s = None
            will = Will(topics.status(self.station), self._status_payload(False), qos=1, retain=True)
            queue: asyncio.Queue[Incoming] = asyncio.Queue()
            link = self._link_factory(link_params(self.settings, will, self._tls), queue.put_nowait)
            try:
                async with link:
                    await in_own_task(self._session(link, queue))
            except* (UplinkError, StorageError, OSError) as group:  # OSError: TLS/socket outside paho
                self._failed(group.exceptions[0])
            finally:
                self._link = None
                self.connected.clear()
                if self.conn.connected_since is not None:
                    now = time.monotonic()
                    if now - self.conn.connected_since >= STABLE_SESSION_S:
                        backoff.reset()  # a flapping broker (or a refused PUBLISH) keeps backing off
                    self.conn.offline_since = now
                self.conn.connected_since = None
            raise_if_cancelling()  # a stop that came with the session's failure (edge.core.cancel)
            delay = backoff.next()
            self.conn.state = "backoff"
            self.conn.next_retry_s = round(delay, 2)
            await asyncio.sleep(delay)

    def _failed(self, exc: BaseException) -> None:
        self.conn.failures += 1
        self.conn.last_error = str(exc)
        level = logging.WARNING if self.conn.failures <= 3 or self.conn.failures % 100 == 0 else logging.DEBUG
        log.log(level, "uplink to %s: %s (attempt %d)", self.settings.broker, exc, self.conn.failures)

    async def _session(self, link: MqttLink, queue: asyncio.Queue[Incoming]) -> None:
        await link.publish(topics.status(self.station), self._status_payload(True), qos=1, retain=True)
        await link.subscribe(topics.down(self.station), qos=1)
        self._link = link
        self.conn.state = "connected"
        self.conn.connects += 1
        self.conn.connected_since = time.monotonic()
        self.conn.offline_since = None
        self.conn.last_error = None
        self.connected.set()
        log.info(
            "uplink connected to %s as %s (session %s)",
            link.url,
            self.settings.client_id,
            "resumed" if link.session_present else "new",
        )
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self.pump.run(link))
                tg.create_task(self.live.run(link))
                tg.create_task(self._downlink_worker(link, queue))
                tg.create_task(link.wait_closed())
        except asyncio.CancelledError:
            await self._goodbye(link)
            raise

    async def _goodbye(self, link: MqttLink) -> None:
        """Daemon stop: say "offline" ourselves (retained) before the DISCONNECT."""
        with contextlib.suppress(LinkError, TimeoutError):
            async with asyncio.timeout(GOODBYE_TIMEOUT_S):
                await link.publish(
                    topics.status(self.station), self._status_payload(False), qos=1, retain=True
                )

    async def _downlink_worker(self, link: MqttLink, queue: asyncio.Queue[Incoming]) -> None:
        down = topics.down(self.station)
        while True:
            deadline = self.downlink.next_deadline()
            try:
                async with asyncio.timeout_at(None if deadline is None else _loop_time(deadline)):
                    message = await queue.get()
            except TimeoutError:
                await self.downlink.expire(down)
                continue
            if message.topic == down:
                await self.downlink.handle(message.topic, message.payload)
            else:  # pragma: no cover - we subscribe to nothing else
                log.warning("uplink: message on unexpected topic %s ignored", message.topic)
            link.ack(message)


def _loop_time(monotonic_deadline: float) -> float:
    """Convert a time.monotonic() deadline to the event loop's clock."""
    loop = asyncio.get_running_loop()
    return loop.time() + (monotonic_deadline - time.monotonic())
