"""The station screen following a scripted event stream: nozzle tiles, sales, alarms (acknowledge),
line diagnostics, card decisions, and a shift handover with its report exported."""

from __future__ import annotations

from pathlib import Path

from textual.pilot import Pilot
from tui_fake_daemon import FakeDaemon, T, nozzle
from tui_testkit import login, make_app, screen_text, until

from edge.control import messages as m
from tui.app import MAX_INBOX, StationApp
from tui.client import Batch
from tui.screens.main import MainScreen
from tui.screens.report import HandoverScreen, ReportScreen
from tui.widgets.alarms import AlarmsTable
from tui.widgets.decisions import DecisionsPanel
from tui.widgets.nozzles import NozzleTile, tile_id
from tui.widgets.sales import SalesTable
from tui.widgets.tables import KeyedTable


async def logged_in(pilot: Pilot[None], user: str = "senior1", password: str = "pw-senior-1") -> MainScreen:
    app = pilot.app
    await login(pilot, user, password)
    await until(pilot, lambda: isinstance(app.screen, MainScreen) and len(app.screen.query(NozzleTile)) == 8)
    screen = app.screen
    assert isinstance(screen, MainScreen)
    return screen


def tile(screen: MainScreen, key: str) -> NozzleTile:
    return screen.query_one(f"#{tile_id(key)}", NozzleTile)


def tile_text(screen: MainScreen, key: str) -> str:
    return str(tile(screen, key).render())


