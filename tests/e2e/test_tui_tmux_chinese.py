"""The attendant's whole path in Chinese: simulator → daemon → control API → `station tui` in tmux.

A station configured in Chinese (`language = "zh_CN"`). An expired-cylinder CNG card is refused on the
wire; the attendant logs in through the keyboard, reads the live nozzle grid in Chinese from
`tmux capture-pane` (state words 加注中 / 加注完成), the refusal with the rule's reason in Chinese, and the
shift report in Chinese on screen and exported as CSV. Then a field engineer whose own language is
English logs in at the same terminal and reads the same stored decision in English.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.harness import Station, wait_until

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (make test installs it)"),
]

ATTENDANT, ATTENDANT_PW = "xiaoli", "pump-2026!"
ENGINEER, ENGINEER_PW = "engineer", "field-2026!"
CNG_EXPIRED = "10000101100000000501"

SCENARIO = f"""
[[cards]]
asn = "{CNG_EXPIRED}"
kind = "cng"
balance = 30000
cng = {{ card_class = 1, mode = "prepaid_amount", cylinder_valid_until = "2020-01-31", plate = "京C54321" }}

[[timeline]]
at_s = 0
line = "p2p1"
dispenser = 4
nozzle = 7
action = "insert_card"
card = "{CNG_EXPIRED}"

[[timeline]]
at_s = 1
line = "p2p1"
dispenser = 4
nozzle = 7
action = "pull_card"

[[timeline]]
at_s = 900
line = "bus1"
dispenser = 1
action = "error_info"
text = "end of the test scenario (keeps the random traffic going until then)"
"""


def add_operator(station: Station, user: str, password: str, *options: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "edge.cli", "operators", "--config", str(station.config), "add", user,
         "--role", "operator", *options, "--password-stdin"],
        input=password + "\n", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


class Tmux:
    """One tmux server of our own (`-L`), started in a UTF-8 locale (`-u`)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.session = "tui"

    def __call__(self, *args: str) -> str:
        env = {**os.environ, "LANG": "C.UTF-8"}
        return subprocess.run(
            ["tmux", "-u", "-L", self.name, *args],
            capture_output=True,
            text=True,
            check=True,
            timeout=30,
            env=env,
        ).stdout

    def screen(self) -> str:
        return self("capture-pane", "-p", "-t", self.session)

    def keys(self, *keys: str) -> None:
        self("send-keys", "-t", self.session, *keys)

    def showing(self, *words: str) -> str:
        text = self.screen()
        return text if all(word in text for word in words) else ""

    def kill(self) -> None:
        subprocess.run(["tmux", "-L", self.name, "kill-server"], capture_output=True, timeout=30)


def until_shown(tmux: Tmux, what: str, *words: str, timeout_s: float = 60) -> str:
    """The screen once it shows every word; on a timeout the failure shows the last screen."""
    try:
        return str(wait_until(lambda: tmux.showing(*words), timeout_s, what))
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the screen:\n{tmux.screen()}") from None


def log_in(tmux: Tmux, user: str, password: str, login_word: str) -> None:
    wait_until(lambda: tmux.showing(login_word), 60, "the login screen")
    tmux.keys(user, "Enter")
    tmux.keys(password, "Enter")
    try:
        wait_until(lambda: login_word not in tmux.screen(), 30, f"{user} to be logged in")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the screen:\n{tmux.screen()}") from None


