"""The desk's tables: registry, status history, two-phase operation states, the message for the centre."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from storage import desk
from storage.db import Database
from storage.errors import StorageError
from storage.outbox import Outbox, enqueue_in
from uplink import payloads

NOW = dt.datetime(2026, 1, 14, 2, 0, tzinfo=dt.UTC)
OLD, NEW = "10000101100000000051", "10000101100000000052"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "station.db")
    try:
        yield database
    finally:
        await database.close()


async def test_customer_vehicle_card_and_a_replacement_only_once(db: Database) -> None:
    async with db.transaction() as tx:
        cid = await desk.add_customer_in(tx, desk.CustomerRow(0, "Wang Fang", phone="138"), now=NOW)
        vid = await desk.add_vehicle_in(
            tx, desk.VehicleRow(0, "京B12345", cid, "taxi", "CY-1", dt.date(2027, 6, 30)), now=NOW
        )
        for card in (OLD, NEW):
            row = desk.CardRow(card, "cng", customer_id=cid, vehicle_id=vid, mode="prepaid_amount")
            await desk.put_card_in(tx, row, actor="admin", now=NOW)
        await desk.set_status_in(tx, OLD, "replaced", actor="admin", now=NOW, replaced_by=NEW)
    vehicle = await desk.vehicle_by_plate(db, "京B12345")
    assert vehicle is not None and vehicle.cylinder_valid_until == dt.date(2027, 6, 30)
    old = await desk.card(db, OLD)
    assert old is not None and (old.status, old.replaced_by) == ("replaced", NEW)
    with pytest.raises(desk.DeskStorageError, match="already replaced"):
        async with db.transaction() as tx:
            await desk.set_status_in(
                tx, OLD, "replaced", actor="admin", now=NOW, replaced_by="10000101100000000053"
            )
    with pytest.raises(StorageError):  # a second card may not take the same replacement either
        async with db.transaction() as tx:
            await desk.put_card_in(tx, desk.CardRow("10000101100000000054", "cng"), actor="a", now=NOW)
            await tx.execute(
                "UPDATE desk_cards SET replaced_by = ? WHERE asn = ?", (NEW, "10000101100000000054")
            )


async def test_operation_states_and_the_message_the_centre_decodes(db: Database) -> None:
    op = desk.OperationRow("k-1", "topup", NEW, desk.OpState.INTENT, "ann", "operator", amount=5_000,
                           payment="cash", balance_before=100, balance_after=5_100, counter_before=3)  # fmt: skip
    async with db.transaction() as tx:
        await desk.put_card_in(tx, desk.CardRow(NEW, "user"), actor="ann", now=NOW)
        await desk.add_operation_in(tx, op, now=NOW)
    assert [o.op_key for o in await desk.open_operations(db, NEW)] == ["k-1"]
    async with db.transaction() as tx:
        await desk.set_state_in(tx, "k-1", desk.OpState.WRITTEN, now=NOW, expect=[desk.OpState.INTENT])
        done = await desk.set_state_in(tx, "k-1", desk.OpState.CONFIRMED, now=NOW, resolution="card answered")
        msg = desk.desk_message("DEMO-0001", done, at=NOW)
        await enqueue_in(tx, [msg, msg], now=NOW)  # the same key twice: stored once
    with pytest.raises(desk.DeskStorageError):
        async with db.transaction() as tx:
            await desk.set_state_in(tx, "k-1", desk.OpState.WRITTEN, now=NOW, expect=[desk.OpState.INTENT])
    assert await desk.open_operations(db) == []
    [(_, queued)] = await Outbox(db).peek(10)
    assert queued.topic == "station/DEMO-0001/events"
    decoded = payloads.decode(queued.payload)
    assert isinstance(decoded, payloads.DeskPayload)
    assert (decoded.op, decoded.state, decoded.amount, decoded.balance_after) == (
        "topup",
        "confirmed",
        5_000,
        5_100,
    )
    assert decoded.key == queued.key == "desk:DEMO-0001:k-1:confirmed"


async def test_bad_rows_are_refused(db: Database) -> None:
    with pytest.raises(StorageError):
        async with db.transaction() as tx:
            await desk.put_card_in(tx, desk.CardRow("12AB", "user"), actor="a", now=NOW)
    with pytest.raises(desk.DeskStorageError, match="not registered"):
        async with db.transaction() as tx:
            await desk.set_status_in(tx, OLD, "lost", actor="a", now=NOW)
    with pytest.raises(desk.DeskStorageError, match="unknown status"):
        async with db.transaction() as tx:
            await desk.set_status_in(tx, OLD, "stolen", actor="a", now=NOW)
