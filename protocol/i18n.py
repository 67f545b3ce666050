"""Translations of everything people read: gettext catalogs (zh_CN first, en) and wide-character layout.

Layer: protocol (pure, standard library only), so every layer may use it: the rules' reason words live
in `protocol.reasons`, the shift report is rendered in `storage`, the CLI in `edge`, the screens in
`tui`. Logs, the MQTT contract and the database stay language-neutral: they carry codes and the English
source texts; words are translated where a person reads them (`Translator.gettext`).

Catalogs are GNU gettext files of the domain `station`, one per language, shipped inside this package::

    protocol/locale/station.pot                      the template (extracted from the source)
    protocol/locale/zh_CN/LC_MESSAGES/station.po     translations, edited by translators
    protocol/locale/zh_CN/LC_MESSAGES/station.mo     compiled (shipped; what runs)
    protocol/locale/en/LC_MESSAGES/station.po|mo

The message ids are the English source texts. A text to translate is written `_("…")` where it is
shown, or marked `N_("…")` where it is defined far from the display (tables of words); placeholders are
named (`_("Shift #{id}").format(id=…)`) so a translation may reorder them. The translators' workflow is
in docs/translations.md.

Terminal cells: a Chinese character takes two cells of a terminal. `cells`, `ljust`, `rjust` and `clip`
pad and cut by cells (East Asian width), not by characters, so columns stay aligned in either language.
"""

from __future__ import annotations

import functools
import gettext
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = [
    "DEFAULT_LANGUAGE",
    "DOMAIN",
    "LANGUAGES",
    "LOCALE_DIR",
    "N_",
    "CatalogMissing",
    "Translator",
    "UnknownLanguage",
    "cells",
    "clip",
    "ljust",
    "normalise",
    "rjust",
    "translator",
]

DOMAIN: Final = "station"
LANGUAGES: Final = ("zh_CN", "en")
"""Languages with a catalog, the station default first."""
DEFAULT_LANGUAGE: Final = "zh_CN"
LANGUAGE_NAMES: Final = {"zh_CN": "中文", "en": "English"}
"""Each language in its own words (for the language switch)."""
LOCALE_DIR: Final = Path(__file__).with_name("locale")

_ALIASES: Final = {
    "zh": "zh_CN",
    "zh_cn": "zh_CN",
    "zh_hans": "zh_CN",
    "zh_hans_cn": "zh_CN",
    "cn": "zh_CN",
    "chinese": "zh_CN",
    "en": "en",
    "en_us": "en",
    "en_gb": "en",
    "english": "en",
}


class UnknownLanguage(ValueError):
    """A language this build has no catalog for; `language` is what was asked for."""

    def __init__(self, language: str) -> None:
        super().__init__(f"unknown language {language!r} (known: {', '.join(LANGUAGES)})")
        self.language = language


class CatalogMissing(RuntimeError):
    """The compiled catalog of a known language is not installed (a broken build)."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"translation catalog {path} is missing: reinstall the package")
        self.path = path


def normalise(language: str) -> str:
    """`zh`, `zh-CN`, `zh_CN.UTF-8`, `en_US` … → one of `LANGUAGES`; raises `UnknownLanguage`."""
    key = language.strip().split(".", 1)[0].split("@", 1)[0].replace("-", "_").lower()
    try:
        return _ALIASES[key]
    except KeyError:
        raise UnknownLanguage(language) from None


def N_(message: str) -> str:
    """Mark a text for translation where it is defined; it is translated where it is shown."""
    return message


@functools.cache
def _catalog(language: str) -> gettext.GNUTranslations:
    path = LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
    try:
        with path.open("rb") as fp:
            return gettext.GNUTranslations(fp)
    except FileNotFoundError:
        raise CatalogMissing(path) from None


@dataclass(frozen=True, slots=True)
class Translator:
    """One language's catalog: `tr("Card accepted.")` → `"卡有效。"` (the English text when the catalog
    has no translation, which the catalog test forbids)."""

    language: str

    def gettext(self, message: str) -> str:
        if not message:
            return message
        return _catalog(self.language).gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return _catalog(self.language).ngettext(singular, plural, n)

    def __call__(self, message: str) -> str:
        return self.gettext(message)

    @property
    def chinese(self) -> bool:
        return self.language == "zh_CN"


def translator(language: str = DEFAULT_LANGUAGE) -> Translator:
    """The translator of a language (any spelling `normalise` accepts); checks its catalog is installed."""
    code = normalise(language)
    _catalog(code)
    return Translator(code)


# --- terminal cells -------------------------------------------------------------------------------


def _width(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def cells(text: str) -> int:
    """How many terminal cells `text` takes (a CJK character: two)."""
    if text.isascii():
        return len(text)
    return sum(_width(c) for c in text)


def clip(text: str, width: int) -> str:
    """The longest start of `text` that fits `width` cells."""
    if cells(text) <= width:
        return text
    out, used = [], 0
    for c in text:
        w = _width(c)
        if used + w > width:
            break
        out.append(c)
        used += w
    return "".join(out)


def ljust(text: str, width: int) -> str:
    """`text` padded with spaces on the right to `width` cells (never cut)."""
    return text + " " * max(0, width - cells(text))


def rjust(text: str, width: int) -> str:
    """`text` padded with spaces on the left to `width` cells (never cut)."""
    return " " * max(0, width - cells(text)) + text
