"""protocol.i18n: language names, the catalogs at run time, and text laid out by terminal cells."""

from __future__ import annotations

import pytest

from protocol.i18n import (
    DEFAULT_LANGUAGE,
    UnknownLanguage,
    cells,
    clip,
    ljust,
    normalise,
    rjust,
    translator,
)
from protocol.reasons import RefusalReason


@pytest.mark.parametrize(
    ("given", "code"),
    [("zh", "zh_CN"), ("zh-CN", "zh_CN"), ("zh_CN.UTF-8", "zh_CN"), ("en_US.UTF-8", "en"), ("EN", "en")],
)
def test_language_spellings(given: str, code: str) -> None:
    assert normalise(given) == code


def test_unknown_language_is_a_typed_error() -> None:
    with pytest.raises(UnknownLanguage) as info:
        translator("fr")
    assert info.value.language == "fr"


def test_chinese_is_the_default_and_english_the_identity() -> None:
    assert DEFAULT_LANGUAGE == "zh_CN"
    words = RefusalReason.CYLINDER_EXPIRED.words
    assert translator("en")(words) == words
    assert translator()(words) == "车辆气瓶检验已过期。不得加气；车辆须重新检验。"


def test_plural_forms() -> None:
    en, zh = translator("en"), translator("zh_CN")
    assert en.ngettext("│ {n} ALARM ", "│ {n} ALARMS ", 2) == "│ {n} ALARMS "
    assert en.ngettext("│ {n} ALARM ", "│ {n} ALARMS ", 1) == "│ {n} ALARM "
    assert zh.ngettext("│ {n} ALARM ", "│ {n} ALARMS ", 2) == "│ {n} 条报警 "


def test_cells_count_wide_characters_twice() -> None:
    assert cells("IDLE") == 4
    assert cells("加注中") == 6
    assert cells("¥12.30") == 6
    assert cells("92#汽油") == 7


def test_padding_and_clipping_by_cells() -> None:
    assert ljust("加注中", 10) == "加注中    "
    assert cells(ljust("加注中", 10)) == 10
    assert rjust("员工 1", 6) == "员工 1"
    assert clip("黑名单卡，已止付", 7) == "黑名单"  # never half a character
    assert clip("IDLE", 10) == "IDLE"