async def test_nozzle_tiles_follow_the_event_stream(daemon: FakeDaemon, socket_path: Path) -> None:
    app = make_app(socket_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await logged_in(pilot)
        tiles_before = list(screen.query(NozzleTile))
        key = "bus1/2/3"
        script: list[tuple[m.Nozzle, str, list[str]]] = [
            (nozzle("bus1", 2, 3, state="card", asn="10000111000000054321", emp=12), "-card",
             ["CARD IN", "emp 12", "…4321"]),
            (nozzle("bus1", 2, 3, state="nozzle_up", asn="10000111000000054321", prc=750, emp=12), "-nozzle_up",
             ["NOZZLE UP", "¥0.00", "7.50/L"]),
            (nozzle("bus1", 2, 3, state="fuelling", asn="10000111000000054321", amn=1_500, vol=200, prc=750, emp=12),
             "-fuelling", ["FUELLING", "¥15.00", "2.00L"]),
            (nozzle("bus1", 2, 3, state="fuelling", asn="10000111000000054321", amn=22_500, vol=3_000, prc=750, emp=12),
             "-fuelling", ["¥225.00", "30.00L"]),
            (nozzle("bus1", 2, 3, state="finished", asn="10000111000000054321", amn=22_500, vol=3_000, prc=750, emp=12),
             "-finished", ["FINISHED", "¥225.00"]),
            (nozzle("bus1", 2, 3, state="idle", emp=12), "-idle", ["IDLE", "emp 12"]),
            (nozzle("bus1", 2, 3, state="offline"), "-offline", ["OFFLINE"]),
        ]  # fmt: skip
        for status, css, words in script:
            daemon.push(status)
            await until(pilot, lambda s=status: app.model.nozzles[key] == s)
            await until(pilot, lambda c=css: tile(screen, key).has_class(c))
            text = tile_text(screen, key)
            for word in words:
                assert word in text, (status.state, word, text)
            other = [
                c for c in ("-idle", "-card", "-nozzle_up", "-fuelling", "-finished", "-offline") if c != css
            ]
            assert not any(tile(screen, key).has_class(c) for c in other)
        assert "10000111000000054321" not in screen_text(app)  # card numbers are masked
        assert list(screen.query(NozzleTile)) == tiles_before  # updated in place, never rebuilt


async def test_a_burst_of_updates_ends_on_the_latest_value(daemon: FakeDaemon, socket_path: Path) -> None:
    app = make_app(socket_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await logged_in(pilot)
        daemon.push(
            *(
                nozzle("bus1", 1, 2, state="fuelling", amn=a, vol=a // 7, prc=750)
                for a in range(0, 50_000, 10)
            )
        )
        await until(pilot, lambda: app.model.nozzles["bus1/1/2"].amn == 49_990)
        await until(pilot, lambda: "¥499.90" in tile_text(screen, "bus1/1/2"))


async def test_sales_feed_adds_rows_by_key(daemon: FakeDaemon, socket_path: Path) -> None:
    app = make_app(socket_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await logged_in(pilot)
        await pilot.press("2")
        table = screen.query_one(SalesTable)
        assert len(table.keys) == 3
        sale = m.Sale(line="bus1", dispenser=3, pos_ttc=9, t_type=0x10, kind="sale", nzn=5, asn="10000111000000077777",
                      amn=15_000, vol=2_000, prc=750, product="92#", payment="credit", at=T)  # fmt: skip
        daemon.push(sale, sale)  # a duplicate is shown once
        await until(pilot, lambda: len(table.keys) == 4)
        assert table.keys[-1] == "bus1/3/9"
        assert table.get_row("bus1/3/9")[5:8] == ["20.00", "150.00", "credit"]


async def test_acknowledging_an_alarm(daemon: FakeDaemon, socket_path: Path) -> None:
    app = make_app(socket_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await logged_in(pilot, "operator1", "pw-operator-1")
        await pilot.press("3")
        table = screen.query_one(AlarmsTable)
        assert app.focused is table
        assert "Alarms (1)" in screen_text(app)
        assert str(table.get_row("1")[5]) == "NEW"
        await pilot.press("a")  # the cursor is on the first alarm (id 1)
        ack = await daemon.wait_request(m.AckAlarm)
        assert isinstance(ack, m.AckAlarm) and ack.alarm_id == 1 and ack.token == app.session.token  # type: ignore[union-attr]
        await until(pilot, lambda: str(table.get_row("1")[5]) == "✓ operator1")
        await until(pilot, lambda: "Alarms (1)" not in screen_text(app))
        daemon.push(
            m.Alarm(
                id=3, source="bus1", code="crc_burst", severity="major", message="CRC errors", raised_at=T
            )
        )
        await until(pilot, lambda: "3" in table.keys)
        assert str(table.get_row("3")[0]) == "MAJOR"
        daemon.push(m.AlarmCleared(id=3, source="bus1", code="crc_burst", at=T))
        await until(pilot, lambda: "3" not in table.keys)


async def test_a_stop_sale_alarm_is_shown_as_an_action(daemon: FakeDaemon, socket_path: Path) -> None:
    app = make_app(socket_path)
    async with app.run_test(size=(120, 30), notifications=True) as pilot:
        screen = await logged_in(pilot, "operator1", "pw-operator-1")
        text = (
            "Stop the sale at nozzle 5: card 10000101100000000501 at dispenser 3 was allowed before its card "
            "data arrived and the rules refuse it (CYLINDER_EXPIRED): Vehicle gas cylinder inspection has expired."
        )
        daemon.push(
            m.Alarm(
                id=9, source="bus1/3", code="card_recheck_refused", severity="critical", message=text,
                raised_at=T, action="stop the sale at nozzle 5",
            )
        )  # fmt: skip
        await until(pilot, lambda: any("STOP THE SALE AT NOZZLE 5" in n.message for n in app._notifications))
        await pilot.press("3")
        table = screen.query_one(AlarmsTable)
        await until(pilot, lambda: "9" in table.keys)
        row = table.get_row("9")
        assert str(row[0]) == "ACTION" and str(row[6]).startswith("STOP THE SALE AT NOZZLE 5 Stop the sale")
        assert str(table.get_row("1")[0]) != "ACTION"  # an ordinary alarm keeps its severity
        daemon.push(
            m.Alarm(
                id=9, source="bus1/3", code="card_recheck_refused", severity="critical", message=text,
                raised_at=T, count=2, action="stop the sale at nozzle 5",
            )
        )  # fmt: skip
        await until(pilot, lambda: str(table.get_row("9")[4]) == "2")
        told = [n for n in app._notifications if "STOP THE SALE" in n.message]
        assert len(told) == 1  # told once, not on every repeat


async def test_read_only_operator_cannot_acknowledge(daemon: FakeDaemon, socket_path: Path) -> None:
    app = make_app(socket_path)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        screen = await logged_in(pilot, "viewer", "pw-viewer-1")
        await pilot.press("3", "a")
        await until(pilot, lambda: any("may not acknowledge" in n.message for n in app._notifications))
        assert not any(isinstance(r, m.AckAlarm) for r in daemon.requests)
        assert screen.check_action("open_shift", ()) is None  # shown greyed out in the footer


async def test_shift_handover_with_report_export(
    daemon: FakeDaemon, socket_path: Path, tmp_path: Path
) -> None:
    app = make_app(socket_path, report_dir=tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await logged_in(pilot)
        await pilot.press("5")
        await pilot.press("o")
        opened = await daemon.wait_request(m.OpenShift)
        assert isinstance(opened, m.OpenShift)
        await until(pilot, lambda: app.model.shift is not None and app.model.shift.id == 4)
        await until(pilot, lambda: "Shift #4 OPEN" in screen_text(app))

        await pilot.press("t")
        await daemon.wait_request(m.ReadTotals)
        await until(pilot, lambda: "1035.00" in screen_text(app))

        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, HandoverScreen))
        await pilot.press(*"bob", "enter")
        close = await daemon.wait_request(m.CloseShift)
        assert isinstance(close, m.CloseShift) and close.handover_to == "bob"
        await until(pilot, lambda: isinstance(app.screen, ReportScreen))
        assert "SHIFT HANDOVER REPORT  #4" in screen_text(app)
        assert "! bus1/2/3: totalizer moved 11.00" in screen_text(app)
        await pilot.press("e")
        await pilot.press("s")
        await until(pilot, lambda: (tmp_path / "shift-4-final.txt").exists())
        assert (tmp_path / "shift-4-final.csv").read_text(encoding="utf-8-sig").startswith("section,line")
        assert "handed over to bob" in (tmp_path / "shift-4-final.txt").read_text()
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is screen)
        await until(pilot, lambda: app.model.shift is None)
        assert "No shift is open" in screen_text(app)


async def test_line_diagnostics_and_frame_trace(daemon: FakeDaemon, socket_path: Path) -> None:
    app = make_app(socket_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await logged_in(pilot)
        await pilot.press("4")
        daemon.push(
            m.LineStats(line="bus1", mode="multi-drop", stats={"polls": 20_000, "crc_errors": 5, "avg_cycle_ms": 149.0}, at=T),
            m.DispenserStatus(line="bus1", dispenser=3, online=True, at=T),
            m.Trace(line="bus1", direction="H", hex="fa 01 e0 00 01 30 c3 2d", summary="H E0→01 #0 Poll", at=T),
        )  # fmt: skip
        lines = screen.query_one("#lines-table", KeyedTable)
        dispensers = screen.query_one("#dispensers-table", KeyedTable)
        await until(pilot, lambda: lines.get_row("bus1")[2] == "20000")
        assert str(lines.get_row("bus1")[4]) == "5"
        await until(pilot, lambda: str(dispensers.get_row("bus1/3")[1]) == "ONLINE")
        await until(pilot, lambda: "H E0→01 #0 Poll" in screen_text(app))


async def test_card_decision_explained(daemon: FakeDaemon, socket_path: Path) -> None:
    app = make_app(socket_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await logged_in(pilot)
        await pilot.press("6")
        daemon.push(m.Decision(line="bus1", dispenser=1, nzn=2, asn="10000111000000033333", allowed=False,
                               reason="cylinder_expired", words="cylinder inspection expired on 2026-10-01", at=T))  # fmt: skip
        panel = screen.query_one(DecisionsPanel)
        table = panel.query_one(KeyedTable)
        await until(pilot, lambda: len(table.keys) == 3)
        await pilot.press("end")
        await until(pilot, lambda: "cylinder_expired" in str(panel.query_one("#decision-detail").render()))
        assert "REFUSED" in screen_text(app) and "…3333" in screen_text(app)


async def test_a_screen_far_behind_drops_its_inbox_and_resynchronises(
    daemon: FakeDaemon, socket_path: Path
) -> None:
    app: StationApp = make_app(socket_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await logged_in(pilot)
        assert sum(isinstance(r, m.Subscribe) for r in daemon.requests) == 1
        burst = Batch((nozzle("bus1", 1, 1, state="fuelling", amn=1),))
        for _ in range(MAX_INBOX + 100):  # the feed worker delivers faster than the screen drains
            app._receive(burst)
            assert len(app.inbox) <= MAX_INBOX + 1
        await daemon.wait_until(lambda: sum(isinstance(r, m.Subscribe) for r in daemon.requests) == 2)
        await until(pilot, lambda: app.link == "online" and not app.inbox)


async def test_number_keys_switch_tabs_from_anywhere(daemon: FakeDaemon, socket_path: Path) -> None:
    from textual.widgets import TabbedContent

    app = make_app(socket_path)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await logged_in(pilot)
        tabs = screen.query_one(TabbedContent)
        for key, tab in [("2", "sales"), ("3", "alarms"), ("4", "lines"), ("5", "shift"), ("6", "decisions"),
                         ("4", "lines"), ("1", "nozzles"), ("5", "shift"), ("3", "alarms")]:  # fmt: skip
            await pilot.press(key)
            await pilot.pause()
            assert tabs.active == tab, (key, tabs.active)
