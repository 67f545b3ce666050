"""The web view in a real headless browser: Debian's chromium driven by Playwright.

`station web` serves the terminal UI (textual-serve); the browser shows the login, an operator logs
in and watches the live nozzle grid change, and a wrong password three times locks an account.
Textual draws on a canvas, so the test reads what the browser shows from screenshots (pixel colours
and differences) and what happened from the daemon's audit log, never from the DOM text. The
screenshots are kept under the test's tmp folder (the path is printed and in failure messages).
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path

import pytest

from tests.e2e.harness import Process, Station, spawn, wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}

playwright_api = pytest.importorskip("playwright.sync_api")
Image = pytest.importorskip("PIL.Image")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (make test installs it)"
    ),
]

OPERATOR, PASSWORD = "attendant", "pump-2026!"
VICTIM, VICTIM_PASSWORD = "cashier2", "right-one-9"
PRODUCTS = {"92#": "92号汽油", "95#": "95号汽油", "0# diesel": "0号柴油"}

# Textual's default dark theme: $primary (the Log in button), $success (FUELLING), $error (REFUSED/LOCKED)
PRIMARY = (1, 120, 212)
SUCCESS = (78, 191, 113)
ERROR = (186, 60, 91)
FOOTER_KEY = (255, 166, 43)
"""The key letters in the footer (`^q`): drawn once the screen is mounted and takes keys."""
TOLERANCE = 12


# --- screenshots -----------------------------------------------------------------------------------


class Shots:
    """Screenshots of the page, each kept as a numbered PNG artefact."""

    def __init__(self, page: object, folder: Path) -> None:
        self.page = page
        self.folder = folder
        self.count = 0
        folder.mkdir(parents=True, exist_ok=True)

    def take(self, name: str = "") -> tuple[object, Path]:
        self.count += 1
        path = self.folder / f"{self.count:03d}-{name or 'shot'}.png"
        data = self.page.screenshot(path=str(path))  # type: ignore[attr-defined]
        return Image.open(BytesIO(data)).convert("RGB"), path

    def until(self, condition: object, timeout_s: float, what: str, name: str) -> tuple[object, Path]:
        """Screenshots until `condition(image)` holds; the matching one is kept as `name`."""
        found: list[tuple[object, Path]] = []

        def check() -> bool:
            image, path = self.take("poll")
            if condition(image):  # type: ignore[operator]
                found.append((image, path.rename(path.with_name(path.name.replace("poll", name)))))
                return True
            path.unlink()
            return False

        wait_until(check, timeout_s, f"{what} (screenshots in {self.folder})")
        return found[0]


def colour_count(
    image: object, colour: tuple[int, int, int], box: tuple[int, int, int, int] | None = None
) -> int:
    region = image.crop(box) if box else image  # type: ignore[attr-defined]
    r0, g0, b0 = colour
    return sum(
        n
        for n, (r, g, b) in region.getcolors(maxcolors=1 << 20)
        if abs(r - r0) <= TOLERANCE and abs(g - g0) <= TOLERANCE and abs(b - b0) <= TOLERANCE
    )


def differing_pixels(a: object, b: object, box: tuple[int, int, int, int]) -> int:
    pa, pb = a.crop(box).tobytes(), b.crop(box).tobytes()  # type: ignore[attr-defined]
    return sum(1 for i in range(0, len(pa), 3) if pa[i : i + 3] != pb[i : i + 3])


def login_shown(image: object) -> bool:
    """The login screen: the wide primary-coloured Log in button is on screen, and the footer's keys."""
    return colour_count(image, PRIMARY) > 4000 and colour_count(image, FOOTER_KEY) > 20


def grid_shown(image: object) -> bool:
    """The nozzle grid: no login button, and a fuelling tile (success colour) is drawn."""
    return colour_count(image, PRIMARY) < 1000 and colour_count(image, SUCCESS) > 300


GRID_BOX = (0, 60, VIEWPORT["width"], VIEWPORT["height"] - 40)
"""Below the status bar and the tabs, above the footer: where the tiles are."""


# --- the daemon's audit log ------------------------------------------------------------------------


def audit(station: Station, actor: str) -> list[tuple[str, str, str]]:
    """(action, outcome, details) of the audit rows by `actor` or about it (target), oldest first."""
    with contextlib.closing(sqlite3.connect(f"file:{station.dir / 'station.db'}?mode=ro", uri=True)) as conn:
        return conn.execute(
            "SELECT action, outcome, details FROM audit_log WHERE actor = ? OR target = ? ORDER BY id",
            (actor, actor),
        ).fetchall()


