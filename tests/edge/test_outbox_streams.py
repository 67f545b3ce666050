"""Every fact the daemon reports reaches the outbox: one test per stream, through the daemon's own wiring.

The station is built by `edge.daemon.open_station` from a configuration with an `[uplink]` table (the
broker is never contacted: what matters here is what is queued). Each fact is produced the way the running
daemon produces it — a dispenser session handling the dispenser's messages, the alarm sink, a shift
opened and closed through the shift service, a downlink message — and the test looks for its message in
the `outbox` table. So a hook that nobody calls (or that queues under the wrong key) fails here.

    records      0x32 record            rec:{station}:{line}:{dispenser}:{pos_ttc}
    conflicts    0x32 re-sent, changed  rec:…:c:{digest}   (spec B8; its own key, conflict = true)
    totals       0x38 answer            totals:{station}:{line}:{dispenser}:{read_at}
    decisions    0x31 + 0x36            decision:{station}:{line}:{dispenser}:{nzn}:{asn}:{at}
    alarms       alarm raised           alarm:{station}:{alarm_id}:{count}
    dispenser    online / offline       disp:{station}:{line}:{dispenser}:{at}
    shifts       open / close           shift:{station}:{shift_id}:{event}
    replies      downlink message       reply:{station}:{audit_id}
    day closes   daily close            dayclose:{station}:{day}
    desk         desk operation         desk:{station}:{op_key}:{state}
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from support.door_sensor import DOOR_SENSOR, DoorChanged

from edge.config import load_config
from edge.control.shifts import ShiftService
from edge.daemon import Station, open_station
from edge.demo_station import write_demo_config
from edge.events import DispenserOnline
from edge.registry import default_registry
from edge.session import DispenserSession
from protocol.codec import encode_message
from protocol.messages import CardInserted, ListQuery, NozzleInfo, NozzleTotal, RecordUpload, Totals
from protocol.record import sample_record
from uplink.payloads import PAYLOAD_TYPES
from uplink.service import Uplink

STATION = "DEMO-0001"


@pytest.fixture
async def station(tmp_path: Path) -> AsyncIterator[Station]:
    path = write_demo_config(tmp_path)
    (tmp_path / "uplink.password").write_text("secret\n")
    with path.open("a") as f:
        f.write(
            '\n[uplink]\nurl = "mqtt://127.0.0.1:1"\nallow_plaintext = true\npassword_file = "uplink.password"\n'
        )
    registry = default_registry()
    registry.register(DOOR_SENSOR)  # a device kind (its routes; no [door_sensor] table: not built)
    st = await open_station(load_config(path), registry)
    try:
        yield st
    finally:
        await st.db.close()


async def outbox(station: Station) -> list[dict[str, Any]]:
    rows = await station.db.fetchall("SELECT topic, key, payload FROM outbox ORDER BY seq")
    return [{"topic": r["topic"], "key": r["key"], "payload": json.loads(bytes(r["payload"]))} for r in rows]


async def of_type(station: Station, kind: str) -> list[dict[str, Any]]:
    return [m for m in await outbox(station) if m["payload"]["type"] == kind]


def uplink_of(station: Station) -> Uplink:
    """The station's centre link (a component of the daemon)."""
    [uplink] = [c for c in station.components if isinstance(c, Uplink)]
    return uplink


def bus1(station: Station, pos_p: int = 1) -> DispenserSession:
    return next(s for s in station.sessions["bus1"] if s.pos_p == pos_p)


async def upload(session: DispenserSession, pos_ttc: int, **changes: Any) -> None:
    record = sample_record(pos_ttc=pos_ttc, nzn=1, **changes)
    message = RecordUpload(record)
    await session.handle(message, encode_message(message))
    await session.after_reply()


async def test_records_and_a_conflicting_copy_under_its_own_key(station: Station) -> None:
    session = bus1(station)
    await upload(session, 41)
    await upload(session, 41)  # the same bytes again: a duplicate, nothing more queued
    await upload(session, 41, t_mac=0x0BADF00D)  # the same POS_TTC with other bytes (spec B8)
    records = await of_type(station, "record")
    assert [m["topic"] for m in records] == [f"station/{STATION}/records"] * 2
    first, copy = records
    assert first["key"] == f"rec:{STATION}:bus1:1:41" and first["payload"]["conflict"] is False
    assert copy["key"].startswith(f"rec:{STATION}:bus1:1:41:c:") and len(copy["key"].rsplit(":", 1)[1]) == 16
    assert copy["payload"]["conflict"] is True and copy["payload"]["raw"] != first["payload"]["raw"]


async def test_nozzle_totals(station: Station) -> None:
    session = bus1(station, 2)
    await session.handle(Totals((NozzleTotal(3, 1_234_567), NozzleTotal(4, 89))))
    [totals] = await of_type(station, "totals")
    assert totals["topic"] == f"station/{STATION}/events"
    assert totals["key"].startswith(f"totals:{STATION}:bus1:2:")
    assert totals["payload"]["nozzles"] == [{"nzn": 3, "v_tot": 1_234_567}, {"nzn": 4, "v_tot": 89}]


