"""The daily close through the control API: refused (and why) while a shift is open, a dispenser is
offline, a record gap is open or a sale of the day is not recorded; then closed once, frozen, with later
records of the day as adjustments, never edits."""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3

import pytest
from control_testkit import store

from edge.control import messages as m
from edge.control.client import ControlClient
from edge.control.dayclose import SalesInProgress
from edge.daemon import Station
from edge.events import NozzleState, NozzleStatus, SaleStored
from storage import shifts
from storage.clock import utc_now
from storage.errors import StorageError

DAY = dt.date(2026, 11, 21)  # control_testkit's records are at 2026-11-21 08:30


async def login(client: ControlClient, username: str, password: str) -> str:
    reply = await client.request(m.Login(username=username, password=password))
    assert isinstance(reply, m.LoginOk), reply
    return reply.token


def stored(dispenser: int, pos_ttc: int, t_type: int, nzn: int) -> SaleStored:
    return SaleStored(
        line="bus1", dispenser=dispenser, pos_ttc=pos_ttc, t_type=t_type, nzn=nzn, asn="", amn=0, vol=0, prc=0,
        g_code="0092", emp=255, time="", at=dt.datetime.now(),
    )  # fmt: skip


def online(station: Station) -> None:
    for sessions in station.sessions.values():
        for s in sessions:
            s.online = True


async def close(client: ControlClient, token: str, day: dt.date = DAY) -> m.Reply:
    return await client.request(m.CloseDay(token=token, day=day.isoformat()))


async def test_refusals_name_what_is_in_the_way_then_the_close_freezes_the_day(
    server, station: Station, operators, connect
) -> None:
    client = await connect()
    token = await login(client, "senior1", "pw-senior-1")
    d1, d2 = station.sessions["bus1"]
    await store(d1, 1, amn=7_500, vol=1_000)
    await store(d1, 2, amn=2_000, vol=300, unit=0x10)  # ticket

    reply = await close(client, token)  # both dispensers offline (never answered)
    assert isinstance(reply, m.Error) and reply.code == m.ErrorCode.CONFLICT
    assert "bus1/1 offline" in reply.message and "bus1/2 offline" in reply.message

    online(station)
    async with station.db.transaction() as tx:
        opened = await shifts.open_in(tx, "operator1", [], now=utc_now())
    reply = await close(client, token)
    assert isinstance(reply, m.Error) and f"shift {opened.id}" in reply.message and "operator1" in reply.message
    async with station.db.transaction() as tx:
        await tx.execute("UPDATE shifts SET closed_at = ? WHERE closed_at IS NULL", (utc_now().isoformat(),))

    await store(d2, 1, amn=1_000, vol=100)
    await store(d2, 5, amn=1_000, vol=100)  # POS_TTC 2..4 of dispenser 2 are missing
    await station.journal.note_gaps("bus1", 2, 5)
    reply = await close(client, token)
    assert isinstance(reply, m.Error) and "bus1/2 has not sent POS_TTC 2, 3, 4" in reply.message
    for pos_ttc in (2, 3, 4):
        await station.journal.mark_gap_absent("bus1", 2, pos_ttc)

    service = station.day_close
    service.sales.feed(NozzleStatus("bus1", 1, 2, NozzleState.FUELLING, at=dt.datetime(2026, 11, 21, 23, 59, 50)))
    reply = await close(client, token)
    assert isinstance(reply, m.Error) and "bus1/1 nozzle 2: sale since 2026-11-21 23:59:50" in reply.message
    service.sales.feed(stored(1, 3, 0x10, 2))

    operator = await connect()
    refused = await close(operator, await login(operator, "operator1", "pw-operator-1"))
    assert isinstance(refused, m.Error) and refused.code == m.ErrorCode.FORBIDDEN

    reply = await close(client, token)
    assert isinstance(reply, m.DayClosed), reply
    assert (reply.day, reply.records, reply.volume, reply.amount) == ("2026-11-21", 4, 1_500, 11_500)
    assert reply.closed_by == "senior1" and len(reply.digest) == 64
    assert "日报表  2026-11-21" in reply.text and "按支付方式" in reply.text  # the station's language
    again = await close(client, token)
    assert isinstance(again, m.Error) and "already closed" in again.message
    report = await client.request(m.GetPeriodReport(token=token, kind="day", value="2026-11-21"))
    assert isinstance(report, m.PeriodReport) and report.closed_by == "senior1" and report.verified
    assert (report.total.count, report.total.volume, report.total.amount) == (4, 1_500, 11_500)
    payments = next(s for s in report.sections if s.dimension == "payment")
    assert {r.key: r.amount for r in payments.rows} == {"cash": 9_500, "ticket": 2_000}
    assert payments.title == "按支付方式" and {r.key: r.label for r in payments.rows} == {"cash": "现金", "ticket": "油票"}
    # a field engineer asks in English: the same keys and figures, English words
    english = await client.request(m.GetPeriodReport(token=token, kind="day", value="2026-11-21", language="en"))
    assert isinstance(english, m.PeriodReport) and "DAY REPORT  2026-11-21" in english.text
    en_payments = next(s for s in english.sections if s.dimension == "payment")
    assert en_payments.title == "By payment mode" and [r.label for r in en_payments.rows] == ["cash", "ticket"]
    assert [(r.key, r.count, r.volume, r.amount) for r in en_payments.rows] == [
        (r.key, r.count, r.volume, r.amount) for r in payments.rows
    ]

    # frozen: the database refuses an edit
    with pytest.raises(StorageError):
        async with station.db.transaction() as tx:
            await tx.execute("UPDATE day_closes SET amount = 0")
    # a record of the closed day arriving late is an adjustment, noted at the next close
    await store(d1, 3, amn=900, vol=120)
    nxt = await close(client, token, DAY + dt.timedelta(days=1))
    assert isinstance(nxt, m.DayClosed) and nxt.records == 0 and nxt.adjustments == 1
    conn = sqlite3.connect(station.db.path)
    try:
        assert conn.execute("SELECT day, amount, volume FROM day_adjustments").fetchall() == [("2026-11-21", 900, 120)]
        assert conn.execute("SELECT amount FROM day_closes WHERE day = '2026-11-21'").fetchone() == (11_500,)
    finally:
        conn.close()
    # an operator who reads English (`station operators language senior1 en`) gets the report in English
    # without asking; the figures and keys are the same
    from storage.operators import set_language_in

    async with station.db.transaction() as tx:
        await set_language_in(tx, "senior1", "en")
    english_client = await connect()
    english_token = await login(english_client, "senior1", "pw-senior-1")
    report = await english_client.request(m.GetPeriodReport(token=english_token, kind="day", value="2026-11-21"))
    assert isinstance(report, m.PeriodReport) and report.text.startswith("DAY REPORT  2026-11-21")
    assert report.closed_by == "senior1" and (report.total.count, report.total.amount) == (4, 11_500)


