"""Shifts: open, hand over and report through the control API, with the dispensers' totals read (0x38),
duty records, payment modes, a totalizer difference flagged and a forced off-duty; the audit log."""

from __future__ import annotations

import asyncio
import csv
import io
import sqlite3

import pytest
from control_testkit import EMPLOYEE_ASN, VERIFY_ASN, answer_totals, store

from edge.control import messages as m
from edge.control.client import ControlClient
from edge.control.server import ControlServer
from edge.daemon import Station
from protocol.i18n import cells
from protocol.messages import NozzleTotal, Totals
from storage.audit import AuditLog
from storage.clock import utc_now
from storage.errors import StorageError
from storage.shift_render import REPORT_WIDTH
from storage.shifts import ShiftStore


async def login(client: ControlClient, username: str = "operator1", password: str = "pw-operator-1") -> str:
    reply = await client.request(m.Login(username=username, password=password))
    assert isinstance(reply, m.LoginOk), reply
    return reply.token


async def with_totals(
    server: ControlServer, request: m.Request, client: ControlClient, answers: dict[int, dict[int, int]]
) -> m.Reply:
    """Send a request that reads the totals and play the dispensers answering it."""
    sessions = {s.pos_p: s for s in server.station.sessions["bus1"]}
    players = [asyncio.create_task(answer_totals(server.shifts, sessions[d], t)) for d, t in answers.items()]
    reply = await client.request(request)
    await asyncio.gather(*players)
    return reply


