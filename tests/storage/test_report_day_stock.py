"""`station report day` ends with the station's stock of the day where tanks reconcile (text and JSON),
from a real database file; without tanks the report is unchanged."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path

import pytest

from edge.cli import main
from storage.db import Database
from storage.tanks import ReconciliationRow, save_reconciliation_in


async def _database(path: Path, *, with_tank: bool) -> None:
    db = await Database.open(path)
    if with_tank:
        start = dt.datetime(2026, 11, 21, 6).astimezone()  # the business day's start (boundary 06:00)
        row = ReconciliationRow(
            3, start, start + dt.timedelta(hours=12), 10_000.0, 5_000.0, 3_000.0, 12_000.0, 11_990.0, -10.0, -0.33, False
        )
        async with db.transaction() as tx:
            await save_reconciliation_in(tx, row, now=start)
    await db.close()


def test_the_day_report_carries_the_tanks_stock(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "station.db"
    asyncio.run(_database(db, with_tank=True))
    args = ["report", "day", "2026-11-21", "--db", str(db), "--day-boundary", "06:00", "--language", "en"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "STATION STOCK IN / OUT (TANK RECONCILIATION)" in text
    stock_part = text[text.index("STATION STOCK IN / OUT") :]
    assert "5000" in stock_part and "3000" in stock_part and "-10" in stock_part

    assert main([*args, "--format", "json"]) == 0
    [tank] = json.loads(capsys.readouterr().out)["stock"]
    assert (tank["tank"], tank["deliveries_l"], tank["sales_l"], tank["variance_l"]) == (3, 5000.0, 3000.0, -10.0)


def test_a_station_without_tanks_has_no_stock_part(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "station.db"
    asyncio.run(_database(db, with_tank=False))
    args = ["report", "day", "2026-11-21", "--db", str(db), "--day-boundary", "06:00", "--language", "en"]
    assert main(args) == 0
    assert "STOCK IN / OUT" not in capsys.readouterr().out
    assert main([*args, "--format", "json"]) == 0
    assert "stock" not in json.loads(capsys.readouterr().out)
