"""A client that stops reading (or vanishes) never delays the daemon's event publishing and never makes
the server hold more than a bounded amount for it: it is dropped, and the others carry on."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from edge.control import messages as m
from edge.control.server import ControlServer
from edge.daemon import Station
from edge.events import AlarmRaised, NozzleState, NozzleStatus

T0 = dt.datetime(2026, 11, 21, 8, 0)
LIMITS = {"queue_limit": 200, "high_water_bytes": 32 * 1024, "max_buffer_bytes": 256 * 1024, "stall_s": 60.0}
EVENTS = 20_000
BATCH = 100


def alarm(i: int) -> AlarmRaised:
    return AlarmRaised("bus1/1", f"code-{i}", "warning", "x" * 400, T0, alarm_id=i)


async def subscribe_and_stop_reading(
    server: ControlServer,
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_unix_connection(str(server.path), limit=m.MAX_LINE_BYTES)
    assert isinstance(m.decode(await reader.readline()), m.Hello)
    writer.write(m.encode(m.Subscribe(id=1)))
    assert isinstance(m.decode(await reader.readline()), m.Snapshot)  # from now on it reads nothing
    return reader, writer


@pytest.mark.parametrize("server_options", [LIMITS])
async def test_client_that_stops_reading_is_dropped_with_bounded_memory(
    server: ControlServer, station: Station, connect
) -> None:
    baseline = station.bus.subscribers
    _reader, writer = await subscribe_and_stop_reading(server)
    (slow,) = server.connections
    assert slow.subscription is not None
    assert station.bus.subscribers == baseline + 1
    message_bytes = len(
        m.encode(m.Alarm(id=EVENTS, code=f"code-{EVENTS}", message="x" * 400, raised_at="x" * 25))
    )

    published = 0
    backlog_seen = 0
    for start in range(0, EVENTS, BATCH):
        for i in range(start, start + BATCH):
            station.bus.publish(alarm(i))  # the daemon's publish: synchronous, never waits for a viewer
            station.bus.publish(NozzleStatus("bus1", 1, 1, NozzleState.FUELLING, amn=i, at=T0))
            published += 1
        if not slow.subscription.closed:
            backlog_seen = max(backlog_seen, slow.subscription.backlog)
        await asyncio.sleep(0)  # one turn of the loop, as the daemon's other tasks would take

    assert published == EVENTS
    await server.wait_until(lambda: slow not in server.connections)
    assert slow.dropped.startswith("too slow")
    assert station.bus.subscribers == baseline  # its subscription is gone from the bus
    assert backlog_seen <= LIMITS["queue_limit"] + 1  # + the coalesced nozzle value
    assert slow.max_buffer_seen <= LIMITS["max_buffer_bytes"] + message_bytes
    assert slow.sent < EVENTS  # it was not fed everything: it was cut off

    # everybody else is served as before
    client = await connect()
    assert isinstance(await client.request(m.Subscribe()), m.Snapshot)
    station.bus.publish(alarm(EVENTS + 1))
    got = await client.wait_for(m.Alarm)
    assert got.id == EVENTS + 1
    writer.close()


@pytest.mark.parametrize("server_options", [LIMITS])
async def test_vanished_client_is_forgotten(server: ControlServer, station: Station) -> None:
    baseline = station.bus.subscribers
    _reader, writer = await subscribe_and_stop_reading(server)
    writer.transport.abort()  # the process died
    await server.wait_until(lambda: not server.connections)
    assert station.bus.subscribers == baseline
    for i in range(3 * LIMITS["queue_limit"]):
        station.bus.publish(alarm(i))
    assert station.bus.subscribers == baseline
    assert server.dropped == 0  # it left by itself


@pytest.mark.parametrize(
    "server_options", [{**LIMITS, "queue_limit": 10_000, "max_buffer_bytes": 1 << 30, "stall_s": 0.2}]
)
async def test_client_that_reads_nothing_within_the_stall_time_is_dropped(
    server: ControlServer, station: Station
) -> None:
    """Big events, a long queue: nothing overflows, but the unread bytes do not drain within `stall_s`."""
    _reader, writer = await subscribe_and_stop_reading(server)
    (slow,) = server.connections
    for i in range(5_000):  # until the kernel's socket buffer is full and ours passes the high-water mark
        station.bus.publish(AlarmRaised("bus1/1", f"c{i}", "warning", "y" * 8_000, T0, alarm_id=i))
        await asyncio.sleep(0)
        if slow.buffered > LIMITS["high_water_bytes"] or slow.dropped:
            break
    await server.wait_until(lambda: slow not in server.connections)
    assert slow.dropped.startswith("stalled")
    assert slow.max_buffer_seen < LIMITS["high_water_bytes"] + 10_000
    writer.close()
