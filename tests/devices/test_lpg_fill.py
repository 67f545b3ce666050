"""A day of fills against simulated scales over Modbus RTU (a pty null modem, two scales of different
maps on one line) and Modbus TCP: scripted cylinders (fit, overdue, scrapped, unknown, over-filled) are
refused or flagged as the rules say; every stored fill matches the simulator's ledger within the scale's
resolution; scale faults (garbage, exception, offline, frozen, wrong map) interrupt the fill, recorded
and alarmed; a registry import with a bad line changes nothing."""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from station_sim.modbus import ModbusLink as SimLink
from station_sim.modbus import UnitFaults
from station_sim.scales import SimScale, scale_unit

from edge.devices.lpg.csvio import dump_csv, parse_csv
from edge.devices.lpg.errors import BadCylinderFile
from edge.devices.lpg.fitness import RefusalCode
from edge.devices.lpg.registry import export_csv, import_csv
from edge.devices.lpg.scale import Scale
from edge.devices.lpg.service import FillService
from edge.devices.lpg.specs import DEFAULT_SPECS, LpgSettings
from edge.devices.modbus import LinkSettings, ModbusLink, ModbusTimeout
from protocol.scale_maps import DEFAULT_SCALE_MAP, VENDOR_SCALE_MAP, ScaleMap
from storage import lpg
from storage.alarms import Alarms
from storage.audit import AuditLog
from storage.db import Database

TODAY = dt.datetime.now(dt.UTC).date()
SETTINGS = LpgSettings(specs=DEFAULT_SPECS)


def day(offset: int) -> str:
    return (TODAY + dt.timedelta(days=offset)).isoformat()


