"""The re-check alarm, from the authority to what a viewer receives: it names the card, the nozzle and the
rule, and carries the action "stop the sale at nozzle N" on the live event and in the snapshot."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from authority_testkit import Rig, asn, cng_entry

from edge.authority import RulesAuthority
from edge.control import messages as m
from edge.control.convert import Products, stored_alarm_message
from edge.daemon import BusAlarms
from edge.events import AlarmRaised, EventBus
from edge.routes import builtin_routes
from edge.session import Where
from protocol.messages import ListQuery
from storage.alarms import Alarms
from storage.db import Database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "station.db")
    try:
        yield database
    finally:
        await database.close()


async def test_a_refused_recheck_asks_the_attendant_to_stop_the_sale(db: Database) -> None:
    rig = Rig(db, require_report=False)
    bus = EventBus()
    events = bus.subscribe()
    alarms = Alarms(db)
    authority: RulesAuthority = rig.authority
    authority.alarms = BusAlarms(alarms, bus)
    card = asn("01", 601)
    await authority.list_query(Where("bus1", 3), ListQuery(card))  # asked before it was reported
    authority.on_card("bus1", 3, cng_entry(card, nzn=5, cylinder_valid_until=dt.date(2020, 1, 31)))
    item = authority._rechecks.get_nowait()
    await authority.recheck(item.line, item.dispenser, item.seen)

    [raised] = [e for e in events.drain() if isinstance(e, AlarmRaised)]
    assert (raised.source, raised.code, raised.severity) == ("bus1/3", "card_recheck_refused", "critical")
    assert raised.action == "stop the sale at nozzle 5"
    assert card in raised.message and "nozzle 5" in raised.message and "CYLINDER_EXPIRED" in raised.message
    live = builtin_routes().to_control(raised, Products())
    assert isinstance(live, m.Alarm) and live.action == "stop the sale at nozzle 5"
    [stored] = await alarms.active()
    assert stored_alarm_message(stored).action == "stop the sale at nozzle 5"
    assert stored.details["asn"] == card and stored.details["reason"] == "CYLINDER_EXPIRED"


async def test_other_alarms_ask_for_no_action(db: Database) -> None:
    bus = EventBus()
    events = bus.subscribe()
    await BusAlarms(Alarms(db), bus).raise_alarm("bus1/1", "dispenser_offline", "warning", "no answer")
    [raised] = [e for e in events.drain() if isinstance(e, AlarmRaised)]
    assert raised.action == ""
