"""Event bus: ordered delivery, latest-value coalescing, slow subscribers dropped."""

from __future__ import annotations

import datetime as dt

from edge.events import AlarmRaised, EventBus, NozzleState, NozzleStatus

T0 = dt.datetime(2026, 11, 21, 8, 0)


def nozzle(amn: int, nzn: int = 1) -> NozzleStatus:
    return NozzleStatus("bus1", 1, nzn, NozzleState.FUELLING, amn=amn, at=T0)


def alarm(i: int) -> AlarmRaised:
    return AlarmRaised("bus1/1", f"c{i}", "warning", "m", T0)


async def test_coalesces_live_status_and_keeps_ordered_events() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    for amn in range(100):
        bus.publish(nozzle(amn))
    bus.publish(nozzle(5, nzn=2))
    bus.publish(alarm(1))
    bus.publish(alarm(2))
    got = await sub.wait()
    assert got[:2] == [alarm(1), alarm(2)]
    assert got[2:] == [nozzle(99), nozzle(5, nzn=2)]
    assert sub.backlog == 0


async def test_overflowing_subscriber_is_dropped_and_bus_keeps_going() -> None:
    bus = EventBus()
    slow = bus.subscribe(limit=10)
    fast = bus.subscribe(limit=10_000)
    for i in range(50):
        bus.publish(alarm(i))
    assert slow.overflowed
    assert slow.backlog == 0  # its memory is released: it must take a fresh snapshot
    assert bus.subscribers == 1
    assert len(await fast.wait()) == 50
    assert await slow.wait() == []


async def test_closed_subscription_stops_iteration() -> None:
    bus = EventBus()
    sub = bus.subscribe()
    bus.publish(alarm(1))
    sub.close()
    seen = [e async for e in sub]
    assert seen == []
    assert bus.subscribers == 0


async def test_a_typed_subscription_neither_queues_nor_wakes_for_other_events() -> None:
    bus = EventBus()
    alarms_only = bus.subscribe(limit=10, only=(AlarmRaised,))
    everything = bus.subscribe()
    for amn in range(50):
        bus.publish(nozzle(amn))
    assert alarms_only.backlog == 0
    assert not alarms_only._wake.is_set()
    assert not alarms_only.overflowed
    for i in range(20):  # more than its limit of ordered events would overflow; other types never count
        bus.publish(nozzle(i, nzn=2))
    bus.publish(alarm(1))
    assert await alarms_only.wait() == [alarm(1)]
    assert (await everything.wait())[0] == alarm(1)



def test_the_centre_types_are_the_routed_events_with_a_centre_conversion() -> None:
    from edge.events import DispenserOnline, FrameTraced
    from edge.registry import default_registry

    routes = default_registry().routes()
    assert DispenserOnline in routes.centre_types
    assert FrameTraced not in routes.centre_types


def test_the_bus_knows_whether_anyone_wants_an_event_type() -> None:
    bus = EventBus()
    assert not bus.wants(NozzleStatus)
    alarms = bus.subscribe(only=(AlarmRaised,))
    assert bus.wants(AlarmRaised)
    assert not bus.wants(NozzleStatus)
    everything = bus.subscribe()
    assert bus.wants(NozzleStatus)
    everything.close()
    assert not bus.wants(NozzleStatus)
    alarms.close()
    assert not bus.wants(AlarmRaised)
