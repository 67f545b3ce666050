"""The control server: hello, snapshot, the event stream, socket permissions, bad input."""

from __future__ import annotations

import asyncio
import datetime as dt
import stat

import pytest
from control_testkit import store

from edge.control import messages as m
from edge.control.client import ControlClient
from edge.control.server import ControlError, ControlServer
from edge.daemon import Station
from edge.events import AlarmRaised, LineStatistics, NozzleState, NozzleStatus

T0 = dt.datetime(2026, 11, 21, 8, 0)


async def test_hello_then_snapshot_of_the_station(server: ControlServer, station: Station, connect) -> None:
    session = station.sessions["bus1"][0]
    await store(session, 41, nzn=2, g_code="0095", amn=8_100, vol=1_000, prc=810, unit=0x30)
    await station.alarms.raise_alarm("bus1/2", "dispenser_offline", "warning", "Dispenser 2 does not answer")
    client = await connect()
    assert client.hello == m.Hello(
        "TEST-0001", "Test station", software=client.hello.software, demo=False, language="zh_CN"
    )

    snap = await client.request(m.GetSnapshot())

    assert isinstance(snap, m.Snapshot)
    assert snap.station.id == "TEST-0001"
    assert [(d.line, d.dispenser) for d in snap.dispensers] == [("bus1", 1), ("bus1", 2)]
    assert sorted(n.key for n in snap.nozzles) == ["bus1/1/1", "bus1/1/2", "bus1/2/3", "bus1/2/4"]
    assert {n.product for n in snap.nozzles} == {"92#", "95#"}
    assert [(s.pos_ttc, s.product, s.payment, s.amn) for s in snap.sales] == [(41, "95#", "bank_card", 8_100)]
    assert [(a.source, a.code) for a in snap.alarms] == [("bus1/2", "dispenser_offline")]
    assert [line.line for line in snap.lines] == ["bus1"]
    assert snap.shift is None


