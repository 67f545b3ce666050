"""Helpers of the terminal UI tests: waiting for the app with deadlines, logging in, screen text."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import Input

from tui.app import StationApp

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE_ENV = "UPDATE_SNAPSHOTS"


def make_app(socket_path: Path, **kwargs: object) -> StationApp:
    """The app as the tests run it: quick reconnects, no cursor blink, no animations (stable screens);
    in English unless `language=` says otherwise (`None`: the station's, from the daemon's hello)."""
    kwargs.setdefault("language", "en")
    app = StationApp(socket_path, retry_s=0.05, blink=False, **kwargs)  # type: ignore[arg-type]
    app.animation_level = "none"
    return app


async def until(pilot: Pilot[None], predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Let the app run until `predicate()` holds; fail after `timeout_s`."""
    async with asyncio.timeout(timeout_s):
        while not predicate():
            await pilot.pause()


async def login(pilot: Pilot[None], username: str, password: str, *, typed: bool = False) -> None:
    """Fill in the login form (typed key by key, or set at once) and press Enter."""
    app = pilot.app
    await until(pilot, lambda: app.link == "online")
    await pilot.click("#username")
    if typed:
        await pilot.press(*username, "enter", *password, "enter")
        return
    app.screen.query_one("#username", Input).value = username
    app.screen.query_one("#password", Input).value = password
    await pilot.click("#password")
    await pilot.press("enter")


def screen_text(app: StationApp) -> str:
    """What the terminal shows, as plain text (the screenshot without colours)."""
    width, height = app.size
    console = Console(
        width=width, height=height, file=io.StringIO(), force_terminal=True, color_system="truecolor",
        record=True, legacy_windows=False, safe_box=False,
    )  # fmt: skip
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text(styles=False)


def assert_snapshot(app: StationApp, name: str) -> None:
    """Compare the screen with tests/tui/snapshots/<name>.txt; `UPDATE_SNAPSHOTS=1` rewrites it."""
    width, height = app.size
    path = SNAPSHOTS / f"{name}_{width}x{height}.txt"
    text = screen_text(app)
    if os.environ.get(UPDATE_ENV) == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.exists(), f"no snapshot {path.name}: run with {UPDATE_ENV}=1 once and review it"
    expected = path.read_text(encoding="utf-8")
    assert text == expected, (
        f"screen differs from {path.name} (review, then {UPDATE_ENV}=1 to accept):\n{text}"
    )