async def test_handover_report_per_nozzle_and_employee(
    server: ControlServer, station: Station, operators, connect
) -> None:
    d1, d2 = station.sessions["bus1"]
    d1.online = d2.online = True
    client = await connect()
    token = await login(client)
    await client.request(m.Subscribe())

    opened = await with_totals(
        server,
        m.OpenShift(token=token, note="morning"),
        client,
        {1: {1: 100_000, 2: 50_000}, 2: {3: 20_000, 4: 0}},
    )
    assert isinstance(opened, m.Shifts) and opened.shifts[0].opened_by == "operator1"
    shift_event = await client.wait_for(m.Shift)
    assert shift_event.shift is not None and shift_event.shift.id == opened.shifts[0].id

    await store(d1, 1, t_type=0x05, asn=EMPLOYEE_ASN, emp=12, v_tot=100_000, vol=0, amn=0)
    await store(d1, 2, nzn=1, vol=1_000, amn=7_500, unit=0x00, emp=12)  # cash
    await store(d1, 3, nzn=1, vol=1_000, amn=7_500, unit=0x30, emp=12)  # bank card
    await store(d1, 4, nzn=1, vol=1_000, amn=7_500, unit=0x20, emp=12)  # credit
    await store(d1, 5, nzn=1, t_type=0x01, vol=500, amn=3_750, emp=12)  # grey: fuel out, money owed
    await store(d1, 6, nzn=0, t_type=0x08, g_code="0000", vol=0, amn=0)  # price receipt: not a sale
    await store(
        d1, 7, nzn=2, g_code="0095", vol=2_000, amn=16_200, prc=810, unit=0x10
    )  # ticket, nobody on duty
    await store(d2, 1, nzn=3, t_type=0x07, vol=1_000, amn=7_500)  # cash sale without a card
    await store(d1, 8, t_type=0x06, asn=VERIFY_ASN, emp=12, v_tot=103_500, vol=0, amn=0)  # forced off duty

    closed = await with_totals(
        server,
        m.CloseShift(token=token, handover_to="senior1", language="en"),  # an English-speaking engineer
        client,
        {1: {1: 103_500, 2: 52_000}, 2: {3: 21_100, 4: 0}},
    )
    assert isinstance(closed, m.Report) and closed.report is not None
    report = closed.report
    assert report.final and report.shift.closed_by == "operator1" and report.shift.handed_to == "senior1"

    rows = {(n.dispenser, n.nzn): n for n in report.nozzles}
    n1 = rows[(1, 1)]
    assert (n1.start_v_tot, n1.end_v_tot, n1.meter_vol) == (100_000, 103_500, 3_500)
    assert (n1.sales_count, n1.sales_vol, n1.sales_amn, n1.difference, n1.flagged) == (
        4,
        3_500,
        26_250,
        0,
        False,
    )
    assert {p.mode: (p.count, p.vol, p.amn) for p in n1.payments} == {
        "cash": (1, 1_000, 7_500),
        "bank_card": (1, 1_000, 7_500),
        "credit": (1, 1_000, 7_500),
        "grey_unpaid": (1, 500, 3_750),
    }
    assert (rows[(1, 2)].meter_vol, rows[(1, 2)].sales_vol, rows[(1, 2)].flagged) == (2_000, 2_000, False)
    n3 = rows[(2, 3)]
    assert (n3.meter_vol, n3.sales_vol, n3.difference, n3.flagged) == (1_100, 1_000, 100, True)
    assert (rows[(2, 4)].meter_vol, rows[(2, 4)].sales_count, rows[(2, 4)].flagged) == (0, 0, False)
    assert report.flagged == 1 and report.sales_count == 6 and report.sales_vol == 6_500

    employees = {e.emp: e for e in report.employees}
    e12 = employees[12]
    assert (e12.sales_count, e12.sales_vol, e12.meter_vol, e12.difference, e12.flagged) == (
        4,
        3_500,
        3_500,
        0,
        False,
    )
    (duty,) = e12.duties
    assert (duty.nzn, duty.start_v_tot, duty.end_v_tot, duty.forced, duty.off_asn) == (
        1,
        100_000,
        103_500,
        True,
        VERIFY_ASN,
    )
    assert employees[255].sales_count == 2 and employees[255].difference is None

    assert f"FORCED OFF (verification card {VERIFY_ASN})" in report.text
    assert "! bus1/2/3: totalizer moved 11.00, records 10.00: difference 1.00" in report.text
    assert "1 difference(s) flagged." in report.text
    assert max(len(line) for line in report.text.splitlines()) <= REPORT_WIDTH, report.text
    table = list(csv.DictReader(io.StringIO(report.csv)))
    nozzle3 = next(r for r in table if r["section"] == "nozzle" and r["nzn"] == "3")
    assert (nozzle3["meter_volume"], nozzle3["volume"], nozzle3["difference"], nozzle3["flagged"]) == (
        "11.00", "10.00", "1.00", "1",
    )  # fmt: skip
    assert {r["mode"] for r in table if r["section"] == "payment"} == {
        "cash", "bank_card", "credit", "grey_unpaid", "ticket",
    }  # fmt: skip

    # the handover opened the next shift for senior1 at the same totals
    store_ = ShiftStore(station.db)
    current = await store_.current()
    assert current is not None and current.opened_by == "senior1" and current.id != report.shift.id
    assert {(r.nzn, r.v_tot) for r in await store_.readings(current.id, "start")} == {
        (1, 103_500), (2, 52_000), (3, 21_100), (4, 0),
    }  # fmt: skip

    # the frozen report is what get_report gives for the closed shift
    again = await client.request(m.GetReport(token=token, shift_id=report.shift.id, language="en"))
    assert isinstance(again, m.Report) and again.report == report
    # the same frozen report for the attendant: the station's language (Chinese), text and CSV
    chinese = await client.request(m.GetReport(token=token, shift_id=report.shift.id))
    assert isinstance(chinese, m.Report) and chinese.report is not None
    zh = chinese.report
    assert (zh.nozzles, zh.employees, zh.sales_amn) == (report.nozzles, report.employees, report.sales_amn)
    assert zh.text.startswith(f"交接班报表  #{report.shift.id}  （正式）")
    assert "! bus1/2/3：泵码量 11.00，交易记录 10.00：差异 1.00" in zh.text
    assert f"强制下班（校验卡 {VERIFY_ASN}）" in zh.text and "1 处差异已标记。" in zh.text
    assert max(cells(line) for line in zh.text.splitlines()) <= REPORT_WIDTH, zh.text
    zh_table = list(csv.DictReader(io.StringIO(zh.csv)))
    zh_nozzle3 = next(r for r in zh_table if r["分类"] == "油枪" and r["枪号"] == "3")
    assert (zh_nozzle3["泵码量"], zh_nozzle3["数量"], zh_nozzle3["差异"]) == ("11.00", "10.00", "1.00")
    assert {r["支付方式"] for r in zh_table if r["分类"] == "支付"} == {
        "现金",
        "银行卡",
        "记账",
        "灰交易未付",
        "油票",
    }
    # what is stored (and was sent to the centre) stays in the neutral source language
    frozen = await store_.stored_report(report.shift.id)
    assert frozen is not None and frozen["text"].startswith("SHIFT HANDOVER REPORT")

    actions = [(r.action, r.outcome.value, r.target) for r in await AuditLog(station.db).recent(3)]
    assert actions == [
        ("open_shift", "ok", f"shift {current.id}"),
        ("close_shift", "ok", f"shift {report.shift.id}"),
        ("open_shift", "ok", f"shift {report.shift.id}"),
    ]


async def test_offline_dispenser_uses_the_last_stored_totals(
    server: ControlServer, station: Station, operators, connect
) -> None:
    d1 = station.sessions["bus1"][0]
    await station.journal.store_totals(
        "bus1", 2, Totals((NozzleTotal(3, 7_000), NozzleTotal(4, 8_000))), utc_now()
    )
    d1.online = True  # d2 stays offline: nobody waits for it
    client = await connect()
    token = await login(client)
    reply = await with_totals(server, m.ReadTotals(token=token), client, {1: {1: 10, 2: 20}})
    assert isinstance(reply, m.Totals)
    assert [(r.dispenser, r.nzn, r.v_tot, r.fresh) for r in reply.readings] == [
        (1, 1, 10, True), (1, 2, 20, True), (2, 3, 7_000, False), (2, 4, 8_000, False),
    ]  # fmt: skip