REGISTRY = (
    "barcode,spec,tare_kg,manufactured_on,last_inspection,next_inspection,scrap_on,owner,state\n"
    f"OK-1,YSP-15,16.2,{day(-700)},,{day(400)},,,\n"
    f"OK-2,YSP-15,15.8,{day(-700)},,{day(400)},,,\n"
    f"OK-3,YSP-5,6.1,{day(-300)},,{day(300)},,,\n"
    f"OVER-1,YSP-15,16.0,{day(-700)},,{day(400)},,,\n"
    f"LATE-1,YSP-15,16.0,{day(-2000)},,{day(-12)},,,\n"
    f"SCRAP-1,YSP-15,16.0,{day(-4000)},,{day(100)},{day(-1)},,\n"
    f"DEAD-1,YSP-15,16.0,{day(-700)},,{day(400)},,,scrapped\n"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Rig:
    db: Database
    service: FillService
    sims: list[SimScale]
    units: list[UnitFaults]
    scales: list[Scale]


async def _rig(tmp_path: Path, url: str, maps: list[ScaleMap]) -> AsyncIterator[Rig]:
    sims = [SimScale(f"S{i + 1}", m, rate_kg_s=12.0, overshoot_kg=0.04, noise_kg=0.03, settle_s=0.15, seed=i)
            for i, m in enumerate(maps)]  # fmt: skip
    faults = [UnitFaults() for _ in sims]
    sim_link = SimLink(url, [scale_unit(i + 1, s, f) for i, (s, f) in enumerate(zip(sims, faults, strict=True))],
                       baud=19200)  # fmt: skip
    await sim_link.start()
    link = ModbusLink(LinkSettings(url, baud=19200, timeout_s=0.3))
    db = await Database.open(tmp_path / "station.db")
    async with db.transaction() as tx:
        await lpg.upsert_cylinders_in(tx, parse_csv(REGISTRY, SETTINGS), source="import", actor="test",
                                      now=dt.datetime.now(dt.UTC))  # fmt: skip
    service = FillService(
        db, SETTINGS, station="ST1", fill_timeout_s=20, settle_timeout_s=10, stall_timeout_s=1.5
    )
    scales = [Scale(s.name, link, i + 1, m) for i, (s, m) in enumerate(zip(sims, maps, strict=True))]
    # the first exchange may race the server's start (TCP listen): bounded retry, no sleep
    for _ in range(30):
        try:
            await scales[0].read()
            break
        except ModbusTimeout:
            continue
    try:
        yield Rig(db, service, sims, faults, scales)
    finally:
        link.close()
        await sim_link.stop()
        await db.close()


@pytest.fixture
async def rtu(tmp_path: Path) -> AsyncIterator[Rig]:
    async for rig in _rig(tmp_path, str(tmp_path / "scales"), [DEFAULT_SCALE_MAP, VENDOR_SCALE_MAP]):
        yield rig


@pytest.fixture
async def tcp(tmp_path: Path) -> AsyncIterator[Rig]:
    async for rig in _rig(tmp_path, f"socket://127.0.0.1:{free_port()}", [VENDOR_SCALE_MAP]):
        yield rig


async def test_a_day_of_fills_over_rtu(rtu: Rig) -> None:
    s1, s2 = rtu.sims
    # fit cylinders on both scales (default map and vendor map)
    s1.place(16.2)
    out1 = await rtu.service.fill("OK-1", rtu.scales[0], "op1")
    s2.place(15.8 + 0.4)  # residual gas left in it
    out2 = await rtu.service.fill("OK-2", rtu.scales[1], "op1")
    # the refused ones never start a scale
    refused = {}
    for code in ("LATE-1", "SCRAP-1", "DEAD-1", "NOPE-9"):
        r = await rtu.service.fill(code, rtu.scales[0], "op1")
        assert r.refusal is not None and r.record is None
        refused[code] = r.refusal
    assert refused["LATE-1"].code is RefusalCode.OVERDUE and "12 days" in refused["LATE-1"].reason
    assert refused["SCRAP-1"].code is RefusalCode.SCRAPPED
    assert refused["DEAD-1"].code is RefusalCode.SCRAPPED
    assert refused["NOPE-9"].code is RefusalCode.UNKNOWN and "not in the registry" in refused["NOPE-9"].reason
    # a worn valve: the over-fill is flagged, the cylinder blocked
    s1.overshoot_kg = 0.9
    s1.place(16.0)
    over = await rtu.service.fill("OVER-1", rtu.scales[0], "op2")
    # a full cylinder is not filled twice
    again = await rtu.service.fill("OK-1", rtu.scales[0], "op1")
    assert again.refusal is not None and again.refusal.code is RefusalCode.WRONG_STATE

    assert out1.record is not None and out1.record.status is lpg.FillStatus.DONE
    assert out2.record is not None and out2.record.status is lpg.FillStatus.DONE
    assert over.record is not None and over.record.status is lpg.FillStatus.OVERFILLED
    assert "correct before hand-out" in over.record.detail

    # every stored fill matches the ledger within the scale's resolution
    stored = await lpg.fills(rtu.db)
    ledger = s1.ledger + s2.ledger
    assert len(stored) == len(ledger) == 3
    by_scale = {"S1": list(s1.ledger), "S2": list(s2.ledger)}
    for f, scale_map in zip(stored, [DEFAULT_SCALE_MAP, VENDOR_SCALE_MAP, DEFAULT_SCALE_MAP], strict=True):
        entry = by_scale[f.scale].pop(0)
        assert f.gross_kg is not None and f.net_kg is not None
        assert abs(f.gross_kg - entry.final_gross_kg) <= scale_map.resolution_kg + 1e-9
        assert f.net_kg == pytest.approx(f.gross_kg - f.tare_kg, abs=1e-6)
        assert f.gross_kg >= f.target_kg
        assert entry.commands == ("start", "stop")

    # states with every change recorded
    assert (await lpg.cylinder(rtu.db, "OK-1")).state is lpg.CylinderState.FULL  # type: ignore[union-attr]
    assert (await lpg.cylinder(rtu.db, "OVER-1")).state is lpg.CylinderState.PROBLEM  # type: ignore[union-attr]
    history = await lpg.state_history(rtu.db, "OVER-1")
    assert [h.new_state for h in history] == ["empty", "problem"] and "over-filled" in history[-1].reason

    # alarms: the unknown barcode and the over-fill
    codes = {(a.source, a.code) for a in await Alarms(rtu.db).active()}
    assert ("lpg", "unknown_cylinder") in codes and ("lpg.S1", "overfill") in codes
    # refusals audited with the reason in words
    audit = await AuditLog(rtu.db).recent(1000, action="lpg.fill")
    refusals = {r.target: r.details["reason"] for r in audit if r.outcome == "refused"}
    assert set(refusals) == {"LATE-1", "SCRAP-1", "DEAD-1", "NOPE-9", "OK-1"}
    # the fill records are queued for the centre in the same transactions
    rows = await rtu.db.fetchall("SELECT topic, payload FROM outbox WHERE topic = 'station/ST1/lpg/fills'")
    sent = sorted((json.loads(r["payload"])["barcode"], json.loads(r["payload"])["status"]) for r in rows)
    assert sent == [("OK-1", "done"), ("OK-2", "done"), ("OVER-1", "overfilled")]


async def test_fill_over_tcp(tcp: Rig) -> None:
    tcp.sims[0].place(6.1)
    out = await tcp.service.fill("OK-3", tcp.scales[0], "op1")
    assert out.record is not None and out.record.status is lpg.FillStatus.DONE
    entry = tcp.sims[0].ledger[0]
    assert out.record.gross_kg is not None
    assert abs(out.record.gross_kg - entry.final_gross_kg) <= VENDOR_SCALE_MAP.resolution_kg + 1e-9


@pytest.mark.parametrize("fault", ["garbage", "exception", "offline", "frozen"])
async def test_a_scale_fault_mid_fill_is_recorded_as_interrupted(rtu: Rig, fault: str) -> None:
    sim, faults = rtu.sims[0], rtu.units[0]
    sim.place(16.2)
    sim.rate_kg_s = 1.0  # slow enough that the fault lands mid-fill

    read = sim.read_registers
    seen: list[bool] = []

    def read_then_spoil(address: int, count: int) -> list[int]:
        # the fault lands mid-fill: after two reads with the valve open
        block = read(address, count)
        if "start" in sim.commands:
            seen.append(True)
            if len(seen) == 2:
                if fault == "frozen":
                    sim.frozen = True
                else:
                    setattr(faults, fault, True)
        return block

    sim.read_registers = read_then_spoil  # type: ignore[method-assign]
    out = await rtu.service.fill("OK-1", rtu.scales[0], "op1")
    assert len(seen) >= 2
    assert out.record is not None and out.record.status is lpg.FillStatus.INTERRUPTED
    assert "S1" in out.record.detail
    assert (await lpg.cylinder(rtu.db, "OK-1")).state is lpg.CylinderState.PROBLEM  # type: ignore[union-attr]
    active = {(a.source, a.code) for a in await Alarms(rtu.db).active()}
    assert ("lpg.S1", "scale_fault") in active
    assert not await lpg.fills(rtu.db, [lpg.FillStatus.FILLING])


async def test_a_wrong_register_map_never_fills(rtu: Rig) -> None:
    # scale 2 plays the vendor map; reading it with the default map gives nonsense figures or
    # a register that cannot decode: the fill is interrupted with an alarm, never recorded as done
    wrong = Scale("S2", rtu.scales[1].link, 2, DEFAULT_SCALE_MAP)
    rtu.sims[1].place(16.2)
    out = await rtu.service.fill("OK-1", wrong, "op1")
    assert out.record is not None and out.record.status is lpg.FillStatus.INTERRUPTED
    assert ("lpg.S2", "scale_fault") in {(a.source, a.code) for a in await Alarms(rtu.db).active()}


async def test_open_fills_are_interrupted_at_start_up(rtu: Rig) -> None:
    async with rtu.db.transaction() as tx:
        fid = await lpg.begin_fill_in(tx, barcode="OK-1", scale="S1", operator="op", tare_kg=16.2,
                                      target_kg=30.7, now=dt.datetime.now(dt.UTC))  # fmt: skip
    recovered = await rtu.service.recover()
    assert [r.id for r in recovered] == [fid]
    assert (await lpg.fill(rtu.db, fid)).status is lpg.FillStatus.INTERRUPTED  # type: ignore[union-attr]


async def test_a_malformed_import_changes_nothing(rtu: Rig) -> None:
    before = await lpg.cylinders(rtu.db)
    good_line = "NEW-1,YSP-15,16,2020-01-01,,2030-01-01,,,\n"
    bad = REGISTRY.replace("OK-3,YSP-5,6.1", "OK-3,YSP-5,heavy").replace("OK-1,YSP-15,16.2", "OK-1,YSP-15,17")
    with pytest.raises(BadCylinderFile, match="line 4: tare_kg"):
        await import_csv(rtu.db, bad + good_line, SETTINGS, actor="eng")
    assert await lpg.cylinders(rtu.db) == before  # neither the new line nor the changed tare applied
    assert ("lpg", "bad_import") in {(a.source, a.code) for a in await Alarms(rtu.db).active()}
    result = await import_csv(rtu.db, REGISTRY + good_line, SETTINGS, actor="eng")
    assert (result.added, result.updated) == (1, 7)
    assert ("lpg", "bad_import") not in {(a.source, a.code) for a in await Alarms(rtu.db).active()}
    assert await export_csv(rtu.db) == dump_csv(await lpg.cylinders(rtu.db))
