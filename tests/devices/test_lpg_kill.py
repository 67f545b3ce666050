"""A fill process SIGKILLed mid-fill (the valve open, the weight rising): the fill row written before the
start command is found at the next start and recorded as interrupted, with its record for the centre —
never silently gone."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import sys
from pathlib import Path

from station_sim.modbus import ModbusLink as SimLink
from station_sim.scales import SimScale, scale_unit

from edge.devices.lpg.csvio import parse_csv
from edge.devices.lpg.service import FillService
from edge.devices.lpg.specs import DEFAULT_SPECS, LpgSettings
from protocol.scale_maps import DEFAULT_SCALE_MAP
from storage import lpg
from storage.db import Database

CHILD = Path(__file__).with_name("lpg_fill_child.py")
SETTINGS = LpgSettings(specs=DEFAULT_SPECS)


async def test_sigkill_mid_fill_leaves_the_fill_recorded_as_interrupted(tmp_path: Path) -> None:
    today = dt.datetime.now(dt.UTC).date()
    registry = (
        "barcode,spec,tare_kg,manufactured_on,next_inspection\n"
        f"OK-1,YSP-15,16.2,{today - dt.timedelta(days=300)},{today + dt.timedelta(days=300)}\n"
    )
    db_path = tmp_path / "station.db"
    async with await Database.open(db_path) as db, db.transaction() as tx:
        await lpg.upsert_cylinders_in(tx, parse_csv(registry, SETTINGS), source="t", actor="t",
                                      now=dt.datetime.now(dt.UTC))  # fmt: skip

    sim = SimScale("S1", DEFAULT_SCALE_MAP, rate_kg_s=0.5)  # 14.5 kg would take half a minute
    sim.place(16.2)
    rising = asyncio.Event()
    read = sim.read_registers

    def watch(address: int, count: int) -> list[int]:
        block = read(address, count)
        if "start" in sim.commands and sim.figures()[0] > 16.4:
            rising.set()
        return block

    sim.read_registers = watch  # type: ignore[method-assign]
    url = str(tmp_path / "scales")
    link = SimLink(url, [scale_unit(1, sim)], baud=19200)
    await link.start()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(CHILD), str(db_path), url, stdout=asyncio.subprocess.PIPE
    )
    try:
        await asyncio.wait_for(rising.wait(), 120)
        os.kill(proc.pid, signal.SIGKILL)
        assert await proc.wait() == -signal.SIGKILL
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await link.stop()
    assert sim.ledger == []  # the scale never saw a stop: the fill was cut off mid-way

    async with await Database.open(db_path) as db:
        [open_fill] = await lpg.fills(db)
        assert open_fill.status is lpg.FillStatus.FILLING
        recovered = await FillService(db, SETTINGS, station="ST1").recover()
        assert [r.id for r in recovered] == [open_fill.id]
        after = await lpg.fill(db, open_fill.id)
        assert after is not None and after.status is lpg.FillStatus.INTERRUPTED
        assert "stopped during the fill" in after.detail
        c = await lpg.cylinder(db, "OK-1")
        assert c is not None and c.state is lpg.CylinderState.PROBLEM
        rows = await db.fetchall("SELECT payload FROM outbox WHERE topic = 'station/ST1/lpg/fills'")
        assert [json.loads(r["payload"])["status"] for r in rows] == ["interrupted"]
