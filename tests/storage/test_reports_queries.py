"""Listings: a plate statement finds the cards seen with the plate; a card statement is that card's
counted records; price changes list each dispenser's receipt."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from storage_testkit import make_record

from storage.db import Database, open_readonly
from storage.journal import Journal
from storage.reports.periods import range_period
from storage.reports.query import ReportReader

CAR, OTHER = "10000111000000000001", "10000111000000000002"
ALL_TIME = range_period(dt.datetime(2000, 1, 1), dt.datetime(2100, 1, 1))


async def test_plate_and_card_statements(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "station.db")
    journal = Journal(db)
    received = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
    for ttc, (card, amn, t_type) in enumerate(
        [(CAR, 1_000, 0x10), (OTHER, 2_000, 0x10), (CAR, 3_000, 0x10), (CAR, 0, 0x15)], start=1
    ):
        rec, raw = make_record(ttc, asn=card, amn=amn, t_type=t_type, time=dt.datetime(2026, 11, 21, 8, ttc))
        await journal.store_record("bus1", 1, rec, raw, received_at=received)
    async with db.transaction() as tx:
        for card, details in ((CAR, {"plate": "京A 12345"}), (OTHER, {})):
            await tx.execute(
                "INSERT INTO decisions (at, local_at, line, dispenser, asn, kind, allowed, reason, reason_name,"
                " words, details) VALUES ('t', 't', 'bus1', 1, ?, '0x36', 1, 0, 'NONE', '', ?)",
                (card, json.dumps(details, ensure_ascii=False)),
            )
    await db.close()
    reader = ReportReader(open_readonly(tmp_path / "station.db"))
    assert reader.plate_cards("京a12345") == [CAR]
    assert reader.plate_cards("京A99999") == []
    rows = list(reader.records(ALL_TIME, asns=reader.plate_cards("京A12345")))
    assert [(r["asn"], r["amount"], r["kind"]) for r in rows] == [(CAR, 1_000, "sale"), (CAR, 3_000, "sale")]
    assert [r["amount"] for r in reader.records(ALL_TIME, asn=OTHER)] == [2_000]
    assert list(reader.records(ALL_TIME, asns=[])) == []


async def test_stock_in_and_out_from_the_tank_reconciliations(tmp_path: Path) -> None:
    from storage.reports.periods import DayBoundary, day_period
    from storage.tanks import ReconciliationRow, save_reconciliation_in

    db = await Database.open(tmp_path / "station.db")
    local = dt.datetime(2026, 11, 21, 6).astimezone()  # the business day's start, as an aware instant
    rows = [
        ReconciliationRow(
            1,
            local,
            local + dt.timedelta(hours=12),
            10_000.0,
            5_000.0,
            3_000.0,
            12_000.0,
            11_990.0,
            -10.0,
            -0.33,
            False,
        ),
        ReconciliationRow(
            1,
            local + dt.timedelta(days=1),
            local + dt.timedelta(days=1, hours=12),
            1.0,
            0.0,
            0.0,
            1.0,
            1.0,
            0.0,
            0.0,
            False,
        ),
    ]
    async with db.transaction() as tx:
        for r in rows:
            await save_reconciliation_in(tx, r, now=local)
    await db.close()
    reader = ReportReader(open_readonly(tmp_path / "station.db"))
    [got] = reader.stock(day_period(dt.date(2026, 11, 21), DayBoundary(6)))
    assert (got["tank"], got["deliveries_l"], got["sales_l"], got["variance_l"]) == (
        1,
        5_000.0,
        3_000.0,
        -10.0,
    )
    assert got["deliveries_t"] is None and got["sales_t"] is None  # no density known: litres only

    from storage.reports.core import Names

    names = Names(products={"0092": "92#"}, densities={"0092": 0.745}, tank_products={1: "0092"})
    reader = ReportReader(open_readonly(tmp_path / "station.db"), names=names)
    [got] = reader.stock(day_period(dt.date(2026, 11, 21), DayBoundary(6)))
    assert got["product"] == "92#"
    assert (got["deliveries_t"], got["sales_t"], got["variance_t"]) == (3.725, 2.235, -0.007)


def test_stock_tonnes_from_the_products_density_in_the_station_configuration(tmp_path: Path) -> None:
    from edge.commands.reporting import tank_products
    from edge.config import ConfigError, load_config

    base = (
        '[station]\nid = "S1"\n[storage]\ndatabase = "station.db"\n'
        '[[lines]]\nname = "bus1"\nurl = "/dev/null"\nmode = "multi-drop"\n'
        '[[lines.dispensers]]\npos_p = 1\nnozzles = [{ nzn = 1, g_code = "0092" }]\n'
    )
    path = tmp_path / "station.toml"
    path.write_text(base + '[[products]]\ng_code = "0092"\nname = "92#"\nprices = [750]\ndensity = 0.745\n')
    assert load_config(path).products[0].density == 0.745
    path.write_text(base + '[[products]]\ng_code = "0092"\nname = "92#"\nprices = [750]\ndensity = 7.45\n')
    try:
        load_config(path)
    except ConfigError as exc:
        assert any("products[0].density" in p for p in exc.problems)
    else:
        raise AssertionError("a density of 7.45 kg/L was accepted")
    assert tank_products({"tank": [{"number": 2, "product": "0010"}, {"number": "x"}, {"number": 3}]}) == {2: "0010"}
    from edge.commands.reporting import TankEntry, tank_entries

    assert tank_entries({"tank": [{"number": 2, "name": "T2 diesel", "product": "0010"}, {"number": 3}]}) == {
        2: TankEntry("T2 diesel", "0010"),
        3: TankEntry("T3", ""),
    }
    assert tank_entries("not a table") == {}
