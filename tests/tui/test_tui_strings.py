"""No text meant for people is written in the terminal UI without going through the catalogs.

A static check of `tui/`: the first argument of a widget or message that people read (`Label`,
`Static`, `Button`, `notify`, `say`, `update`, `Text.styled`), a `placeholder=`, and a binding's
description must not be a bare literal with words in it (letters or Chinese); they are `_("…")` or
`N_("…")`, which the catalog test then requires in both languages.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

TUI = Path(__file__).resolve().parents[2] / "tui"
SHOWN = {"Label", "Static", "Button", "notify", "say", "update", "styled", "Disconnected"}
WORDS = re.compile(r"[A-Za-z]{2,}|[\u4e00-\u9fff]")


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _bare_words(node: ast.expr | None) -> bool:
    """A literal (or f-string) with words in its fixed text."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return bool(WORDS.search(node.value))
    if isinstance(node, ast.JoinedStr):
        return any(
            isinstance(part, ast.Constant) and isinstance(part.value, str) and WORDS.search(part.value)
            for part in node.values
        )
    return False


def untranslated(source: str, filename: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source, filename)):
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        candidates: list[ast.expr | None] = []
        if name in SHOWN and node.args:
            candidates.append(node.args[0])
        if name == "Binding":
            candidates.append(node.args[2] if len(node.args) > 2 else None)
            candidates += [k.value for k in node.keywords if k.arg == "description"]
        candidates += [k.value for k in node.keywords if k.arg == "placeholder"]
        for candidate in candidates:
            if _bare_words(candidate):
                found.append(f"{filename}:{node.lineno}: {ast.unparse(node)[:100]}")
    return found


def test_no_untranslated_text_in_the_tui() -> None:
    problems = []
    for path in sorted(TUI.rglob("*.py")):
        problems += untranslated(path.read_text(encoding="utf-8"), str(path.relative_to(TUI.parent)))
    assert not problems, "wrap these texts in _() or N_():\n" + "\n".join(problems)


def test_the_check_sees_a_bare_text() -> None:
    source = 'Label("Operator login")\nself.notify(f"Alarm {n} acknowledged")\nInput(placeholder="user name")\n'
    assert len(untranslated(source, "x.py")) == 3
    assert not untranslated('Label(_("Operator login"))\nStatic(id="x")\nStatic(text)\n', "x.py")
