"""The look of every screen at 80×24 and 160×48, in English and in Chinese, compared as text with
tests/tui/snapshots/ (`<screen>_<size>.txt` in English, `<screen>_zh_CN_<size>.txt` in Chinese: wide
characters must line up in tiles, tables and dialogs).

A changed layout fails here. Review the new screen (printed in the failure), then accept it with
`UPDATE_SNAPSHOTS=1 uv run pytest tests/tui/test_tui_snapshots.py`.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_tui_station import logged_in
from tui_fake_daemon import FakeDaemon, big_snapshot
from tui_testkit import assert_snapshot, make_app, until

from tui.screens.login import LoginScreen
from tui.screens.report import HandoverScreen, ReportScreen

SIZES = [(80, 24), (160, 48)]
LANGUAGES = ["en", "zh_CN"]
TABS = {"sales": "2", "alarms": "3", "lines": "4", "shift": "5", "cards": "6"}
sizes = pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
languages = pytest.mark.parametrize("language", LANGUAGES)


def named(name: str, language: str) -> str:
    return name if language == "en" else f"{name}_{language}"


@sizes
@languages
async def test_login_screen(
    daemon: FakeDaemon, socket_path: Path, size: tuple[int, int], language: str
) -> None:
    app = make_app(socket_path, language=language)
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: app.link == "online" and isinstance(app.screen, LoginScreen))
        await pilot.pause()
        assert_snapshot(app, named("login", language))


@sizes
@languages
async def test_login_screen_without_daemon(socket_path: Path, size: tuple[int, int], language: str) -> None:
    app = make_app(socket_path, language=language)
    async with app.run_test(size=size) as pilot:
        await until(pilot, lambda: app.link == "down")
        await pilot.pause()
        assert_snapshot(app, named("login_no_daemon", language))


@sizes
@languages
async def test_station_tabs(
    daemon: FakeDaemon, socket_path: Path, size: tuple[int, int], language: str
) -> None:
    """Every tab of the station screen, one snapshot each (one app run: starting one costs ~1 s)."""
    app = make_app(socket_path, language=language)
    async with app.run_test(size=size) as pilot:
        await logged_in(pilot)
        await pilot.pause()
        assert_snapshot(app, named("station_nozzles", language))
        for tab, key in TABS.items():
            await pilot.press(key)
            await pilot.pause()
            assert_snapshot(app, named(f"station_{tab}", language))


@sizes
@languages
async def test_report(daemon: FakeDaemon, socket_path: Path, size: tuple[int, int], language: str) -> None:
    app = make_app(socket_path, language=language)
    async with app.run_test(size=size) as pilot:
        await logged_in(pilot)
        await pilot.press("5", "r")
        await until(pilot, lambda: isinstance(app.screen, ReportScreen))
        await pilot.pause()
        assert_snapshot(app, named("report", language))


@sizes
@languages
async def test_handover_dialog(
    daemon: FakeDaemon, socket_path: Path, size: tuple[int, int], language: str
) -> None:
    app = make_app(socket_path, language=language)
    async with app.run_test(size=size) as pilot:
        await logged_in(pilot)
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, HandoverScreen))
        await pilot.pause()
        assert_snapshot(app, named("handover", language))


@sizes
@languages
async def test_reports_screen(
    daemon: FakeDaemon, socket_path: Path, size: tuple[int, int], language: str
) -> None:
    """The period reports: picker line, main figures, by product / payment, bar chart by hour."""
    from tui.screens.reports import ReportsScreen

    app = make_app(socket_path, language=language)
    async with app.run_test(size=size) as pilot:
        await logged_in(pilot)
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, ReportsScreen) and app.screen.report is not None)
        await pilot.pause()
        assert_snapshot(app, named("reports_day", language))


@languages
@pytest.mark.parametrize("fake_options", [{"snapshot": big_snapshot(64)}])
async def test_sixty_four_nozzles_at_160x48(daemon: FakeDaemon, socket_path: Path, language: str) -> None:
    app = make_app(socket_path, language=language)
    async with app.run_test(size=(160, 48)) as pilot:
        from tui_testkit import login

        from tui.screens.main import MainScreen
        from tui.widgets.nozzles import NozzleTile

        await login(pilot, "senior1", "pw-senior-1")
        await until(
            pilot, lambda: isinstance(app.screen, MainScreen) and len(app.screen.query(NozzleTile)) == 64
        )
        await pilot.pause()
        grid = app.screen.query_one("#nozzle-scroll")
        assert grid.has_class("-compact")  # all 64 fit as compact tiles: chosen by itself
        assert_snapshot(app, named("station_64_nozzles", language))
        await pilot.press("z")  # full tiles: the grid scrolls
        await until(pilot, lambda: not grid.has_class("-compact"))
        await pilot.pause()
        assert_snapshot(app, named("station_64_nozzles_full", language))


async def test_reports_screen_period_picker(daemon: FakeDaemon, socket_path: Path) -> None:
    """← / → move by one period, d / m / y change its kind; each asks the daemon for that report."""
    from edge.control import messages as m
    from tui.screens.reports import ReportsScreen, shift_period

    app = make_app(socket_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await logged_in(pilot)
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, ReportsScreen) and app.screen.report is not None)
        await pilot.press("right")
        await until(pilot, lambda: app.screen.report is not None and app.screen.report.name == "2026-11-22")  # type: ignore[attr-defined]
        request = await daemon.wait_request(m.GetPeriodReport)
        assert (request.kind, request.value) == ("day", "2026-11-22")  # type: ignore[attr-defined]
        await pilot.press("m")
        await until(pilot, lambda: app.screen.report is not None and app.screen.report.kind == "month")  # type: ignore[attr-defined]
        await pilot.press("left")
        await until(pilot, lambda: app.screen.report is not None and app.screen.report.name == "2026-10")  # type: ignore[attr-defined]
    assert shift_period("month", "2026-01", -1) == "2025-12" and shift_period("year", "2026", 1) == "2027"
