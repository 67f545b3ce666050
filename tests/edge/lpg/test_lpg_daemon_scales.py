"""The LPG component owns the scales of `[[lpg.scales]]`: built by the daemon's registry, it polls two
simulated scales (one on a pty null modem over Modbus RTU, one over Modbus TCP) through the shared
`ModbusLink`, publishes each scale's live state as a `device` message, and serves fills and the counter
through the real control API with the login's operator and role (real SQLite file, real sockets)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import shutil
import socket
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from control.control_testkit import CONFIG, add_operator, password_of, username_of
from station_sim.modbus import ModbusLink as SimLink
from station_sim.modbus import UnitFaults
from station_sim.scales import SimScale, scale_unit

from edge.config import ConfigError, load_config
from edge.control import messages as m
from edge.control.client import ControlClient
from edge.control.server import ControlServer
from edge.daemon import Station, open_station
from edge.devices.lpg.csvio import parse_csv
from edge.devices.lpg.specs import DEFAULT_SPECS, LpgSettings
from edge.registry import default_registry
from protocol.scale_maps import DEFAULT_SCALE_MAP, VENDOR_SCALE_MAP
from storage import lpg
from storage.audit import AuditLog
from storage.clock import utc_now
from storage.lpg_counter import CustomerKind, CustomerRow, add_customer_in
from tests.support.waiting import wait_until

TODAY = dt.datetime.now(dt.UTC).date()


def day(offset: int) -> str:
    return (TODAY + dt.timedelta(days=offset)).isoformat()


REGISTRY = (
    "barcode,spec,tare_kg,manufactured_on,last_inspection,next_inspection,scrap_on,owner,state\n"
    f"OK-1,YSP-15,16.2,{day(-700)},,{day(400)},,,\n"
    f"OK-2,YSP-5,6.1,{day(-300)},,{day(300)},,,\n"
    f"LATE-1,YSP-15,16.0,{day(-2000)},,{day(-12)},,,\n"
    f"FULL-1,YSP-15,16.0,{day(-700)},,{day(20)},,,full\n"
    f"SCRAP-1,YSP-15,16.0,{day(-4000)},,{day(100)},{day(-1)},,full\n"
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def lpg_table(pty: Path, port: int) -> str:
    return f"""