def test_a_sale_in_progress_is_tracked_from_its_start_until_its_record() -> None:
    sales = SalesInProgress()
    start = dt.datetime(2026, 12, 3, 5, 59, 58)
    sales.feed(NozzleStatus("bus1", 1, 2, NozzleState.NOZZLE_UP, at=start))
    sales.feed(NozzleStatus("bus1", 1, 2, NozzleState.FUELLING, at=start + dt.timedelta(seconds=5)))
    sales.feed(NozzleStatus("bus1", 1, 2, NozzleState.FINISHED, at=start + dt.timedelta(seconds=9)))
    boundary = dt.datetime(2026, 12, 3, 6, 0, 0)
    assert sales.started_before(boundary) == {("bus1", 1, 2): start}
    sales.feed(stored(1, 9, 0x15, 2))  # on-duty: not the sale's record
    assert sales.started_before(boundary) == {("bus1", 1, 2): start}
    sales.feed(stored(1, 10, 0x10, 2))
    assert sales.started_before(boundary) == {}
    sales.feed(NozzleStatus("bus1", 1, 1, NozzleState.FUELLING, at=boundary + dt.timedelta(seconds=1)))
    assert sales.started_before(boundary) == {}  # started after the boundary: the next day's
    sales.feed(NozzleStatus("bus1", 1, 1, NozzleState.IDLE, at=boundary + dt.timedelta(seconds=3)))
    assert sales.since == {}


async def test_the_day_close_command_speaks_the_language_asked_for_else_the_operators(
    server, station: Station, operators, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`station day close --print`: the summary and the day's report in Chinese for the station's
    manager, in English with `--language en`; the same figures."""
    import io
    import sys

    from edge.cli import build_parser
    from edge.commands import day as day_command

    monkeypatch.delenv("STATION_LANGUAGE", raising=False)
    d1, _ = station.sessions["bus1"]
    await store(d1, 1, amn=7_500, vol=1_000)
    await store(d1, 2, amn=2_000, vol=300, unit=0x30)  # bank card
    online(station)

    def run(*extra: str, day: dt.date) -> int:
        args = build_parser().parse_args(
            ["day", "close", day.isoformat(), "--config", str(station.config.path), "--user", "senior1",
             "--password-stdin", "--print", *extra]
        )  # fmt: skip
        monkeypatch.setattr(sys, "stdin", io.StringIO("pw-senior-1\n"))
        return day_command.run(args)

    assert await asyncio.to_thread(run, day=DAY) == 0
    out = capsys.readouterr().out
    assert out.startswith("营业日 2026-11-21 已由 senior1 日结：2 笔，数量 13.00，金额 ¥95.00")
    assert "日报表  2026-11-21" in out and "银行卡" in out and "按支付方式" in out
    assert await asyncio.to_thread(run, "--language", "en", day=DAY + dt.timedelta(days=1)) == 0
    out = capsys.readouterr().out
    assert out.startswith("business day 2026-11-22 closed by senior1: 0 records, volume 0.00, amount ¥0.00")
    assert "DAY REPORT  2026-11-22" in out and "(no records)" in out