async def test_rule_decisions(station: Station) -> None:
    session = bus1(station)
    card = "10000101100000000777"
    await session.handle(NozzleInfo((CardInserted(1, card, 0, 50_000),)))
    await session.handle(ListQuery(card))
    [decision] = await of_type(station, "decision")
    assert decision["key"].startswith(f"decision:{STATION}:bus1:1:1:{card}:")
    assert decision["payload"]["allowed"] is True and decision["payload"]["kind"] == "0x36"


async def test_alarms(station: Station) -> None:
    await station.services.alarms.raise_alarm("bus1/1", "dispenser_error", "warning", "E01 pulser fault")
    await uplink_of(station).alarm_feed.sweep()
    [alarm] = await of_type(station, "alarm")
    assert alarm["key"].startswith(f"alarm:{STATION}:") and alarm["payload"]["code"] == "dispenser_error"


async def test_dispenser_online_and_offline(station: Station) -> None:
    assert uplink_of(station).bridge is not None
    session = bus1(station, 3)
    events = station.bus.subscribe()
    await session.answered(1.0)
    for _ in range(session.offline_after):
        await session.missed()
    changes = [e for e in events.drain() if isinstance(e, DispenserOnline)]
    assert [e.online for e in changes] == [True, False]
    await uplink_of(station).bridge._handle(changes)  # type: ignore[union-attr]  # what the bridge does with a batch
    queued = await of_type(station, "dispenser")
    assert [(m["payload"]["dispenser"], m["payload"]["online"]) for m in queued] == [(3, True), (3, False)]
    assert all(m["key"].startswith(f"disp:{STATION}:bus1:3:") for m in queued)


async def test_field_devices(station: Station) -> None:
    at = dt.datetime(2026, 11, 21, 8, 0, 5, tzinfo=dt.UTC)
    await uplink_of(station).bridge._handle([DoorChanged("back", True, at)])  # type: ignore[union-attr]
    [device] = await of_type(station, "device")
    assert device["topic"] == f"station/{STATION}/events"
    assert device["key"].startswith(f"dev:{STATION}:door:back:opened:2026-11-21T08")
    assert (device["payload"]["kind"], device["payload"]["device"], device["payload"]["event"]) == (
        "door",
        "back",
        "opened",
    )


async def test_shift_open_and_close(station: Station) -> None:
    shifts = ShiftService(station, totals_wait_s=0.01)
    shift = await shifts.open("alice", "operator")
    await shifts.close("alice", "operator")
    queued = await of_type(station, "shift")
    assert [m["key"] for m in queued] == [
        f"shift:{STATION}:{shift.id}:open",
        f"shift:{STATION}:{shift.id}:close",
    ]


async def test_downlink_replies(station: Station) -> None:
    await uplink_of(station).downlink.handle(f"station/{STATION}/down", b"not a document")
    [reply] = await of_type(station, "reply")
    assert reply["topic"] == f"station/{STATION}/reply" and reply["key"].startswith(f"reply:{STATION}:")
    assert (reply["payload"]["outcome"], reply["payload"]["reason"]) == ("rejected", "malformed")


async def test_daily_close(station: Station) -> None:
    import datetime as dt

    await upload(bus1(station), 51)  # the sample sale: 2024-05-01 08:30
    for sessions in station.sessions.values():
        for session in sessions:
            session.online = True
    await station.day_close.close("manager", "admin", dt.date(2024, 5, 1))
    [closed] = await of_type(station, "day_close")
    assert (
        closed["topic"] == f"station/{STATION}/events" and closed["key"] == f"dayclose:{STATION}:2024-05-01"
    )
    assert closed["payload"]["figures"]["total"] == {"count": 1, "volume": 3_333, "amount": 25_000}


async def test_desk_operation(station: Station) -> None:
    from edge.devices.desk.kind import station_desk
    from edge.devices.desk.ledger import Actor

    desk = station_desk(station)  # the station's desk service (no [desk] reader needed for statuses)
    op = await desk.set_status(Actor("ann", "operator"), "lost", "10000101100000000051", reason="stolen")
    [queued] = await of_type(station, "desk")
    assert queued["topic"] == f"station/{STATION}/events"
    assert queued["key"] == f"desk:{STATION}:{op.op_key}:done"
    assert (queued["payload"]["op"], queued["payload"]["asn"]) == ("lost", "10000101100000000051")


def test_every_stored_payload_type_has_its_test() -> None:
    """A new payload type of the contract needs its test above (live and status are never stored)."""
    tested = {"record", "totals", "decision", "alarm", "dispenser", "device", "shift", "reply", "day_close",
              "desk"}  # fmt: skip
    assert set(PAYLOAD_TYPES) - {"live", "status"} == tested
