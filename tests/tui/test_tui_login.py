"""Login, lockout, the card second factor, the demo login, and living without the daemon."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.widgets import Input
from tui_fake_daemon import FakeDaemon, FakeOperator
from tui_testkit import login, make_app, screen_text, until

from edge.control import messages as m
from tui.screens.login import LoginScreen
from tui.screens.main import MainScreen
from tui.widgets.nozzles import NozzleTile


async def test_login_opens_the_station_screen(daemon: FakeDaemon, socket_path: Path) -> None:
    app = make_app(socket_path)
    async with app.run_test(size=(80, 24)) as pilot:
        assert isinstance(app.screen, LoginScreen)
        await login(pilot, "senior1", "pw-senior-1", typed=True)
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        await until(pilot, lambda: len(app.screen.query(NozzleTile)) == 8)
        assert app.session is not None and app.session.operator.username == "senior1"
        assert "senior1 (senior)" in screen_text(app)


async def test_three_wrong_passwords_lock_the_account(daemon: FakeDaemon, socket_path: Path) -> None:
    app = make_app(socket_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.link == "online")
        screen = app.screen
        assert isinstance(screen, LoginScreen)
        messages = []
        for attempt in range(3):
            await login(pilot, "operator1", "wrong")
            await until(
                pilot, lambda n=attempt: sum(isinstance(r, m.Login) for r in daemon.requests) == n + 1
            )
            await until(pilot, lambda: "Checking" not in str(screen.query_one("#login-message").render()))
            messages.append(str(screen.query_one("#login-message").render()))
        assert messages[0].startswith("REFUSED: wrong user name or password (2 tries left")
        assert messages[1].startswith("REFUSED: wrong user name or password (1 tries left")
        assert messages[2] == "LOCKED: operator1 is now locked after 3 failed logins"
        assert screen.query_one("#login-message").has_class("-error")
        # the right password does not help any more
        await login(pilot, "operator1", "pw-operator-1")
        await until(pilot, lambda: sum(isinstance(r, m.Login) for r in daemon.requests) == 4)
        await until(pilot, lambda: "is locked" in str(screen.query_one("#login-message").render()))
        assert isinstance(app.screen, LoginScreen) and app.session is None


async def test_employee_card_as_second_factor(daemon: FakeDaemon, socket_path: Path) -> None:
    app = make_app(socket_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await login(pilot, "ana", "secret-1")
        screen = app.screen
        assert isinstance(screen, LoginScreen)
        await until(pilot, lambda: not screen.query_one("#card").has_class("-hidden"))
        assert "present it at a nozzle" in str(screen.query_one("#login-message").render())
        assert app.focused is screen.query_one("#card")
        screen.query_one("#card", Input).value = "10000411000000000000"
        await pilot.press("enter")
        await until(pilot, lambda: "WRONG CARD" in str(screen.query_one("#login-message").render()))
        screen.query_one("#card", Input).value = "10000411000000009001"
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        assert app.session is not None and app.session.operator.username == "ana"


@pytest.mark.parametrize("fake_options", [{"demo": True}])
async def test_demo_opens_logged_in_as_the_demo_operator(daemon: FakeDaemon, socket_path: Path) -> None:
    app = make_app(socket_path, demo=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        assert app.session is not None and app.session.demo
        await until(pilot, lambda: "DEMO OPERATOR" in screen_text(app))
        assert not any(isinstance(r, m.Login) for r in daemon.requests)


async def test_demo_flag_is_refused_by_a_real_station(daemon: FakeDaemon, socket_path: Path) -> None:
    app = make_app(socket_path, demo=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await daemon.wait_request(m.DemoLogin)
        screen = app.screen
        assert isinstance(screen, LoginScreen)
        await until(pilot, lambda: "Demo login refused" in str(screen.query_one("#login-message").render()))
        assert app.session is None


async def test_starts_without_the_daemon_and_survives_its_restart(socket_path: Path) -> None:
    daemon = FakeDaemon(socket_path, operators={"senior1": FakeOperator("pw-senior-1", m.Role.SENIOR)})
    app = make_app(socket_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.link == "down")
        assert "NOT RUNNING" in screen_text(app) and "DAEMON DOWN" in screen_text(app)
        await daemon.start()  # the daemon comes up: the UI connects by itself
        try:
            await login(pilot, "senior1", "pw-senior-1")
            await until(pilot, lambda: isinstance(app.screen, MainScreen))
            await daemon.stop()  # the daemon restarts: sessions are gone
            await until(pilot, lambda: app.link == "down")
            assert "DAEMON DOWN" in screen_text(app)
            await daemon.start()
            await until(pilot, lambda: isinstance(app.screen, LoginScreen))
            assert "the daemon restarted" in str(app.screen.query_one("#login-message").render())
            await login(pilot, "senior1", "pw-senior-1")
            await until(pilot, lambda: isinstance(app.screen, MainScreen))
            await until(pilot, lambda: len(app.screen.query(NozzleTile)) == 8)
        finally:
            await daemon.stop()


@pytest.mark.parametrize("fake_options", [{"demo": True}])
async def test_demo_logs_in_again_after_a_daemon_restart(daemon: FakeDaemon, socket_path: Path) -> None:
    app = make_app(socket_path, demo=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        first = app.session
        await daemon.stop()
        await daemon.start()
        await until(pilot, lambda: app.session is not None and app.session is not first)
        await until(pilot, lambda: isinstance(app.screen, MainScreen))


async def test_keys_typed_ahead_land_in_the_right_fields(daemon: FakeDaemon, socket_path: Path) -> None:
    """User name, Enter, password, Enter in one burst (as tmux send-keys or a fast typist sends them)."""
    from textual import events

    app = make_app(socket_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.link == "online")
        await pilot.click("#username")
        for ch in "senior1\rpw-senior-1\r":
            key = "enter" if ch == "\r" else ch
            app.post_message(events.Key(key, None if ch == "\r" else ch))  # no waiting between keys
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        login_request = await daemon.wait_request(m.Login)
        assert isinstance(login_request, m.Login)
        assert (login_request.username, login_request.password) == ("senior1", "pw-senior-1")


async def test_enter_in_the_user_name_moves_the_focus_to_the_password(
    daemon: FakeDaemon, socket_path: Path
) -> None:
    app = make_app(socket_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.link == "online")
        await pilot.click("#username")
        await pilot.press(*"senior1", "enter")
        await until(pilot, lambda: app.screen.focused is app.screen.query_one("#password", Input))
        await pilot.press(*"pw-senior-1", "enter")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))


@pytest.mark.parametrize("ahead", [1, 3, 7])
async def test_a_password_typed_partly_ahead_of_the_focus_stays_whole(
    daemon: FakeDaemon, socket_path: Path, ahead: int
) -> None:
    """The first `ahead` keys of the password reach the password field through the user name field (they
    were typed before the focus moved), the rest after the focus arrived: none is lost, none replaces
    another (a field that selects its text on focus would let the next key overwrite it)."""
    from textual import events

    password = "pw-senior-1"
    app = make_app(socket_path)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.link == "online")
        await pilot.click("#username")
        for ch in ["senior1", "\r", *password[:ahead]]:
            for key in ch if ch != "\r" else ["enter"]:
                app.post_message(events.Key(key, None if key == "enter" else key))
        await until(pilot, lambda: app.screen.focused is app.screen.query_one("#password", Input))
        await pilot.press(*password[ahead:], "enter")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        login_request = await daemon.wait_request(m.Login)
        assert isinstance(login_request, m.Login)
        assert (login_request.username, login_request.password) == ("senior1", password)
