"""Languages in the terminal UI: the station's before login, the operator's after, `f2` by hand; the
same refusal read in Chinese and in English; the shift report in Chinese on screen, as text and CSV."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from test_tui_station import logged_in
from tui_fake_daemon import FakeDaemon, T
from tui_testkit import login, make_app, screen_text, until

from edge.control import messages as m
from tui.i18n import language
from tui.screens.login import LoginScreen
from tui.screens.main import MainScreen
from tui.screens.report import ReportScreen
from tui.widgets.decisions import DecisionsPanel

EXPIRED = m.Decision(
    line="p2p1", dispenser=4, nzn=7, asn="10000101100000000501", allowed=False, reason="cylinder_expired",
    words="Vehicle gas cylinder inspection has expired. Do not fill; the vehicle needs a new inspection. "
          "Inspection was due on 2020-01-31.",
    detail="Inspection was due on {date}.", detail_facts={"date": "2020-01-31"}, at=T,
)  # fmt: skip


@pytest.mark.parametrize(
    ("station", "title"), [("zh_CN", "操作员登录"), ("en", "Operator login")], ids=["zh_CN", "en"]
)
async def test_the_login_screen_speaks_the_stations_language(
    daemon: FakeDaemon, socket_path: Path, station: str, title: str
) -> None:
    daemon.language = station
    app = make_app(socket_path, language=None)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.link == "online" and title in screen_text(app))
        assert language() == station


async def test_attendant_in_chinese_engineer_in_english_from_the_same_decision(
    daemon: FakeDaemon, socket_path: Path
) -> None:
    daemon.language = "zh_CN"
    daemon.snapshot = dataclasses.replace(daemon.snapshot, decisions=(EXPIRED,))
    app = make_app(socket_path, language=None)
    async with app.run_test(size=(160, 48)) as pilot:
        await until(pilot, lambda: "操作员登录" in screen_text(app))
        await login(pilot, "senior1", "pw-senior-1")
        await until(pilot, lambda: isinstance(app.screen, MainScreen) and "空闲" in screen_text(app))
        await pilot.press("6")
        await pilot.press("end")
        detail = app.screen.query_one(DecisionsPanel).query_one("#decision-detail")
        await until(pilot, lambda: "车辆气瓶检验已过期" in str(detail.render()))
        assert "检验到期日为 2020-01-31。" in str(detail.render())
        assert "拒绝" in screen_text(app) and "cylinder_expired" in str(detail.render())

        await pilot.press("ctrl+l")
        await until(pilot, lambda: isinstance(app.screen, LoginScreen) and "操作员登录" in screen_text(app))
        await login(pilot, "engineer", "pw-engineer-1")
        await until(pilot, lambda: isinstance(app.screen, MainScreen) and "IDLE" in screen_text(app))
        await pilot.press("6")
        await pilot.press("end")
        detail = app.screen.query_one(DecisionsPanel).query_one("#decision-detail")
        await until(pilot, lambda: "Vehicle gas cylinder inspection has expired" in str(detail.render()))
        assert "Inspection was due on 2020-01-31." in str(detail.render())
        assert "REFUSED" in screen_text(app) and "空闲" not in screen_text(app)

        await pilot.press("ctrl+l")  # the next person starts in the station's language again
        await until(pilot, lambda: isinstance(app.screen, LoginScreen) and "操作员登录" in screen_text(app))


async def test_f2_switches_the_language_in_place(daemon: FakeDaemon, socket_path: Path) -> None:
    app = make_app(socket_path, language="zh_CN")
    async with app.run_test(size=(80, 24)) as pilot:
        await logged_in(pilot)
        await until(pilot, lambda: "加注中" in screen_text(app) and "f2 English" in screen_text(app))
        await pilot.press("f2")
        await until(pilot, lambda: "FUELLING" in screen_text(app) and "f2 中文" in screen_text(app))
        assert "加注中" not in screen_text(app) and "Open shift" in screen_text(app)
        await pilot.press("f2")
        await until(pilot, lambda: "加注中" in screen_text(app) and "开班" in screen_text(app))


async def test_the_shift_report_in_chinese_on_screen_as_text_and_csv(
    daemon: FakeDaemon, socket_path: Path, tmp_path: Path
) -> None:
    app = make_app(socket_path, language="zh_CN", report_dir=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await logged_in(pilot)
        await pilot.press("5", "r")
        request = await daemon.wait_request(m.GetReport)
        assert isinstance(request, m.GetReport) and request.language == "zh_CN"
        await until(pilot, lambda: isinstance(app.screen, ReportScreen))
        await until(pilot, lambda: "交接班报表  #3  （临时）" in screen_text(app))
        assert "支付方式" in screen_text(app) and "银行卡" in screen_text(app)
        await pilot.press("s", "e")
        text_file, csv_file = tmp_path / "shift-3-provisional.txt", tmp_path / "shift-3-provisional.csv"
        await until(pilot, lambda: text_file.exists() and csv_file.exists())
        text = text_file.read_text(encoding="utf-8")
        assert text.startswith("交接班报表") and "加注站 DEMO-0001" in text and "1 处差异已标记。" in text
        raw = csv_file.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf")  # a byte-order mark: spreadsheets read the Chinese right
        header = raw.decode("utf-8-sig").splitlines()[0]
        assert header.startswith("分类,线路,加注机,枪号,员工,油品,支付方式,开班泵码")
        assert "现金" in raw.decode("utf-8-sig")
