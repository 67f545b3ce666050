"""The controller daemon: wiring and supervision.

Layer: edge (top-level supervisor). One process owns the serial lines and the database:

    config ─▶ Database/Journal/Alarms ─▶ ListStore ─▶ Catalog + Authority
           └▶ per line: open_line() ─▶ FramedLine ─▶ MultiDropDriver | PointToPointDriver
                                         └─ DispenserSession per dispenser (state, persist-then-ack)
           └▶ EventBus ─▶ (control API, uplink: subscribers)

A line whose device fails is reopened with back-off while the others keep running; every failed
attempt counts as a missed poll of each of its dispensers, so they go offline like dispensers that
stop answering (`offline_after`) and come back at their first answer. SIGTERM or
SIGINT stop everything cleanly: drivers are cancelled between frames, the database is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import re
import signal
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

from edge.clock_guard import ClockGuard, clock_task, newest_stored_instant
from edge.config import Config, LineConfig, LineMode
from edge.control.convert import alarm_action
from edge.control.dayclose import DayCloseService, day_close_task
from edge.control.server import control_task
from edge.events import AlarmCleared, AlarmRaised, EventBus
from edge.framed import FramedLine
from edge.housekeeping import housekeeping_task
from edge.loadprobe import LoadStats, format_report, watch_loop_lag
from edge.multidrop import MultiDropDriver
from edge.p2p import PointToPointDriver
from edge.record_integrity import check_at_start, integrity_task
from edge.rules_runtime import open_rules
from edge.session import DispenserSession, Services
from edge.transport import TransportError, open_line
from storage.alarms import Alarms
from storage.db import Database
from storage.journal import Journal
from storage.lists import ListStore

log = logging.getLogger(__name__)

REOPEN_BACKOFF_MIN_S = 0.2
REOPEN_BACKOFF_MAX_S = 10.0
STATS_INTERVAL_S = 1.0


@dataclass
class Station:
    """Everything the running daemon holds; handed to the control API and the uplink."""

    config: Config
    db: Database
    journal: Journal
    alarms: Alarms
    lists: ListStore
    bus: EventBus
    services: Services
    sessions: dict[str, list[DispenserSession]] = field(default_factory=dict)
    load: LoadStats = field(default_factory=LoadStats)
    """Event-loop lag and reply latencies since the last `daemon statistics` report."""
    lines: dict[str, FramedLine] = field(default_factory=dict)
    started_mono: float = field(default_factory=time.monotonic)
    extra_tasks: list[Callable[[Station], Coroutine[Any, Any, None]]] = field(default_factory=list)
    clock: ClockGuard = field(default_factory=ClockGuard)
    """Wall-clock sanity (`edge.clock_guard`): order-dependent operations ask it before they record."""
    uplink: Any = None
    """The MQTT uplink (`uplink.wiring.install_uplink`), None when no `[uplink]` is configured."""
    day_close: Any = None
    """The daily close service (`edge.control.dayclose.DayCloseService`)."""


class BusAlarms:
    """Alarms stored durably and published on the bus (raised and cleared)."""

    def __init__(self, alarms: Alarms, bus: EventBus) -> None:
        self._alarms = alarms
        self._bus = bus

    async def raise_alarm(
        self, source: str, code: str, severity: str, message: str, details: dict[str, Any] | None = None
    ) -> int:
        alarm_id = int(await self._alarms.raise_alarm(source, code, severity, message, details or {}))
        action = alarm_action(details or {})
        self._bus.publish(AlarmRaised(source, code, severity, message, dt.datetime.now(), alarm_id, action))
        return alarm_id

    async def clear(self, source: str, code: str) -> None:
        if await self._alarms.clear(source, code):
            self._bus.publish(AlarmCleared(source, code, dt.datetime.now()))


async def open_station(config: Config) -> Station:
    """Open the storage and build the station; on any failure the database is closed again (its worker
    thread would otherwise keep the process alive after `station run` has decided to exit)."""
    db = await Database.open(config.storage.database)
    try:
        return await _build_station(config, db)
    except BaseException:
        await db.close()
        raise


async def _build_station(config: Config, db: Database) -> Station:
    await check_at_start(db)
    journal = Journal(db)
    alarms = Alarms(db)
    lists = await asyncio.to_thread(ListStore.open, config.storage.lists_dir)
    bus = EventBus()
    guard = ClockGuard()
    guard.start(await newest_stored_instant(db))
    rules = await open_rules(
        config, db, journal, lists, bus, BusAlarms(alarms, bus), clock_trusted=lambda: guard.trusted
    )
    services = Services(
        journal=journal,
        alarms=BusAlarms(alarms, bus),
        catalog=rules.catalog,
        authority=rules.authority,
        bus=bus,
        on_record=rules.on_record,
        on_card=rules.on_card,
    )
    station = Station(config, db, journal, alarms, lists, bus, services, clock=guard)
    station.extra_tasks.extend(rules.tasks)
    station.extra_tasks.append(control_task)
    station.day_close = DayCloseService(station)
    station.extra_tasks.extend((day_close_task, housekeeping_task))
    station.extra_tasks.append(integrity_task)
    station.extra_tasks.append(clock_task)
    for line in config.lines:
        station.sessions[line.name] = [
            DispenserSession.create(
                line.name,
                d.pos_p,
                {n.nzn: n.g_code for n in d.nozzles},
                services,
                line.offline_after,
                withhold_lists=rules.settings.withholds(line.name, d.pos_p),
            )
            for d in line.dispensers
        ]
    from edge.centre_documents import centre_appliers
    from edge.devices.lpg.centre import lpg_appliers
    from uplink.wiring import install_uplink

    # None without an [uplink] table (embedded default)
    appliers = {**centre_appliers(rules), **lpg_appliers(config, db)}
    station.uplink = install_uplink(station, extra_appliers=appliers)
    if station.uplink is not None:
        factory = station.uplink.factory
        services.outbox_for_totals = lambda line, pos_p, totals, at: [factory.totals(line, pos_p, totals, at)]
        rules.decisions.outbox = lambda d, row_id: [
            factory.decision(
                d.line,
                d.dispenser,
                d.nzn,
                d.asn,
                d.allowed,
                d.reason_name,
                d.at or dt.datetime.now(dt.UTC),
                kind=d.kind,
                details={"decision_id": row_id, "reason": d.reason, "words": d.words, **dict(d.details)},
            )
        ]
    return station


async def run_line(station: Station, config: LineConfig) -> None:
    """Own one line for the daemon's life: open, drive, and reopen after a failure."""
    sessions = station.sessions[config.name]
    backoff = REOPEN_BACKOFF_MIN_S
    while True:
        try:
            io = await open_line(config.url, config.baud, config.parity, config.stop_bits)
        except TransportError as exc:
            log.error("line %s: %s; retrying in %.1f s", config.name, exc, backoff)
            await station.services.alarms.raise_alarm(config.name, "line_unavailable", "critical", str(exc))
            await miss_every_dispenser(sessions)
            await asyncio.sleep(backoff)
            backoff = min(REOPEN_BACKOFF_MAX_S, backoff * 2)
            continue
        await station.services.alarms.clear(config.name, "line_unavailable")
        backoff = REOPEN_BACKOFF_MIN_S
        line = FramedLine(
            config.name,
            io,
            controller_address=station.config.station.controller_address,
            inter_byte_timeout_s=config.inter_byte_timeout_ms / 1000,
            bus=station.bus,
            byte_time_s=config.bits_per_byte / config.baud,
            load=station.load,
        )
        if config.name in station.lines:
            line.stats = station.lines[config.name].stats
        station.lines[config.name] = line
        driver: MultiDropDriver | PointToPointDriver
        if config.mode is LineMode.MULTI_DROP:
            driver = MultiDropDriver(config, line, sessions)
        else:
            driver = PointToPointDriver(config, line, sessions[0])
        try:
            async with asyncio.TaskGroup() as tg:
                tg.create_task(line.receive_forever())
                tg.create_task(driver.run())
        except* TransportError as group:
            log.error("line %s lost: %s; reopening", config.name, group.exceptions[0])
        finally:
            await io.close()
        await miss_every_dispenser(sessions)
        await asyncio.sleep(backoff)


