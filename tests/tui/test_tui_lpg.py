"""The LPG screens of the real TUI at 80×24 against a real control server with the LPG component and two
simulated scales (RTU pty, TCP): the filling screen shows the scales live and a refusal at a glance; the
counter looks a customer up (ID masked for an attendant, the overdue inspection warned) and hands a
cylinder out after a confirmation; the store view counts cylinders by state and specification."""

from __future__ import annotations

import datetime as dt

from textual.widgets import Input
from tui_testkit import login, make_app, screen_text, until

from storage.clock import utc_now
from storage.lpg_counter import CustomerKind, CustomerRow, add_customer_in
from tests.edge.lpg.test_lpg_daemon_scales import TODAY, Hall, hall  # noqa: F401  (the fixture)
from tui.screens.lpg import CounterScreen, FillingScreen, StoreScreen
from tui.screens.main import MainScreen
from tui.widgets.lpg import ScalesTable, StoreTable


async def test_filling_counter_and_store_screens(hall: Hall) -> None:  # noqa: F811
    async with hall.station.db.transaction() as tx:
        await add_customer_in(tx, CustomerRow(0, CustomerKind.RESIDENT, "张三", "110101199001011234", "",
                                              "13800000000", "A路1号", "A路1号", "C-001",
                                              TODAY - dt.timedelta(days=400)), now=utc_now())  # fmt: skip
    hall.sims["S1"].place(16.2)
    app = make_app(hall.server.path)
    async with app.run_test(size=(80, 24)) as pilot:
        await login(pilot, "operator1", "pw-operator-1")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        main = app.screen
        assert isinstance(main, MainScreen)
        await until(pilot, lambda: main._lpg and "Filling" in screen_text(app))  # an LPG station: keys shown
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, FillingScreen))
        filling = app.screen
        await until(pilot, lambda: len(filling.query_one(ScalesTable).rows) == 2, 60)

        filling.query_one("#lpg-barcode", Input).value = "LATE-1"
        filling.query_one("#lpg-scale", Input).value = "S1"
        await pilot.click("#lpg-barcode")
        await pilot.press("enter")
        await until(pilot, lambda: "REFUSED" in screen_text(app) and "overdue" in screen_text(app), 60)

        filling.query_one("#lpg-barcode", Input).value = "OK-1"
        await pilot.click("#lpg-barcode")
        await pilot.press("enter")
        await until(pilot, lambda: app.model.devices["scale/S1"].state == "filling", 60)
        await until(pilot, lambda: app.model.devices["scale/S1"].state == "done", 60)
        await until(pilot, lambda: "30.70" in screen_text(app))  # the target of OK-1 (16.2 + 14.5)
        assert "REFUSED" not in str(filling.query_one(ScalesTable).get_row("scale/S1"))
        await pilot.press("escape")

        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("u")
        await until(pilot, lambda: isinstance(app.screen, CounterScreen))
        counter = app.screen
        counter.query_one("#lpg-key", Input).value = "C-001"
        await pilot.click("#lpg-key")
        await pilot.press("enter")
        await until(pilot, lambda: "110101********1234" in screen_text(app), 30)
        assert "overdue" in screen_text(app) and "110101199001011234" not in screen_text(app)
        counter.query_one("#lpg-barcodes", Input).value = "FULL-1 LATE-1"
        await pilot.press("ctrl+o")
        await until(pilot, lambda: "Hand out FULL-1 LATE-1" in screen_text(app))
        await pilot.press("y")
        await until(pilot, lambda: "LATE-1" in screen_text(app) and "refused" in screen_text(app).lower(), 30)
        counter.query_one("#lpg-barcodes", Input).value = "FULL-1"
        await pilot.press("ctrl+o")
        await until(pilot, lambda: "Hand out FULL-1 to" in screen_text(app))
        await pilot.press("y")
        await until(pilot, lambda: "Receipt" in screen_text(app), 30)
        await until(pilot, lambda: "Cylinders held: FULL-1" in screen_text(app), 30)
        await pilot.press("escape")

        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, StoreScreen))
        store = app.screen.query_one(StoreTable)
        await until(pilot, lambda: store.row_count >= 3, 30)  # YSP-15, YSP-5, the totals
        row = [str(c) for c in store.get_row("YSP-15")]
        # empty: LATE-1, SCRAP-1 not empty (full), ... columns: spec, empty, full, at customer, …
        assert row[0] == "YSP-15" and row[3] == "1"  # FULL-1 at the customer
        assert "at customer" in screen_text(app)
        assert any(isinstance(s, MainScreen) for s in app.screen_stack)


async def test_the_filling_and_store_screens_in_chinese(hall: Hall) -> None:  # noqa: F811
    app = make_app(hall.server.path, language="zh_CN")
    async with app.run_test(size=(80, 24)) as pilot:
        await login(pilot, "operator1", "pw-operator-1")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        main = app.screen
        assert isinstance(main, MainScreen)
        await until(pilot, lambda: main._lpg and "充装" in screen_text(app))
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, FillingScreen))
        filling = app.screen
        await until(pilot, lambda: len(filling.query_one(ScalesTable).rows) == 2, 60)
        filling.query_one("#lpg-barcode", Input).value = "SCRAP-1"
        filling.query_one("#lpg-scale", Input).value = "S2"
        await pilot.click("#lpg-barcode")
        await pilot.press("enter")
        await until(pilot, lambda: "拒绝" in screen_text(app) and "SCRAP-1" in screen_text(app), 60)
        assert "重量 kg" in screen_text(app) and "目标 kg" in screen_text(app)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, StoreScreen))
        await until(pilot, lambda: app.screen.query_one(StoreTable).row_count >= 3, 30)
        text = screen_text(app)
        assert "规格" in text and "满瓶" in text and "合计" in text


def test_every_fill_refusal_reads_in_the_attendants_language() -> None:
    from edge.control import messages as m
    from edge.devices.lpg.fitness import RefusalCode
    from tui import i18n
    from tui.screens.lpg import FILL_REFUSALS, fill_refusal

    assert set(FILL_REFUSALS) == {code.value for code in RefusalCode}
    reply = m.LpgFillResult(status="refused", barcode="LATE-1", scale="S1", code="overdue",
                            reason="cylinder LATE-1: inspection overdue since 2025-01-01 (30 days)")  # fmt: skip
    before = i18n.language()
    try:
        i18n.set_language("zh_CN")
        text = fill_refusal(reply)
        assert text.startswith("拒绝 LATE-1：钢瓶检验已过期，不得充装")
        assert "2025-01-01" in text  # the daemon's details stay
        i18n.set_language("en")
        assert fill_refusal(reply).startswith("REFUSED LATE-1: inspection overdue: the cylinder must not be filled")
        assert fill_refusal(m.LpgFillResult(status="refused", barcode="X", code="new", reason="why")) == (
            "REFUSED X: why"
        )
    finally:
        i18n.set_language(before)