async def test_subscribe_streams_events_with_live_status_coalesced(
    server: ControlServer, station: Station, connect
) -> None:
    client = await connect()
    reply = await client.request(m.Subscribe())
    assert isinstance(reply, m.Snapshot)

    for amn in range(0, 5000, 100):  # many updates of one nozzle published at once
        station.bus.publish(
            NozzleStatus("bus1", 1, 1, NozzleState.FUELLING, amn=amn, vol=amn // 7, prc=750, at=T0)
        )
    station.bus.publish(AlarmRaised("bus1/1", "dispenser_error", "warning", "E23 pulser", T0, alarm_id=7))
    station.bus.publish(LineStatistics("bus1", {"crc_errors": 3, "polls": 1000, "errors": ["x"]}, T0))

    alarm = await client.wait_for(m.Alarm)
    assert (alarm.id, alarm.code, alarm.message) == (7, "dispenser_error", "E23 pulser")
    nozzle = await client.wait_for(m.Nozzle)
    assert (nozzle.key, nozzle.state, nozzle.amn, nozzle.product) == ("bus1/1/1", "fuelling", 4900, "92#")
    stats = await client.wait_for(m.LineStats)
    assert stats.stats == {"crc_errors": 3, "polls": 1000} and stats.mode == "multi-drop"


async def test_stored_sale_reaches_subscribers(server: ControlServer, station: Station, connect) -> None:
    client = await connect()
    await client.request(m.Subscribe())
    await store(station.sessions["bus1"][1], 7, nzn=3, amn=1_500, vol=200, emp=12)
    sale = await client.wait_for(m.Sale)
    assert (sale.key, sale.nzn, sale.kind, sale.emp, sale.amn) == ("bus1/2/7", 3, "sale", 12, 1_500)


async def test_socket_has_configured_permissions(server: ControlServer) -> None:
    assert stat.S_ISSOCK(server.path.stat().st_mode)
    assert stat.S_IMODE(server.path.stat().st_mode) == 0o600


async def test_second_server_on_a_live_socket_is_refused(server: ControlServer, station: Station) -> None:
    with pytest.raises(ControlError, match="another daemon"):
        await ControlServer(station, demo=False).start()


async def test_stale_socket_file_is_replaced(station: Station) -> None:
    first = ControlServer(station, demo=False)
    await first.start()
    assert first._server is not None
    first._server.close()  # the process "died": the file stays, nobody listens
    await first._server.wait_closed()
    assert first.path.exists()
    second = ControlServer(station, demo=False)
    await second.start()
    try:
        client = await ControlClient.connect(second.path)
        assert isinstance(await client.request(m.Ping()), m.Ok)
        await client.close()
    finally:
        await second.close()
    assert not second.path.exists()


async def test_bad_lines_get_typed_errors_and_the_connection_survives(server: ControlServer) -> None:
    reader, writer = await asyncio.open_unix_connection(str(server.path))
    assert isinstance(m.decode(await reader.readline()), m.Hello)
    for raw, code in [
        (b"not json\n", m.ErrorCode.BAD_REQUEST),
        (b'{"v": 1}\n', m.ErrorCode.BAD_REQUEST),
        (b'{"v": 9, "type": "ping", "id": 1}\n', m.ErrorCode.UNSUPPORTED_VERSION),
        (b'{"v": 1, "type": "launch_rocket", "id": 1}\n', m.ErrorCode.UNKNOWN_TYPE),
        (b'{"v": 1, "type": "nozzle", "line": "x"}\n', m.ErrorCode.BAD_REQUEST),
        (b'{"v": 1, "type": "ack_alarm", "id": 2, "alarm_id": "seven"}\n', m.ErrorCode.BAD_REQUEST),
        (b'{"v": 1, "type": "ack_alarm", "id": 3, "alarm_id": 1}\n', m.ErrorCode.UNAUTHENTICATED),
    ]:
        writer.write(raw)
        reply = m.decode(await reader.readline())
        assert isinstance(reply, m.Error) and reply.code == code, (raw, reply)
    writer.write(m.encode(m.Ping(id=99)))
    assert m.decode(await reader.readline()) == m.Ok(re=99, message="pong")
    writer.close()


async def test_too_long_line_drops_the_client(server: ControlServer) -> None:
    reader, writer = await asyncio.open_unix_connection(str(server.path))
    await reader.readline()
    writer.write(b"x" * (m.MAX_LINE_BYTES + 10) + b"\n")
    reply = m.decode(await reader.readline())
    assert isinstance(reply, m.Error) and "too long" in reply.message
    assert await reader.read() == b""
    writer.close()


async def test_stopping_the_server_says_bye_and_removes_the_socket(station: Station) -> None:
    srv = ControlServer(station, demo=False)
    task = asyncio.create_task(srv.serve_forever())
    client = None
    try:
        await srv.wait_until(lambda: srv.serving)
        client = await ControlClient.connect(srv.path)
        await client.request(m.Subscribe())
    finally:
        task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert client is not None
    bye = await client.wait_for(m.Bye)
    assert bye.reason == "daemon stopping"
    await client.wait_closed()
    assert not srv.path.exists()
    await client.close()


async def test_card_decisions_reach_viewers_and_the_next_snapshot(
    server: ControlServer, station: Station, connect
) -> None:
    from edge.decisions import CardDecision

    client = await connect()
    await client.request(m.Subscribe())
    station.bus.publish(
        CardDecision(
            "10000111000000099999",
            "bus1",
            1,
            2,
            False,
            3,
            "blacklisted",
            "the card is on the blacklist",
            warnings=("w1",),
            at=T0,
        )
    )
    decision = await client.wait_for(m.Decision)
    assert (decision.asn, decision.allowed, decision.reason, decision.words, decision.warnings) == (
        "10000111000000099999", False, "blacklisted", "the card is on the blacklist", ("w1",),
    )  # fmt: skip
    await server.wait_until(lambda: len(server.decisions) == 1)
    later = await (await connect()).request(m.GetSnapshot())
    assert isinstance(later, m.Snapshot) and [d.reason for d in later.decisions] == ["blacklisted"]


async def test_stored_decisions_are_shown_after_a_restart(station: Station) -> None:
    """Viewers of a restarted daemon still see why a card was refused: from the stored row (its code,
    the detail template and facts), so each viewer reads it in their own language."""
    from edge.decisions import decision_details, stored_from
    from edge.rules import Decision
    from protocol.reasons import RefusalReason
    from storage.decisions import DecisionLog

    refused = Decision(
        allowed=False,
        reason=RefusalReason.CYLINDER_EXPIRED,
        words=f"{RefusalReason.CYLINDER_EXPIRED.words} Inspection was due on 2020-01-31.",
        detail="Inspection was due on {date}.",
        detail_facts={"date": "2020-01-31"},
    )
    assert decision_details(refused)["detail_facts"] == {"date": "2020-01-31"}
    row = stored_from(refused, kind="0x36", line="p2p1", dispenser=4, nzn=7, asn="10000101100000000501",
                      now=dt.datetime(2026, 12, 2, 14, 30), m_flag=None, generation=1)  # fmt: skip
    await DecisionLog(station.db).append(row)
    server = ControlServer(station, demo=False)
    await server.start()
    try:
        client = await ControlClient.connect(server.path, 10)
        snapshot = await client.request(m.GetSnapshot())
        await client.close()
    finally:
        await server.close()
    assert isinstance(snapshot, m.Snapshot)
    (shown,) = snapshot.decisions
    assert (shown.asn, shown.allowed, shown.reason) == ("10000101100000000501", False, "cylinder_expired")
    assert (shown.detail, shown.detail_facts) == ("Inspection was due on {date}.", {"date": "2020-01-31"})
