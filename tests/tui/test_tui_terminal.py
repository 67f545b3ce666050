"""A terminal without a UTF-8 locale gets a clear message instead of a garbled screen."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tui.terminal import effective_locale, terminal_problem


@pytest.mark.parametrize(
    "env",
    [
        {"LANG": "zh_CN.UTF-8"},
        {"LANG": "C.UTF-8"},
        {"LANG": "en_US.utf8"},
        {"LC_ALL": "zh_CN.UTF-8", "LANG": "C"},
        {"LC_CTYPE": "zh_CN.UTF-8"},
    ],
)
def test_utf8_locales_start(env: dict[str, str]) -> None:
    assert terminal_problem(env) == ""


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"LANG": "C"},
        {"LANG": "POSIX"},
        {"LANG": "zh_CN.GB18030"},
        {"LC_ALL": "en_US.ISO-8859-1", "LANG": "en_US.UTF-8"},
        {"LANG": "C", "LC_CTYPE": "C.UTF-8"},  # Python's own coercion of the C locale (PEP 538)
    ],
)
def test_other_locales_get_a_message(env: dict[str, str]) -> None:
    problem = terminal_problem(env)
    assert "UTF-8" in problem and "export LANG=" in problem
    assert problem.isascii()  # readable on the very terminal that cannot show UTF-8


def test_the_web_view_draws_in_the_browser_whatever_the_locale() -> None:
    """textual-serve starts the UI with the web driver from a service that may have no locale at all."""
    assert terminal_problem({"TEXTUAL_DRIVER": "textual.drivers.web_driver:WebDriver"}) == ""
    assert terminal_problem({"TEXTUAL_DRIVER": "textual.drivers.web_driver:WebDriver", "LANG": "C"}) == ""


def test_the_locale_that_counts() -> None:
    assert effective_locale({"LC_ALL": "a.UTF-8", "LC_CTYPE": "b", "LANG": "c"}) == "a.UTF-8"
    assert effective_locale({"LC_CTYPE": "b.UTF-8", "LANG": "c"}) == "b.UTF-8"
    assert effective_locale({"LANG": "c"}) == "c"


def test_the_ui_refuses_to_start_without_utf8() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LC_")}
    env["LANG"] = "C"
    done = subprocess.run(
        [sys.executable, "-m", "tui", "--socket", "/nonexistent/control.sock"],
        env=env,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert b"does not use a UTF-8 locale" in done.stderr
    assert b"\x1b[" not in done.stdout  # no screen was drawn
