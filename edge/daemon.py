"""The controller daemon: the one composition root, and supervision.

Layer: edge (top-level supervisor). One process owns the serial lines and the database. `open_station`
builds everything from the configuration and the component registry (`edge.registry`), each part
given what it needs in its constructor:

    config ─▶ Database/Journal/Alarms ─▶ ListStore ─▶ EventBus, BusAlarms, event routes
           └▶ centre kind (the uplink) prepared: its outbox ─▶ rules (decisions) ─▶ Services (records, totals)
           └▶ per line: open_line() ─▶ FramedLine ─▶ MultiDropDriver | PointToPointDriver
                                         └─ DispenserSession per dispenser (state, persist-then-ack)
           └▶ components: the centre link, then every registered kind that is configured
              (price scheduler, card re-check, import inbox, control API, devices …)

`serve` runs the lines, the statistics and every component's `run()` under one `TaskGroup` and
cancels them all at stop.

A line whose device fails is reopened with back-off while the others keep running; every failed
attempt counts as a missed poll of each of its dispensers, so they go offline like dispensers that
stop answering (`offline_after`) and come back at their first answer. SIGTERM or
SIGINT stop everything cleanly: drivers are cancelled between frames, the database is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import signal
from typing import Any

from edge.clock_guard import ClockGuard, newest_stored_instant
from edge.config import Config, LineConfig, LineMode
from edge.control.dayclose import DayCloseService
from edge.core.cancel import in_own_task, raise_if_cancelling
from edge.core.centre import NO_CENTRE, OfflineCentre
from edge.events import EventBus
from edge.framed import FramedLine
from edge.loadprobe import format_report, watch_loop_lag
from edge.multidrop import MultiDropDriver
from edge.p2p import PointToPointDriver
from edge.record_integrity import check_at_start
from edge.registry import StationRegistry, default_registry
from edge.rules_runtime import open_rules
from edge.session import DispenserSession, Services
from edge.station import BusAlarms, CentreParts, Parts, Station
from edge.transport import TransportError, open_line
from storage.alarms import Alarms
from storage.db import Database
from storage.journal import Journal
from storage.lists import ListStore

__all__ = ["BusAlarms", "Station", "open_station", "parse_line_statistics", "serve"]

log = logging.getLogger(__name__)

REOPEN_BACKOFF_MIN_S = 0.2
REOPEN_BACKOFF_MAX_S = 10.0
STATS_INTERVAL_S = 1.0


async def open_station(config: Config, registry: StationRegistry | None = None) -> Station:
    """Open the storage and build everything from the configuration and the registry (see above); on any
    failure the database is closed again (its worker thread would otherwise keep the process alive after
    `station run` has decided to exit)."""
    db = await Database.open(config.storage.database)
    try:
        return await _build_station(config, registry or default_registry(), db)
    except BaseException:
        await db.close()
        raise


async def _build_station(config: Config, registry: StationRegistry, db: Database) -> Station:
    await check_at_start(db)
    journal = Journal(db)
    alarms = Alarms(db)
    lists = await asyncio.to_thread(ListStore.open, config.storage.lists_dir)
    bus = EventBus()
    sink = BusAlarms(alarms, bus)
    routes = registry.routes()
    centre = registry.centre.prepare(config) if registry.centre is not None else None
    outbox = centre.outbox if centre is not None else NO_CENTRE
    guard = ClockGuard()
    guard.start(await newest_stored_instant(db))
    rules = await open_rules(config, db, journal, lists, bus, sink, outbox, clock_trusted=lambda: guard.trusted)
    services = Services(
        journal=journal,
        alarms=sink,
        catalog=rules.catalog,
        authority=rules.authority,
        bus=bus,
        on_record=rules.on_record,
        on_card=rules.on_card,
        outbox_for_record=outbox.for_record,
        outbox_for_totals=outbox.for_totals,
    )
    link = (
        centre.build(CentreParts(config, db, lists, bus, sink, rules, routes)) if centre is not None else None
    )
    station = Station(
        config,
        db,
        journal,
        alarms,
        lists,
        bus,
        services,
        routes=routes,
        outbox=outbox,
        centre=link if link is not None else OfflineCentre(db),
        clock=guard,
    )
    station.day_close = DayCloseService(station)
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
    parts = Parts(station, rules, sink)
    for kind in registry.kinds:
        component = kind.assemble(config, parts)
        if component is not None:
            station.components.append(component)
    if link is not None:
        station.components.append(link)
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
            await in_own_task(_drive(line, driver))
        except* TransportError as group:
            log.error("line %s lost: %s; reopening", config.name, group.exceptions[0])
        finally:
            await io.close()
        raise_if_cancelling()  # a stop that came with the line's failure (edge.core.cancel)
        await miss_every_dispenser(sessions)
        await asyncio.sleep(backoff)


async def _drive(line: FramedLine, driver: MultiDropDriver | PointToPointDriver) -> None:
    async with asyncio.TaskGroup() as tg:
        tg.create_task(line.receive_forever())
        tg.create_task(driver.run())


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


async def serve(
    config: Config,
    stop: asyncio.Event | None = None,
    station: Station | None = None,
    *,
    registry: StationRegistry | None = None,
) -> None:
    """Run the daemon until `stop` is set (or SIGTERM/SIGINT when run from `station run`)."""
    station = station or await open_station(config, registry)
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
            tasks.extend(tg.create_task(c.run(), name=c.name) for c in station.components)
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