[lpg]
[[lpg.scales]]
name = "S1"
url = "{pty}"
device_id = 1
map = "station-scale-v1"
baud = 19200
timeout_s = 0.3
poll_s = 0.2
[[lpg.scales]]
name = "S2"
url = "tcp://127.0.0.1:{port}"
device_id = 3
map = "float-swapped"
timeout_s = 0.3
poll_s = 0.2
"""


@dataclass
class Hall:
    station: Station
    sims: dict[str, SimScale]
    faults: dict[str, UnitFaults]
    server: ControlServer
    dir: Path

    async def login(self, role: m.Role) -> tuple[ControlClient, str]:
        client = await ControlClient.connect(self.server.path)
        reply = await client.request(m.Login(username=username_of(role), password=password_of(role)))
        assert isinstance(reply, m.LoginOk), reply
        return client, reply.token


@pytest.fixture
async def hall() -> AsyncIterator[Hall]:
    folder = Path(tempfile.mkdtemp(prefix="lpg", dir="/tmp"))  # a Unix socket path stays short
    port = free_port()
    sims = {
        "S1": SimScale("S1", DEFAULT_SCALE_MAP, rate_kg_s=12.0, overshoot_kg=0.04, noise_kg=0.03, settle_s=0.15),
        "S2": SimScale("S2", VENDOR_SCALE_MAP, rate_kg_s=12.0, overshoot_kg=0.9, noise_kg=0.03, settle_s=0.15),
    }
    faults = {name: UnitFaults() for name in sims}
    rtu = SimLink(str(folder / "scales"), [scale_unit(1, sims["S1"], faults["S1"])], baud=19200)
    tcp = SimLink(f"socket://127.0.0.1:{port}", [scale_unit(3, sims["S2"], faults["S2"])])
    await rtu.start()
    await tcp.start()
    path = folder / "station.toml"
    path.write_text(CONFIG + lpg_table(folder / "scales", port))
    station = await open_station(load_config(path), default_registry())
    async with station.db.transaction() as tx:
        await lpg.upsert_cylinders_in(tx, parse_csv(REGISTRY, LpgSettings(specs=DEFAULT_SPECS)), source="import",
                                      actor="test", now=utc_now())  # fmt: skip
    for role in m.Role:
        await add_operator(station, username_of(role), role, password_of(role))
    server = ControlServer(station, demo=False)
    await server.start()
    [component] = [c for c in station.components if c.name == "lpg"]
    tasks = [asyncio.create_task(server.serve_forever()), asyncio.create_task(component.run())]
    try:
        yield Hall(station, sims, faults, server, folder)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await rtu.stop()
        await tcp.stop()
        await station.db.close()
        shutil.rmtree(folder, ignore_errors=True)


async def scale_states(client: ControlClient, scale: str, until: str, barcode: str | None = None) -> list[m.Device]:
    """The `device` messages of `scale` up to the first in state `until` (for cylinder `barcode`)."""
    seen: list[m.Device] = []
    async with asyncio.timeout(60):
        while True:
            event = await client.next_event(60)
            if isinstance(event, m.Device) and event.kind == "scale" and event.device == scale:
                seen.append(event)
                if event.state == until and barcode in (None, event.fields.get("barcode")):
                    return seen


async def test_fills_through_the_control_api_rtu_and_tcp(hall: Hall) -> None:
    watcher, _ = await hall.login(m.Role.READONLY)
    assert isinstance(await watcher.request(m.Subscribe()), m.Snapshot)
    client, token = await hall.login(m.Role.OPERATOR)
    hall.sims["S1"].place(16.2)
    await scale_states(watcher, "S1", "idle")  # polled while idle

    reply = await client.request(m.LpgFill(token=token, barcode="OK-1", scale="S1"), 60)
    assert isinstance(reply, m.LpgFillResult), reply
    assert (reply.status, reply.operator, reply.scale) == ("done", username_of(m.Role.OPERATOR), "S1")
    [sim_fill] = hall.sims["S1"].ledger
    assert reply.gross_kg is not None and abs(reply.gross_kg - sim_fill.final_gross_kg) <= 0.01
    states = await scale_states(watcher, "S1", "done")
    filling = [s for s in states if s.state == "filling"]
    assert filling and filling[0].fields["target_kg"] == pytest.approx(16.2 + 14.5)
    assert len({s.fields["gross_kg"] for s in filling}) > 3  # the live weight while filling
    assert states[-1].fields["net_kg"] == pytest.approx(reply.net_kg)
    [row] = await lpg.fills(hall.station.db, [lpg.FillStatus.DONE])
    assert (row.barcode, row.scale, row.operator, row.gross_kg) == ("OK-1", "S1", "operator1", reply.gross_kg)

    # over TCP, a vendor-map scale whose valve closes late: over-filled and flagged
    hall.sims["S2"].place(6.1)
    await scale_states(watcher, "S2", "idle")
    reply = await client.request(m.LpgFill(token=token, barcode="OK-2", scale="S2"), 60)
    assert isinstance(reply, m.LpgFillResult) and reply.status == "overfilled", reply
    assert "over-filled" in reply.reason
    assert (await lpg.cylinder(hall.station.db, "OK-2")).state is lpg.CylinderState.PROBLEM  # type: ignore[union-attr]
    over = await scale_states(watcher, "S2", "overfilled")
    assert "over-filled" in str(over[-1].fields["message"])

    # refusals: in words, on the scale's state, the valve never opened
    for barcode, words in (("LATE-1", "overdue"), ("NOPE-9", "not in the registry"), ("SCRAP-1", "scrapped")):
        reply = await client.request(m.LpgFill(token=token, barcode=barcode, scale="S1"), 30)
        assert isinstance(reply, m.LpgFillResult) and reply.status == "refused", reply
        assert words in reply.reason, reply
        refused = await scale_states(watcher, "S1", "refused", barcode)
        assert refused[-1].fields["barcode"] == barcode and words in str(refused[-1].fields["message"])
    assert len(hall.sims["S1"].ledger) == 1
    audit = [(r.action, r.outcome.value, r.target) for r in await AuditLog(hall.station.db).recent(20)]
    assert ("lpg.fill", "refused", "NOPE-9") in audit
    assert any(a.code == "unknown_cylinder" for a in await hall.station.alarms.active())

    # an unknown scale, a busy scale: clear errors
    reply = await client.request(m.LpgFill(token=token, barcode="OK-1", scale="S9"), 30)
    assert isinstance(reply, m.Error) and "no scale 'S9'" in reply.message
    for c in (client, watcher):
        await c.close()


async def test_a_fill_started_without_waiting_outlives_its_client(hall: Hall) -> None:
    client, token = await hall.login(m.Role.SENIOR)
    hall.sims["S1"].place(16.2)
    reply = await client.request(m.LpgFill(token=token, barcode="OK-1", scale="S1", wait=False), 30)
    assert isinstance(reply, m.LpgFillResult) and reply.status == "filling", reply
    busy = await client.request(m.LpgFill(token=token, barcode="OK-2", scale="S1"), 30)
    assert isinstance(busy, m.Error) and "is filling cylinder OK-1" in busy.message
    await client.close()

    async def done() -> list[lpg.FillRow]:
        return await lpg.fills(hall.station.db, [lpg.FillStatus.DONE])

    [row] = await wait_until(done, 60, "the fill finished after its client left")
    assert row.operator == username_of(m.Role.SENIOR)


async def test_an_offline_scale_is_shown_and_alarmed_then_cleared(hall: Hall) -> None:
    watcher, _ = await hall.login(m.Role.READONLY)
    assert isinstance(await watcher.request(m.Subscribe()), m.Snapshot)
    await scale_states(watcher, "S2", "idle")
    hall.faults["S2"].offline = True
    offline = await scale_states(watcher, "S2", "offline")
    assert "device 3" in str(offline[-1].fields["message"])

    async def alarm() -> bool:
        return any(a.code == "scale_offline" and a.source == "lpg.S2" for a in await hall.station.alarms.active())

    await wait_until(alarm, 30, "the scale_offline alarm")
    hall.faults["S2"].offline = False
    await scale_states(watcher, "S2", "idle")
    await wait_until(lambda: asyncio.ensure_future(_not(alarm())), 30, "the alarm cleared")
    await watcher.close()


async def _not(value: object) -> bool:
    return not await value  # type: ignore[misc]


async def test_counter_through_the_control_api_with_roles(hall: Hall) -> None:
    async with hall.station.db.transaction() as tx:
        overdue = await add_customer_in(tx, CustomerRow(0, CustomerKind.RESIDENT, "张三", "110101199001011234", "",
                                                        "13800000000", "A路1号", "A路1号", "C-001",
                                                        TODAY - dt.timedelta(days=400)), now=utc_now())  # fmt: skip
    operator, op_token = await hall.login(m.Role.OPERATOR)
    senior, senior_token = await hall.login(m.Role.SENIOR)
    readonly, ro_token = await hall.login(m.Role.READONLY)
    audit = AuditLog(hall.station.db)

    masked = await operator.request(m.LpgCustomer(token=op_token, key="C-001"))
    assert isinstance(masked, m.LpgCustomerView), masked
    assert masked.id_number == "110101********1234" and "overdue" in masked.warning
    full = await senior.request(m.LpgCustomer(token=senior_token, key="110101199001011234"))
    assert isinstance(full, m.LpgCustomerView) and full.id_number == "110101199001011234"
    reads = [r for r in await audit.recent(10) if r.action == "lpg.customer.read_id"]
    assert [r.actor for r in reads] == ["senior1"]
    missing = await operator.request(m.LpgCustomer(token=op_token, key="nobody"))
    assert isinstance(missing, m.Error) and missing.code == m.ErrorCode.NOT_FOUND

    refused = await operator.request(m.LpgHandout(token=op_token, customer_id=overdue, barcodes=("FULL-1", "LATE-1")))
    assert isinstance(refused, m.Error) and refused.code == m.ErrorCode.CONFLICT
    assert "LATE-1" in refused.message and "overdue" in refused.message
    receipt = await operator.request(m.LpgHandout(token=op_token, customer_id=overdue, barcodes=("FULL-1",),
                                                  deposit_cents=10000))  # fmt: skip
    assert isinstance(receipt, m.LpgReceipt), receipt
    assert any("overdue" in w for w in receipt.warnings) and any("due in 20 days" in w for w in receipt.warnings)
    actions = [(r.action, r.outcome.value, r.actor) for r in await audit.recent(10)]
    assert ("lpg.handout", "refused", "operator1") in actions and ("lpg.handout", "ok", "operator1") in actions
    looked = await operator.request(m.LpgCustomer(token=op_token, key="C-001"))
    assert isinstance(looked, m.LpgCustomerView) and looked.cylinders_out == ("FULL-1",)

    back = await operator.request(m.LpgReturn(token=op_token, customer_id=overdue, barcodes=("FULL-1",),
                                              residual_kg={"FULL-1": 0.4}))  # fmt: skip
    assert isinstance(back, m.LpgReceipt) and back.direction == "in" and back.residual_kg == pytest.approx(0.4)
    again = await operator.request(m.LpgReturn(token=op_token, customer_id=overdue, barcodes=("FULL-1",)))
    assert isinstance(again, m.Error) and "not handed out to this customer" in again.message

    store = await readonly.request(m.LpgStore(token=ro_token))
    assert isinstance(store, m.LpgStoreView)
    assert {(r.state, r.spec): r.count for r in store.rows}[("empty", "YSP-15")] == 3  # OK-1, LATE-1, FULL-1

    for request in (m.LpgFill(barcode="OK-1", scale="S1"), m.LpgHandout(customer_id=overdue, barcodes=("OK-1",)),
                    m.LpgCustomer(key="C-001"), m.LpgReturn(customer_id=overdue, barcodes=("OK-1",))):  # fmt: skip
        reply = await readonly.request(dataclasses.replace(request, token=ro_token))
        assert isinstance(reply, m.Error) and reply.code == m.ErrorCode.FORBIDDEN, reply
        [row] = (await audit.recent(1))
        assert (row.action, row.outcome.value, row.actor) == (request.TYPE, "refused", "readonly1")
    for c in (operator, senior, readonly):
        with contextlib.suppress(Exception):
            await c.close()


@pytest.mark.parametrize(
    ("scales", "words"),
    [
        ('[[lpg.scales]]\nname = "S1"\nurl = "/dev/null"\nmap = "nope"\n', "unknown register map 'nope'"),
        ('[[lpg.scales]]\nname = "S1"\nurl = "tcp://h"\n', "no valid port"),
        ('[[lpg.scales]]\nname = "S1"\nurl = "/dev/x"\n[[lpg.scales]]\nname = "S1"\nurl = "/dev/y"\n', "used by another"),
        ('[[lpg.scales]]\nname = "S1"\nurl = "/dev/x"\ndevice_id = 0\n', "device_id"),
        ('[[lpg.scales]]\nname = "S1"\nurl = "/dev/x"\ncolour = 1\n', "unknown key"),
    ],
)
def test_bad_scale_tables_are_named(tmp_path: Path, scales: str, words: str) -> None:
    path = tmp_path / "station.toml"
    path.write_text(CONFIG + "\n[lpg]\n" + scales)
    from edge.devices.lpg.component import configure

    with pytest.raises(ConfigError) as info:
        configure(load_config(path))
    assert any(words in p and "lpg.scales[" in p for p in info.value.problems), info.value.problems


async def test_cli_fill_customer_handout_return_through_the_daemon(
    hall: Hall, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io
    import json

    from edge.cli import main

    async with hall.station.db.transaction() as tx:
        cid = await add_customer_in(tx, CustomerRow(0, CustomerKind.RESIDENT, "李四", "110101198001011111", "",
                                                    "139", "B路2号", "B路2号", "C-009",
                                                    TODAY - dt.timedelta(days=30)), now=utc_now())  # fmt: skip

    async def cli(*argv: str, password: str = password_of(m.Role.OPERATOR)) -> tuple[int, str, str]:
        monkeypatch.setattr("sys.stdin", io.StringIO(password + "\n"))
        code = await asyncio.to_thread(main, ["lpg", *argv, "--socket", str(hall.server.path), "--user",
                                              username_of(m.Role.OPERATOR), "--password-stdin"])  # fmt: skip
        out = capsys.readouterr()
        return code, out.out, out.err

    hall.sims["S1"].place(16.2)
    code, out, _ = await cli("fill", "OK-1", "--scale", "S1", "--json")
    reply = json.loads(out)
    assert code == 0 and reply["type"] == "lpg_fill" and reply["status"] == "done" and reply["operator"] == "operator1"
    assert abs(reply["gross_kg"] - hall.sims["S1"].ledger[-1].final_gross_kg) <= 0.01
    code, _, err = await cli("fill", "LATE-1", "--scale", "S1")
    assert code == 2 and "overdue" in err
    code, out, _ = await cli("customer", "C-009")
    assert code == 0 and "110101********1111" in out and "李四" in out
    code, _, err = await cli("handout", str(cid), "OK-1", "SCRAP-1")
    assert code == 2 and "SCRAP-1" in err and "scrapped" in err
    code, out, _ = await cli("handout", str(cid), "OK-1", "--json")
    assert code == 0 and json.loads(out)["direction"] == "out"
    code, out, _ = await cli("return", str(cid), "OK-1", "--residual", "OK-1=0.3", "--json")
    assert code == 0 and json.loads(out)["residual_kg"] == pytest.approx(0.3)
    code, _, err = await cli("customer", "C-009", password="wrong")
    assert code == 2 and "login refused" in err