def locked(station: Station, username: str) -> bool:
    with contextlib.closing(sqlite3.connect(f"file:{station.dir / 'station.db'}?mode=ro", uri=True)) as conn:
        row = conn.execute(
            "SELECT locked_at IS NOT NULL FROM operators WHERE username = ?", (username,)
        ).fetchone()
    return bool(row and row[0])


# --- processes -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return 0


def add_operator(station: Station, username: str, password: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "edge.cli", "operators", "--config", str(station.config), "add", username,
         "--role", "operator", "--password-stdin"],
        input=password + "\n", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


@pytest.fixture
def web_station(tmp_path: Path) -> Iterator[tuple[Station, str, Process]]:
    station = Station.create(tmp_path / "station")
    text = station.config.read_text()
    for english, chinese in PRODUCTS.items():
        text = text.replace(f'name = "{english}"', f'name = "{chinese}"')
    station.config.write_text(text)
    add_operator(station, OPERATOR, PASSWORD)
    add_operator(station, VICTIM, VICTIM_PASSWORD)
    port = free_port()
    web = spawn(
        "station-web",
        [sys.executable, "-m", "edge.cli", "web", "--config", str(station.config), "--port", str(port)],
        station.dir / "web.log",
    )
    station.extra.append(web)
    try:
        station.start_sim("--seed", "5", "--rate", "30", "--fuel-speed", "300", "--p2p-interval-ms", "200")
        station.start_daemon()
        url = f"http://127.0.0.1:{port}/"
        wait_until(lambda: http_status(url) == 200 or not web.alive(), 60, "station web to listen")
        assert web.alive(), web.log_text()
        yield station, url, web
    finally:
        station.stop()


@pytest.fixture
def browser_page(tmp_path: Path) -> Iterator[object]:
    with playwright_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            viewport=VIEWPORT,
        )
        try:
            yield context.new_page()
        finally:
            context.close()


def type_line(page: object, text: str) -> None:
    page.keyboard.type(text)  # type: ignore[attr-defined]
    page.keyboard.press("Enter")  # type: ignore[attr-defined]


def export_download(page: object) -> object | None:
    """Press `e` (Export CSV) on the report screen; the download, or None when none started (the
    report screen is not up yet: `e` means nothing on the main screen)."""
    try:
        with page.expect_download(timeout=10_000) as info:  # type: ignore[attr-defined]
            page.keyboard.press("e")  # type: ignore[attr-defined]
        return info.value
    except playwright_api.TimeoutError:
        return None


def type_seen(shots: Shots, text: str, name: str) -> None:
    """Type `text` and wait until the screen shows a change (the keys reached the terminal UI)."""
    before, _ = shots.take(f"before-{name}")
    shots.page.keyboard.type(text)  # type: ignore[attr-defined]
    shots.until(
        lambda image: differing_pixels(before, image, (0, 0, *image.size)) > 20, 60, f"{name} typed", name
    )
    shots.page.keyboard.press("Enter")  # type: ignore[attr-defined]


# --- the tests -------------------------------------------------------------------------------------


