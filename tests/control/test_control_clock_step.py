"""Shifts under wall-clock steps (injected clocks): refused while the clock is in doubt, never recorded out
of order, and each shift's report counts exactly the records that arrived during it."""

from __future__ import annotations

import datetime as dt

import pytest
from control_testkit import store

from edge.clock_guard import ClockGuard
from edge.control import messages as m
from edge.control.client import ControlClient
from edge.control.server import ControlServer
from edge.daemon import Station

T0 = dt.datetime(2026, 11, 21, 6, 0, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


class Clocks:
    """A wall clock that can be stepped and a monotonic clock that only moves forward."""

    def __init__(self) -> None:
        self.now = T0
        self.mono = 1000.0

    def wall(self) -> dt.datetime:
        return self.now

    def monotonic(self) -> float:
        return self.mono

    def run(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)
        self.mono += seconds

    def step(self, delta: dt.timedelta) -> None:
        self.now += delta


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
def server_options(clocks: Clocks) -> dict[str, object]:
    return {"clock": clocks.wall}


@pytest.fixture
def guarded(station: Station, clocks: Clocks) -> ClockGuard:
    station.clock = ClockGuard(wall=clocks.wall, mono=clocks.monotonic)
    return station.clock


async def login(client: ControlClient, role: str = "senior") -> str:
    reply = await client.request(m.Login(username=f"{role}1", password=f"pw-{role}-1"))
    assert isinstance(reply, m.LoginOk), reply
    return reply.token


async def shift_rows(station: Station) -> list[tuple[str, str | None]]:
    rows = await station.db.fetchall("SELECT opened_at, closed_at FROM shifts ORDER BY id")
    return [(r[0], r[1]) for r in rows]


def in_order(rows: list[tuple[str, str | None]]) -> bool:
    stamps = [t for row in rows for t in row if t is not None]
    return stamps == sorted(stamps)


async def test_clock_stepped_back_a_day_never_closes_a_shift_before_it_opened(
    server: ControlServer, station: Station, operators, connect, clocks: Clocks, guarded: ClockGuard
) -> None:
    d1, _ = station.sessions["bus1"]
    client = await connect()
    token = await login(client)
    opened = await client.request(m.OpenShift(token=token))
    assert isinstance(opened, m.Shifts)
    for pos in (1, 2, 3):
        await store(d1, pos)
    clocks.run(3600)

    clocks.step(-DAY)
    step, _ = guarded.check()
    assert step is not None and step.seconds == pytest.approx(-86400)
    token = await login(client)
    refused = await client.request(m.CloseShift(token=token))
    assert isinstance(refused, m.Error) and refused.code == m.ErrorCode.CONFLICT
    assert "wall clock stepped by -1 d" in refused.message

    guarded.confirm()  # an operator takes the new time as right: storage still keeps the order
    refused = await client.request(m.CloseShift(token=token))
    assert isinstance(refused, m.Error) and "before it opened" in refused.message
    assert (await station.db.fetchone("SELECT closed_at FROM shifts"))[0] is None  # type: ignore[index]

    clocks.step(DAY)  # NTP puts it right again: after the confirmation, that is a step of its own
    clocks.run(60)
    step, _ = guarded.check()
    assert step is not None and not guarded.trusted
    assert guarded.confirm()
    closed = await client.request(m.CloseShift(token=token, handover_to="operator1"))
    assert isinstance(closed, m.Report) and closed.report is not None
    assert closed.report.sales_count == 3

    for pos in (4, 5):  # records of the next shift, whatever the clock stamps on them
        await store(d1, pos)
    report = await client.request(m.GetReport(token=token))
    assert isinstance(report, m.Report) and report.report is not None
    assert report.report.sales_count == 2  # the previous shift's three are not counted again
    assert in_order(await shift_rows(station))


async def test_a_day_forward_holds_shifts_until_the_time_is_confirmed(
    server: ControlServer, station: Station, operators, connect, clocks: Clocks, guarded: ClockGuard
) -> None:
    client = await connect()
    token = await login(client)
    assert isinstance(await client.request(m.OpenShift(token=token)), m.Shifts)
    clocks.run(600)
    clocks.step(-DAY)
    guarded.check()
    clocks.run(5)
    clocks.step(DAY)  # undone within seconds: trusted again by itself
    assert guarded.check() == (None, True)
    clocks.step(DAY)
    step, _ = guarded.check()
    assert step is not None and step.seconds == pytest.approx(86400)
    token = await login(client)
    refused = await client.request(m.CloseShift(token=token))
    assert isinstance(refused, m.Error) and "wall clock stepped by +1 d" in refused.message
    assert (await station.db.fetchone("SELECT closed_at FROM shifts"))[0] is None  # type: ignore[index]

    assert guarded.confirm()
    closed = await client.request(m.CloseShift(token=token))
    assert isinstance(closed, m.Report)
    assert in_order(await shift_rows(station))


async def test_a_shift_never_opens_before_the_previous_one_closed(
    server: ControlServer, station: Station, operators, connect, clocks: Clocks, guarded: ClockGuard
) -> None:
    client = await connect()
    token = await login(client)
    assert isinstance(await client.request(m.OpenShift(token=token)), m.Shifts)
    clocks.run(3600)
    assert isinstance(await client.request(m.CloseShift(token=token)), m.Report)
    clocks.step(-DAY)  # stepped while nobody looked: the guard has not seen it, storage still refuses
    token = await login(client)
    refused = await client.request(m.OpenShift(token=token))
    assert isinstance(refused, m.Error) and "before the previous one" in refused.message
    assert len(await shift_rows(station)) == 1


async def test_no_day_is_closed_while_the_clock_is_in_doubt(
    server: ControlServer, station: Station, operators, connect, clocks: Clocks, guarded: ClockGuard
) -> None:
    for sessions in station.sessions.values():
        for s in sessions:
            s.online = True
    client = await connect()
    token = await login(client)
    clocks.run(60)
    clocks.step(-DAY)
    assert guarded.check()[0] is not None
    reply = await client.request(m.CloseDay(token=token, day="2026-11-19"))
    assert isinstance(reply, m.Error) and "wall clock stepped by -1 d" in reply.message, reply
    rows = await station.db.fetchall("SELECT day FROM day_closes")
    assert rows == []