async def miss_every_dispenser(sessions: list[DispenserSession]) -> None:
    """A line that is lost or cannot be opened polls nobody: each attempt to reach it counts as one
    missed poll of every dispenser on it, so they go offline after `offline_after` attempts (their
    nozzles show `offline`) and come back by themselves at their first answer once the line returns."""
    for session in sessions:
        await session.missed()


async def publish_stats(station: Station) -> None:
    while True:
        await asyncio.sleep(STATS_INTERVAL_S)
        for line in station.lines.values():
            line.publish_stats()


async def serve(config: Config, stop: asyncio.Event | None = None, station: Station | None = None) -> None:
    """Run the daemon until `stop` is set (or SIGTERM/SIGINT when run from `station run`)."""
    station = station or await open_station(config)
    stop = stop or asyncio.Event()
    log.info(
        "station %s: %d lines, %d dispensers, database %s",
        config.station.id,
        len(config.lines),
        sum(len(v) for v in station.sessions.values()),
        config.storage.database,
    )
    try:
        async with asyncio.TaskGroup() as tg:
            tasks = [tg.create_task(run_line(station, line)) for line in config.lines]
            tasks.append(tg.create_task(publish_stats(station)))
            tasks.append(tg.create_task(watch_loop_lag(station.load)))
            tasks.extend(tg.create_task(extra(station)) for extra in station.extra_tasks)
            await stop.wait()
            log.info("stopping")
            for task in tasks:
                task.cancel()
    finally:
        log_line_statistics(station)
        await station.db.close()
        log.info("stopped cleanly")


LINE_STATISTICS = "line statistics"
"""Log lines `line statistics <line>: <json>` (on SIGUSR1 and at shutdown), read by tests and benchmarks."""
_LINE_STATISTICS_RE = re.compile(rf"{LINE_STATISTICS} (\S+): (\{{.*\}})")


def log_line_statistics(station: Station) -> None:
    """Every line's statistics, then the daemon's load since the previous report (`edge.loadprobe`)."""
    for name, line in station.lines.items():
        log.info("%s %s: %s", LINE_STATISTICS, name, json.dumps(line.stats.as_dict(), sort_keys=True))
    log.info("%s", format_report(station.load.report()))


def parse_line_statistics(log_text: str) -> dict[str, dict[str, Any]]:
    """The newest statistics of each line found in a daemon log (see `log_line_statistics`)."""
    return {m.group(1): json.loads(m.group(2)) for m in _LINE_STATISTICS_RE.finditer(log_text)}


def install_signal_handlers(stop: asyncio.Event, station: Station | None = None) -> None:
    """SIGTERM/SIGINT stop the daemon; SIGUSR1 logs every line's statistics (field diagnostics)."""
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    if station is not None:
        loop.add_signal_handler(signal.SIGUSR1, log_line_statistics, station)