def test_browser_logs_in_watches_the_grid_and_three_wrong_passwords_lock(
    web_station: tuple[Station, str, Process], browser_page: object, tmp_path: Path
) -> None:
    station, url, web = web_station
    page = browser_page
    shots = Shots(page, tmp_path / "screenshots")
    print(f"\nweb view screenshots: {shots.folder}")

    # Nothing but the page and its assets without a login: no directory listing, no downloads.
    assert http_status(url + "static/") in (403, 404)
    assert http_status(url + "download/not-a-key") == 404

    page.goto(url)  # type: ignore[attr-defined]
    login, _ = shots.until(login_shown, 90, "the login screen in the browser", "login")
    assert colour_count(login, SUCCESS, GRID_BOX) < 300 or not grid_shown(login)
    # The terminal's keyboard input is xterm's helper textarea; Textual has focused the user name.
    page.focus("textarea.xterm-helper-textarea")  # type: ignore[attr-defined]

    type_seen(shots, OPERATOR, "user-name")
    type_seen(shots, PASSWORD, "password")
    wait_until(
        lambda: ("login", "ok") in [(a, o) for a, o, _ in audit(station, OPERATOR)], 60, "the login audit row"
    )
    first, first_path = shots.until(grid_shown, 90, "the nozzle grid with a fuelling tile", "grid")
    # Live: a later screenshot of the grid differs (figures count up, states change).
    later, later_path = shots.until(
        lambda image: grid_shown(image) and differing_pixels(first, image, GRID_BOX) > 200,
        120,
        "the nozzle grid to change",
        "grid-changed",
    )
    assert differing_pixels(first, later, GRID_BOX) > 200, (first_path, later_path)

    # An export downloads to the browser (not onto the station box): open a shift, its report, `e` (CSV).
    page.keyboard.press("o")  # type: ignore[attr-defined]
    wait_until(
        lambda: ("open_shift", "ok") in [(a, o) for a, o, _ in audit(station, OPERATOR)],
        60,
        "the shift opened from the browser in the audit log",
    )
    page.keyboard.press("r")  # type: ignore[attr-defined]
    download = wait_until(lambda: export_download(page), 120, "the CSV export to download")
    saved = shots.folder / download.suggested_filename
    download.save_as(str(saved))
    assert saved.name.startswith("shift-") and saved.suffix == ".csv"
    assert saved.read_bytes().startswith(b"\xef\xbb\xbf")  # UTF-8 with a byte-order mark, as on the box
    assert "," in saved.read_text(encoding="utf-8-sig").splitlines()[0]
    assert not list((station.dir).glob("shift-*.csv")) and not list(Path.cwd().glob("shift-*.csv"))
    exported, _ = shots.take("report-exported")
    page.keyboard.press("Escape")  # type: ignore[attr-defined]  # close the report, then log out
    shots.until(
        lambda image: differing_pixels(exported, image, (0, 0, *image.size)) > 5000,
        60,
        "the report closed",
        "closed",
    )

    # Log out (ctrl+l): back to the login screen, then three wrong passwords for another operator.
    page.keyboard.press("Control+l")  # type: ignore[attr-defined]
    shots.until(login_shown, 60, "the login screen after logging out", "logged-out")
    previous, _ = shots.take("before-wrong")
    assert colour_count(previous, ERROR) < 100
    type_line(page, VICTIM)  # the user name stays; after a refusal the password field has the focus
    for attempt in range(1, 4):
        type_line(page, f"wrong-password-{attempt}")
        wait_until(
            lambda n=attempt: (
                len([1 for a, o, _ in audit(station, VICTIM) if a == "login" and o != "ok"]) >= n
            ),
            60,
            f"failed login {attempt} in the audit log",
        )
        # The refusal is shown in error-coloured words, new words each time (tries left, then LOCKED).
        previous, _ = shots.until(
            lambda image, before=previous: (
                login_shown(image)
                and colour_count(image, ERROR) > 100
                and differing_pixels(before, image, (0, 0, *image.size)) > 20
            ),
            60,
            f"the refusal of attempt {attempt}",
            f"refused-{attempt}",
        )

    assert "lock_operator" in [a for a, _, _ in audit(station, VICTIM)], audit(station, VICTIM)
    assert locked(station, VICTIM)
    # Locked means locked: the right password is refused now, and the audit says why.
    refusals = len(audit(station, VICTIM))
    type_line(page, VICTIM_PASSWORD)
    wait_until(
        lambda: len(audit(station, VICTIM)) > refusals, 60, "the locked account's refusal in the audit log"
    )
    action, outcome, details = audit(station, VICTIM)[-1]
    assert (action, outcome) == ("login", "refused") and "locked" in details
    shots.until(
        lambda image: login_shown(image) and colour_count(image, ERROR) > 100,
        60,
        "the locked refusal on screen",
        "locked",
    )
    assert not any(a == "login" and o == "ok" for a, o, _ in audit(station, VICTIM))
    assert "web session opened" in web.log_text()


def test_chinese_product_names_render_in_the_browser(browser_page: object, tmp_path: Path) -> None:
    """The terminal's font stack draws CJK glyphs: two characters differ from each other and from the
    box drawn for a character no font has (what a box without a CJK font shows for every name)."""
    page = browser_page
    font = "'Roboto Mono', Monaco, 'Courier New', monospace"  # textual-serve's terminal font stack
    images = {}
    for name, char in {"qi": "汽", "chai": "柴", "missing": "\U0010fffd"}.items():
        page.set_content(  # type: ignore[attr-defined]
            f'<body style="margin:0;background:#000"><div id="c" style="font-family:{font};'
            f'font-size:64px;color:#fff;width:128px;height:96px">{char}</div></body>'
        )
        path = tmp_path / "screenshots" / f"glyph-{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        data = page.locator("#c").screenshot(path=str(path))  # type: ignore[attr-defined]
        images[name] = Image.open(BytesIO(data)).convert("RGB")
    box = (0, 0, *images["qi"].size)
    assert differing_pixels(images["qi"], images["chai"], box) > 200
    assert differing_pixels(images["qi"], images["missing"], box) > 200
    assert (
        shutil.which("fc-list") is None
        or "CJK" in subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, timeout=30).stdout
    )