def stored_decision(station: Station, asn: str) -> dict[str, object]:
    conn = sqlite3.connect(f"{(station.dir / 'station.db').resolve().as_uri()}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        rows = [dict(r) for r in conn.execute("SELECT * FROM decisions WHERE asn = ?", (asn,))]
    finally:
        conn.close()
    return rows[0] if rows else {}


def test_attendant_reads_chinese_engineer_reads_english(tmp_path: Path) -> None:
    station = Station.create(tmp_path, language="zh_CN")
    add_operator(station, ATTENDANT, ATTENDANT_PW)
    add_operator(station, ENGINEER, ENGINEER_PW, "--language", "en")
    scenario = tmp_path / "scenario.toml"
    scenario.write_text(SCENARIO, encoding="utf-8")
    tmux = Tmux(f"station-zh-{os.getpid()}")
    try:
        station.start_sim("--seed", "5", "--rate", "20", "--mix", "cash=100", "--fuel-speed", "400",
                          "--p2p-interval-ms", "200", "--scenario", str(scenario))  # fmt: skip
        station.start_daemon()
        # the refusal on the wire, stored by its code (the database keeps codes and source texts)
        decision = wait_until(
            lambda: stored_decision(station, CNG_EXPIRED), 60, "the expired card's decision"
        )
        assert decision["allowed"] == 0 and decision["reason_name"] == "CYLINDER_EXPIRED"

        command = f"{sys.executable} -m edge.cli tui --config {station.config}"
        tmux("new-session", "-d", "-s", tmux.session, "-x", "80", "-y", "24", "-c", str(tmp_path),
             "-e", "TERM=xterm-256color", "-e", "LANG=C.UTF-8", command)  # fmt: skip
        wait_until(lambda: tmux.showing("操作员登录", "在线"), 60, "the Chinese login screen, online")
        log_in(tmux, ATTENDANT, ATTENDANT_PW, "操作员登录")

        # the live nozzle grid in Chinese
        wait_until(lambda: tmux.showing("空闲") or tmux.showing("加注中"), 30, "the grid in Chinese")
        first = wait_until(lambda: tmux.showing("加注中"), 120, "a nozzle fuelling (加注中)")
        wait_until(
            lambda: "加注中" in (s := tmux.screen()) and s != first, 60, "the fuelling figures to move"
        )
        wait_until(lambda: tmux.showing("加注完成"), 120, "a sale to finish (加注完成)")
        assert "FUELLING" not in tmux.screen() and "IDLE" not in tmux.screen()

        # the refusal, with the rule's reason in Chinese
        tmux.keys("6")
        text = until_shown(
            tmux, "the refusal", "拒绝", "cylinder_expired", "车辆气瓶检验已过期", "检验到期日为 2020-01-31"
        )
        assert "…0501" in text

        # the shift report in Chinese: on screen, then exported as CSV
        tmux.keys("5")
        tmux.keys("o")
        wait_until(lambda: tmux.showing("当班中"), 60, "the shift to open")
        tmux.keys("r")
        until_shown(tmux, "the report in Chinese", "交接班报表", "枪号", "开班泵码")
        tmux.keys("e")
        exported = tmp_path / "shift-1-provisional.csv"
        wait_until(exported.exists, 30, "the CSV export")
        header = exported.read_text(encoding="utf-8-sig").splitlines()[0]
        assert header.startswith("分类,线路,加注机,枪号")
        tmux.keys("Escape")
        wait_until(lambda: "交接班报表" not in tmux.screen(), 30, "the report to close")

        # a field engineer (own language: English) at the same terminal, the same stored decision
        tmux.keys("C-l")
        log_in(tmux, ENGINEER, ENGINEER_PW, "操作员登录")
        wait_until(lambda: tmux.showing("IDLE") or tmux.showing("FUELLING"), 30, "the grid in English")
        tmux.keys("6")
        until_shown(
            tmux,
            "the same refusal in English",
            "REFUSED",
            "cylinder_expired",
            "Vehicle gas cylinder inspection has",
            "Inspection was due on 2020-01-31",
        )
        assert "车辆气瓶检验已过期" not in tmux.screen()
        tmux.keys("C-q")
    finally:
        tmux.kill()
        station.stop()
    # what the attendant saw (`pytest -s` shows it)
    print(json.dumps({"decision": decision["reason_name"]}))
    print(first)
    print(text)
