"""One spelling of "centre" in code and docs: the product says centre (the station's head office).
Words of other vocabularies are not ours to respell: CSS/Textual alignment values (`align: center`) and
Textual's `Center` container."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("edge", "protocol", "storage", "uplink", "tui", "firmware-sim", "bench", "scripts", "docs", "deploy")
SUFFIXES = {".py", ".md", ".toml", ".sh", ".tcss", ".html", ".service", ".txt"}
AMERICAN = re.compile(r"center", re.IGNORECASE)
NOT_OURS = re.compile(
    r"(align[-\w]*\s*:\s*center|justify-content\s*:\s*center|content-align\s*:\s*center"
    r"|\bCenter\(\)|import .*\bCenter\b|center middle)"
)


def american_spellings(text: str) -> list[str]:
    """The lines of `text` that spell centre the American way (outside other vocabularies)."""
    return [line for line in text.splitlines() if AMERICAN.search(NOT_OURS.sub("", line))]


def test_centre_is_spelt_one_way_in_code_and_docs() -> None:
    found = []
    for top in (*SCANNED, "README.md", "Makefile", "pyproject.toml"):
        path = ROOT / top
        files = [path] if path.is_file() else [p for p in path.rglob("*") if p.suffix in SUFFIXES]
        for f in files:
            if ".venv" in f.parts or "__pycache__" in f.parts:
                continue
            found += [f"{f.relative_to(ROOT)}: {line.strip()}" for line in american_spellings(f.read_text("utf-8"))]
    assert found == []


def test_the_check_sees_the_american_spelling_and_leaves_css_alone() -> None:
    assert american_spellings("uplink/center.py is the centre's example") != []
    assert american_spellings("    justify-content: center;\n    align: center middle;") == []
    assert american_spellings("with Center(), Vertical(id='box'):") == []
