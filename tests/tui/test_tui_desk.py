"""The desk screen: the card as read, a top-up with its amount and confirmation steps, the receipt;
readable at 80×24 in English and Chinese (snapshots)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_tui_station import logged_in
from tui_fake_daemon import FakeDaemon
from tui_testkit import assert_snapshot, make_app, until

from edge.control import messages as m
from tui.screens.desk import ConfirmScreen, DeskScreen, TopupScreen, parse_yuan


@pytest.mark.parametrize("language", ["en", "zh_CN"])
async def test_desk_screen_reads_the_card(daemon: FakeDaemon, socket_path: Path, language: str) -> None:
    app = make_app(socket_path, language=language)
    async with app.run_test(size=(80, 24)) as pilot:
        await logged_in(pilot)
        await pilot.press("k")
        await until(pilot, lambda: isinstance(app.screen, DeskScreen) and app.screen.card is not None)
        await pilot.pause()
        text = str(app.screen.query_one("#desk-card").render())
        assert "10000101100000000017" in text and "京A12345" in text and "¥500.00" in text
        assert_snapshot(app, "desk" if language == "en" else f"desk_{language}")


async def test_topup_asks_the_amount_then_confirms_then_shows_the_receipt(
    daemon: FakeDaemon, socket_path: Path, tmp_path: Path
) -> None:
    app = make_app(socket_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await logged_in(pilot)
        await pilot.press("k")
        await until(pilot, lambda: isinstance(app.screen, DeskScreen) and app.screen.card is not None)
        desk = app.screen
        assert isinstance(desk, DeskScreen)
        desk.receipt_dir = tmp_path
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, TopupScreen))
        await pilot.press("1", "2", ".", "5", "enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        words = str(app.screen.query_one("#desk-confirm-words").render())
        assert "¥12.50" in words and "10000101100000000017" in words and "cash" in words
        await pilot.press("n")  # not confirmed: nothing sent
        await until(pilot, lambda: isinstance(app.screen, DeskScreen))
        assert not [r for r in daemon.requests if isinstance(r, m.DeskTopup)]
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, TopupScreen))
        await pilot.press("1", "2", ".", "5", "enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: desk.receipt != "")
        [topup] = [r for r in daemon.requests if isinstance(r, m.DeskTopup)]
        assert (topup.amount, topup.payment, topup.asn) == (1_250, "cash", "10000101100000000017")
        assert "TOP-UP 1250 cash" in str(desk.query_one("#desk-receipt").render())
        await pilot.press("s")
        await until(pilot, lambda: list(tmp_path.glob("desk-*.txt")) != [])
        assert "TOP-UP 1250" in saved_receipt(tmp_path)


def saved_receipt(folder: Path) -> str:
    return next(folder.glob("desk-*.txt")).read_text()


def test_amounts_in_yuan() -> None:
    assert parse_yuan("500") == 50_000
    assert parse_yuan("12.5") == 1_250
    assert parse_yuan("0.01") == 1
    for bad in ("", "0", "1.234", "-5", "abc", "1.2.3"):
        assert parse_yuan(bad) is None, bad


async def test_the_card_is_shown_as_it_is_inserted(daemon: FakeDaemon, socket_path: Path) -> None:
    import json

    from tui_fake_daemon import DESK_CARD

    app = make_app(socket_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await logged_in(pilot)
        await pilot.press("k")
        await until(pilot, lambda: isinstance(app.screen, DeskScreen) and app.screen.card is not None)
        desk = app.screen
        assert isinstance(desk, DeskScreen)
        daemon.push(m.Device(kind="desk", device="Virtual PCD 00 00", state="empty"))
        await until(pilot, lambda: desk.card is None)
        other = {**DESK_CARD, "asn": "10000101100000000055", "balance": 777}
        daemon.push(
            m.Device(
                kind="desk", device="Virtual PCD 00 00", state="card", fields={"card": json.dumps(other)}
            )
        )
        await until(pilot, lambda: desk.card is not None and desk.card["asn"] == "10000101100000000055")
        assert "¥7.77" in str(desk.query_one("#desk-card").render())
        daemon.push(
            m.Device(
                kind="desk", device="Virtual PCD 00 00", state="unusable", fields={"error": "foreign card"}
            )
        )
        await until(pilot, lambda: desk.card is None)
        assert "foreign card" in str(desk.query_one("#desk-card").render())