async def test_provisional_report_of_the_open_shift(
    server: ControlServer, station: Station, operators, connect
) -> None:
    client = await connect()
    token = await login(client)
    none_open = await client.request(m.GetReport(token=token))
    assert isinstance(none_open, m.Error) and none_open.code == m.ErrorCode.NOT_FOUND
    assert isinstance(await client.request(m.OpenShift(token=token)), m.Shifts)
    await store(station.sessions["bus1"][0], 1, vol=1_234, amn=9_255)
    reply = await client.request(m.GetReport(token=token))
    assert isinstance(reply, m.Report) and reply.report is not None
    assert not reply.report.final and reply.report.sales_vol == 1_234
    assert "（临时）" in reply.report.text  # a station speaks Chinese unless configured otherwise
    english = await client.request(m.GetReport(token=token, language="en"))
    assert isinstance(english, m.Report) and english.report is not None
    assert "(provisional)" in english.report.text
    listing = await client.request(m.ListShifts(token=token))
    assert isinstance(listing, m.Shifts) and len(listing.shifts) == 1 and listing.shifts[0].open


async def test_shift_conflicts(server: ControlServer, station: Station, operators, connect) -> None:
    client = await connect()
    token = await login(client)
    nothing = await client.request(m.CloseShift(token=token))
    assert isinstance(nothing, m.Error) and nothing.code == m.ErrorCode.CONFLICT
    assert isinstance(await client.request(m.OpenShift(token=token)), m.Shifts)
    twice = await client.request(m.OpenShift(token=token))
    assert isinstance(twice, m.Error) and twice.code == m.ErrorCode.CONFLICT
    nobody = await client.request(m.CloseShift(token=token, handover_to="ghost"))
    assert isinstance(nobody, m.Error) and nobody.code == m.ErrorCode.NOT_FOUND
    assert (await ShiftStore(station.db).current()) is not None  # nothing closed
    rows = await AuditLog(station.db).recent(3)
    assert [(r.action, r.outcome.value) for r in rows] == [
        ("close_shift", "failed"), ("open_shift", "failed"), ("open_shift", "ok"),
    ]  # fmt: skip


async def test_audit_log_is_append_only_and_chained(station: Station) -> None:
    audit = AuditLog(station.db)
    for i in range(3):
        await audit.append(actor="admin1", action="add_operator", target=f"op{i}")
    assert await audit.verify() == []
    for sql in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
        with pytest.raises(StorageError, match="append-only"):
            async with station.db.transaction() as tx:
                await tx.execute(sql)
    # a tool that bypasses the triggers is still caught by the hash chain
    conn = sqlite3.connect(station.db.path)
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("UPDATE audit_log SET target = 'someone else' WHERE id = 2")
    conn.commit()
    conn.close()
    assert await audit.verify() == [2]


async def test_shift_records_queued_for_the_centre_in_the_shift_transaction(
    server: ControlServer, station: Station, operators, connect
) -> None:
    from storage.outbox import Outbox
    from uplink.messages import CentreMessages, MessageFactory

    # The centre outbox a station with an [uplink] table has; only the network side is absent.
    station.outbox = CentreMessages(MessageFactory(station.config.station.id))
    d1, d2 = station.sessions["bus1"]
    d1.online = d2.online = True
    client = await connect()
    token = await login(client)
    answers = {1: {1: 100_000, 2: 50_000}, 2: {3: 20_000, 4: 0}}
    await with_totals(server, m.OpenShift(token=token), client, answers)
    await with_totals(server, m.CloseShift(token=token), client, answers)
    messages = [msg for _, msg in await Outbox(station.db).peek(100) if b'"shift"' in msg.payload]
    events = [b'"open"' in msg.payload for msg in messages], [b'"close"' in msg.payload for msg in messages]
    assert len(messages) == 2
    assert events == ([True, False], [False, True])
    assert all(msg.topic.startswith(f"station/{station.config.station.id}/") for msg in messages)


async def test_an_operator_with_their_own_language_gets_it(
    server: ControlServer, station: Station, operators, connect
) -> None:
    """A field engineer at a Chinese station: their login says English, and so does their report."""
    from storage import operators as ops

    async with station.db.transaction() as tx:
        await ops.set_language_in(tx, "operator1", "en")
    client = await connect()
    assert client.hello is not None and client.hello.language == "zh_CN"
    reply = await client.request(m.Login(username="operator1", password="pw-operator-1"))
    assert isinstance(reply, m.LoginOk) and reply.operator.language == "en"
    assert isinstance(await client.request(m.OpenShift(token=reply.token)), m.Shifts)
    report = await client.request(m.GetReport(token=reply.token))
    assert isinstance(report, m.Report) and report.report is not None
    assert report.report.text.startswith("SHIFT HANDOVER REPORT")
    senior = await login(client, "senior1", "pw-senior-1")
    theirs = await client.request(m.GetReport(token=senior))
    assert isinstance(theirs, m.Report) and theirs.report is not None
    assert theirs.report.text.startswith("交接班报表")
