"""The desk component: start-up recovery, settlement when the card is inserted again, the reader gone
raising an alarm, a second reader with a foreign card ignored. The PC/SC shell is replaced by a port over
the simulator's slot (this module's unit test; the real pcscd path is tested with vpcd)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from station_sim.card.slot import TearMode, TearPlan

sys.path.insert(0, str(Path(__file__).resolve().parent))
from desk_testkit import BOSS, DeskRig, topup

from edge.devices.desk.component import DeskComponent, PcscSlot, desk_settings
from edge.devices.desk.kind import desk_card_message
from edge.devices.desk.psam import SoftPsam
from edge.devices.desk.service import DeskError
from storage import desk as store
from storage.db import Database
from tests.support.cardsim import TERMINAL, LocalChannel


@dataclass
class Event:
    kind: str
    reader: str
    atr: bytes = b""


class Port:
    def __init__(self, rig: DeskRig) -> None:
        self.rig = rig
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        self.opened: list[str] = []

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def next_event(self) -> Event:
        return await self.events.get()

    async def open(self, reader: str) -> LocalChannel:
        self.opened.append(reader)
        channel = LocalChannel(self.rig.slot, reader)
        channel.close = _close  # type: ignore[attr-defined]
        return channel


async def _close() -> None:
    return None


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "station.db")
    try:
        yield database
    finally:
        await database.close()


async def test_a_torn_topup_is_settled_when_the_card_comes_back(db: Database) -> None:
    rig = DeskRig(db)
    port = Port(rig)
    slot = PcscSlot(port, SoftPsam(TERMINAL), "Virtual PCD")
    published: list[object] = []
    bus = type("Bus", (), {"publish": lambda self, event: published.append(event)})()
    component = DeskComponent(rig.ops, slot, rig.rules.alarms, bus)
    rig.ops.slot = slot
    await component.handle(Event("card_inserted", "Virtual PCD 00 00"))
    await component.handle(Event("card_inserted", "Other Reader 00 00"))  # a second reader: ignored
    assert port.opened == ["Virtual PCD 00 00"]
    transmit = rig.slot.transmit

    def tear_the_credit(apdu: bytes) -> bytes | None:
        if apdu[:2] == b"\x80\x52":  # CREDIT FOR LOAD: applied, its answer lost, the card pulled
            rig.slot.arm(TearPlan(1, TearMode.AFTER))
        return transmit(apdu)

    rig.slot.transmit = tear_the_credit  # type: ignore[method-assign]
    with pytest.raises(DeskError, match="insert card"):
        await rig.run(topup(5_000), BOSS)
    [open_op] = await store.open_operations(db)
    assert open_op.state.value == "written"
    await component.handle(Event("card_removed", "Virtual PCD 00 00"))
    rig.slot.transmit = transmit  # type: ignore[method-assign]
    rig.reinsert()
    await component.handle(Event("card_inserted", "Virtual PCD 00 00"))
    assert await store.open_operations(db) == []
    [op] = [o for o in await store.operations(db) if o.kind == "topup"]
    assert op.state.value == "confirmed" and rig.card.state.ep.balance == 55_000
    assert component.last_view is not None and component.last_view["balance"] == 55_000
    # viewers see each insertion and removal (the control API's desk_card event)
    shown = [desk_card_message(e, None) for e in published]  # type: ignore[arg-type]
    assert [(d.kind, d.state, d.fields.get("balance")) for d in shown] == [
        ("desk", "card", 50_000),
        ("desk", "empty", None),
        ("desk", "card", 55_000),
    ]


async def test_the_reader_gone_raises_an_alarm_and_operations_say_so(db: Database) -> None:
    rig = DeskRig(db)
    slot = PcscSlot(Port(rig), SoftPsam(TERMINAL))
    rig.ops.slot = slot
    component = DeskComponent(rig.ops, slot, rig.rules.alarms)
    await component.handle(Event("card_inserted", "Virtual PCD 00 00"))
    await component.handle(Event("reader_gone", "Virtual PCD 00 00"))
    assert rig.rules.alarms.raised[-1][:3] == ("desk", "desk_reader_gone", "critical")
    with pytest.raises(DeskError) as err:
        await rig.run(topup(100), BOSS)
    assert err.value.code == "not_found"
    await component.handle(Event("reader_added", "Virtual PCD 00 00"))
    assert ("desk", "desk_reader_gone") in rig.rules.alarms.cleared


def test_desk_settings() -> None:
    assert desk_settings(None, "00000042") is None
    assert desk_settings({}, "00000042") == desk_settings({"terminal_id": "000000000042"}, "1")
    for bad in ({"reader": 5}, {"terminal_id": "12"}, {"colour": "red"}):
        with pytest.raises(ValueError):
            desk_settings(bad, "00000042")
