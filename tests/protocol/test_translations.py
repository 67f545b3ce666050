"""Every text people read is translated in both catalogs, and the shipped .mo files are compiled from
the .po files: a missing or fuzzy translation, a translation with other placeholders, or a stale .mo
fails the build. (The same check as `uv run python scripts/translations.py check`.)"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from protocol.i18n import LANGUAGES, LOCALE_DIR, translator
from protocol.reasons import REASON_TEXT, RefusalReason

ROOT = Path(__file__).resolve().parents[2]


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("translations_tool", ROOT / "scripts" / "translations.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tool() -> ModuleType:
    return _tool()


def test_every_marked_text_is_translated_in_both_catalogs(tool: ModuleType) -> None:
    problems = list(tool.problems())
    assert not problems, "run scripts/translations.py update, translate, compile:\n" + "\n".join(problems)


def test_the_check_finds_a_missing_translation(
    tool: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The check itself can fail: a catalog without one text is reported."""
    from babel.messages.pofile import read_po, write_po

    for language in LANGUAGES:
        folder = tmp_path / language / "LC_MESSAGES"
        folder.mkdir(parents=True)
        src = LOCALE_DIR / language / "LC_MESSAGES"
        (folder / "station.mo").write_bytes((src / "station.mo").read_bytes())
        with (src / "station.po").open("rb") as fp:
            catalog = read_po(fp, locale=language)
        if language == "zh_CN":
            catalog.delete(REASON_TEXT[RefusalReason.CYLINDER_EXPIRED])
        with (folder / "station.po").open("wb") as fp:
            write_po(fp, catalog)
    monkeypatch.setattr(tool, "LOCALE_DIR", tmp_path)
    problems = list(tool.problems())
    assert any("zh_CN: not translated" in p and "cylinder" in p for p in problems), problems
    assert any("zh_CN" in p and "not compiled" in p for p in problems), problems


def test_placeholders_must_match(tool: ModuleType) -> None:
    from babel.messages.catalog import Message

    assert tool._placeholders(Message("Saved {path}", "已保存 {paht}"))
    assert not tool._placeholders(Message("Saved {path}", "已保存 {path}"))
    assert not tool._placeholders(Message(("{n} ALARM", "{n} ALARMS"), ("{n} 条报警",)))


def test_every_reason_has_chinese_words() -> None:
    zh = translator("zh_CN")
    for reason, words in REASON_TEXT.items():
        chinese = zh(words)
        assert chinese != words, reason
        assert any("\u4e00" <= c <= "\u9fff" for c in chinese), reason


def test_catalogs_are_shipped_in_the_package() -> None:
    """The wheel takes the packages' files: the compiled catalogs must be inside `protocol/`."""
    for language in LANGUAGES:
        assert (LOCALE_DIR / language / "LC_MESSAGES" / "station.mo").is_file()
    assert LOCALE_DIR.parent == ROOT / "protocol"


def test_no_translation_call_hides_inside_an_f_string() -> None:
    """Extraction does not look inside f-strings: `f"{_('X')}"` would never reach the catalogs."""
    import ast

    calls = {"_", "N_", "tr", "ngettext", "gettext"}
    found = []
    for folder in ("protocol", "storage", "edge", "tui"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.JoinedStr):
                    continue
                for inner in ast.walk(node):
                    if (
                        isinstance(inner, ast.Call)
                        and isinstance(inner.func, ast.Name)
                        and inner.func.id in calls
                    ):
                        found.append(f"{path.relative_to(ROOT)}:{inner.lineno}: {ast.unparse(inner)}")
    assert not found, "move these out of the f-string (translate first, then format):\n" + "\n".join(found)
