"""`edge.prices`: the table in force, the switch at the effective time, receipts and the missing-receipt
alarm, all with an injected clock (no sleeps); the catalog serving the table; restarts."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from authority_testkit import FakeAlarms, grey_record

from edge.catalog import Catalog
from edge.config import Config, parse_config
from edge.prices import RECEIPT_ALARM, PriceScheduler
from protocol.downloads import PriceRecord, PriceTable
from protocol.messages import Content
from storage.db import Database
from storage.prices import NozzlePrices, PriceSchedule, PriceStore, PriceVersionError, ProductPrices

T0 = dt.datetime(2026, 3, 1, 5, 0)
SIX = dt.datetime(2026, 3, 1, 6, 0)


def config(tmp: Path) -> Config:
    doc = {
        "station": {"id": "S1", "province": "11", "s_id": "00000042"},
        "storage": {"database": "station.db"},
        "products": [
            {"g_code": "0092", "name": "92#", "prices": [750, 740, 730]},
            {"g_code": "0095", "name": "95#", "prices": [810]},
        ],
        "lines": [
            {
                "name": "bus1",
                "url": "/dev/null",
                "mode": "multi-drop",
                "dispensers": [
                    {"pos_p": 1, "nozzles": [{"nzn": 1, "g_code": "0092"}, {"nzn": 2, "g_code": "0095"}]},
                    {"pos_p": 2, "nozzles": [{"nzn": 3, "g_code": "0092"}]},
                ],
            }
        ],
    }
    return parse_config(doc, tmp / "station.toml")


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "station.db")
    try:
        yield database
    finally:
        await database.close()


def scheduler(db: Database, tmp: Path, clock: Clock, alarms: FakeAlarms) -> PriceScheduler:
    return PriceScheduler(
        PriceStore(db, clock=lambda: clock.now.astimezone()),
        config(tmp),
        alarms=alarms,
        receipt_timeout_s=600,
        clock=clock,
    )


def v2() -> PriceSchedule:
    return PriceSchedule(2, SIX, (ProductPrices("0092", (760, 750, 740)),), (NozzlePrices(3, (770,)),))


def receipt(ctc: int, pos_ttc: int = 50):  # type: ignore[no-untyped-def]
    record, _ = grey_record(pos_ttc=pos_ttc, t_type=0x08, asn="0" * 20, ctc=ctc, nzn=0, g_code="0000", amn=0)
    return record


async def test_config_prices_are_version_1_until_a_table_takes_effect(db: Database, tmp_path: Path) -> None:
    clock, alarms = Clock(), FakeAlarms()
    prices = scheduler(db, tmp_path, clock, alarms)
    await prices.load()
    assert await prices.step() == 30.0
    table = prices.advertised()
    assert (table.version, [r.prices for r in table.new]) == (1, [(750, 740, 730), (810,), (750, 740, 730)])
    await prices.add(v2())
    assert await prices.step() == 30.0  # 06:00 is an hour away: the task re-checks every 30 s
    assert prices.advertised().version == 1 and [s.version for s in prices.pending()] == [2]
    clock.now = SIX - dt.timedelta(seconds=10)
    assert await prices.step() == 10.0
    clock.now = SIX
    await prices.step()
    table = prices.advertised()
    assert (table.version, table.effective) == (2, SIX)
    assert [r.prices for r in table.current] == [(750, 740, 730), (810,), (750, 740, 730)]
    assert [r.prices for r in table.new] == [(760, 750, 740), (810,), (770,)]
    assert prices.nozzle_record(3) == PriceRecord(3, "0092", 0, (770,))
    [stored] = await PriceStore(db).tables()
    assert stored.activated_at is not None


async def test_catalog_serves_the_table_in_force(db: Database, tmp_path: Path) -> None:
    clock, alarms = Clock(), FakeAlarms()
    prices = scheduler(db, tmp_path, clock, alarms)
    await prices.load()
    catalog = Catalog(prices.config, _NoLists(), price_table=prices.advertised)  # type: ignore[arg-type]
    assert catalog.versions().prc_ver == 1
    await prices.add(v2())
    clock.now = SIX
    await prices.step()
    assert catalog.versions().prc_ver == 2
    served = catalog.content(Content.PRICE_TABLE, 1)
    assert served is not None and PriceTable.parse(served) == prices.advertised()


def _NoLists() -> SimpleNamespace:
    return SimpleNamespace(
        current=SimpleNamespace(versions=SimpleNamespace(bl_ver=0, add_bl_ver=0, del_bl_ver=0, wh_ver=0))
    )


async def test_missing_receipt_raises_an_alarm_and_a_late_receipt_clears_it(
    db: Database, tmp_path: Path
) -> None:
    clock, alarms = Clock(), FakeAlarms()
    prices = scheduler(db, tmp_path, clock, alarms)
    await prices.load()
    await prices.add(v2())
    clock.now = SIX
    assert await prices.step() == 30.0
    await prices.on_record("bus1", 1, receipt(2), None)
    await prices.on_record("bus1", 2, receipt(1), None)  # an old table: not a receipt of version 2
    assert prices.receipts_missing() == [("bus1", 2)]
    clock.now = SIX + dt.timedelta(seconds=599)
    assert await prices.step() == 1.0
    assert alarms.raised == []
    clock.now = SIX + dt.timedelta(seconds=600)
    await prices.step()
    await prices.step()  # raised once, not at every step
    [(source, code, severity, message)] = alarms.raised
    assert (source, code, severity) == ("bus1/2", RECEIPT_ALARM, "major") and "version 2" in message
    await prices.on_record("bus1", 2, receipt(2, pos_ttc=51), None)
    assert alarms.cleared == [("bus1/2", RECEIPT_ALARM)]
    assert prices.receipts_missing() == []
    stored = {(r.line, r.dispenser, r.version) for r in await PriceStore(db).receipts()}
    assert stored == {("bus1", 1, 2), ("bus1", 2, 1), ("bus1", 2, 2)}


async def test_a_restart_keeps_the_table_in_force_and_its_receipts(tmp_path: Path) -> None:
    clock, alarms = Clock(), FakeAlarms()
    path = tmp_path / "station.db"
    async with await Database.open(path) as db:
        prices = scheduler(db, tmp_path, clock, alarms)
        await prices.load()
        await prices.add(v2())
        clock.now = SIX
        await prices.step()
        await prices.on_record("bus1", 1, receipt(2), None)
    clock.now = SIX + dt.timedelta(hours=1)
    async with await Database.open(path) as db:
        again = scheduler(db, tmp_path, clock, alarms)
        await again.load()
        await again.step()
        assert again.version == 2 and again.advertised() == prices.advertised()
        assert again.receipts_missing() == [("bus1", 2)]
        assert [a[0] for a in alarms.raised] == ["bus1/2"]  # the deadline had passed while it was down


async def test_schedules_only_move_forward(db: Database, tmp_path: Path) -> None:
    clock, alarms = Clock(), FakeAlarms()
    prices = scheduler(db, tmp_path, clock, alarms)
    await prices.load()
    with pytest.raises(PriceVersionError, match="not above"):
        await prices.add(PriceSchedule(1, SIX, (ProductPrices("0092", (1,)),)))
    await prices.add(v2())
    with pytest.raises(PriceVersionError, match="not above"):
        await prices.add(PriceSchedule(2, SIX, (ProductPrices("0092", (1,)),)))
    with pytest.raises(PriceVersionError, match="same low byte"):
        await prices.add(PriceSchedule(258, SIX, (ProductPrices("0092", (1,)),)))
    with pytest.raises(PriceVersionError, match="before that of version 2"):
        await prices.add(PriceSchedule(3, SIX - dt.timedelta(minutes=1), (ProductPrices("0092", (1,)),)))
    await prices.add(PriceSchedule(3, SIX + dt.timedelta(days=1), (ProductPrices("0095", (820, 815)),)))
    clock.now = SIX + dt.timedelta(days=2)
    await prices.step()
    table = prices.advertised()
    assert table.version == 3
    # v3 prices only 0095: the other nozzles keep v2's prices, in both halves.
    assert [r.prices for r in table.current] == [(760, 750, 740), (810,), (770,)]
    assert [r.prices for r in table.new] == [(760, 750, 740), (820, 815), (770,)]


async def test_a_clock_in_doubt_switches_no_table_and_keeps_the_one_in_force(tmp_path: Path) -> None:
    clock, alarms = Clock(), FakeAlarms()
    trusted = [True]
    path = tmp_path / "station.db"
    async with await Database.open(path) as db:
        prices = scheduler(db, tmp_path, clock, alarms)
        await prices.load()
        await prices.add(v2())
        clock.now = SIX
        await prices.step()
        assert prices.version == 2
    v3 = PriceSchedule(3, SIX + dt.timedelta(days=1), (ProductPrices("0092", (800, 790, 780)),), ())
    async with await Database.open(path) as db:
        held = PriceScheduler(
            PriceStore(db, clock=lambda: clock.now.astimezone()),
            config(tmp_path),
            alarms=alarms,
            clock=clock,
            clock_trusted=lambda: trusted[0],
        )
        await held.load()
        await held.add(v3)
        trusted[0] = False
        clock.now = SIX - dt.timedelta(days=1)  # stepped back a day: v2 must not be undone
        await held.step()
        assert held.version == 2
        clock.now = SIX + dt.timedelta(days=2)  # stepped forward: v3 must not start early
        await held.step()
        assert held.version == 2 and [s.version for s in held.pending()] == [3]
        trusted[0] = True
        await held.step()
        assert held.version == 3
