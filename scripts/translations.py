#!/usr/bin/env python3
"""The translators' tool: extract the texts, update the catalogs, compile them, check them.

    uv run python scripts/translations.py update    # source → station.pot → every station.po (new texts empty)
    uv run python scripts/translations.py compile   # every station.po → station.mo (shipped in the package)
    uv run python scripts/translations.py check     # what the test checks: nothing missing, .mo up to date

Uses Babel (a development dependency); the runtime reads the .mo files with the standard library's
gettext (`protocol.i18n`). Texts are found where the source calls `_()`, `N_()`, `ngettext()` or a
`tr()` translator. The English catalog is the identity: `update` fills it with the source texts; every
other language is written by a translator. See docs/translations.md.
"""

from __future__ import annotations

import io
import string
import sys
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parent.parent
LOCALE_DIR = ROOT / "protocol" / "locale"
DOMAIN = "station"
SOURCES = ("protocol", "storage", "edge", "tui")
KEYWORDS = {"_": None, "N_": None, "tr": None, "gettext": None, "ngettext": (1, 2)}
LANGUAGES = ("zh_CN", "en")
SOURCE_LANGUAGE = "en"
HEADER = "Translations of the station edge controller (domain station)."


def extract() -> Catalog:
    """Every text the source marks for translation, with where it was found."""
    catalog = Catalog(
        project="station-edge", version="1", domain=DOMAIN, header_comment=f"# {HEADER}", fuzzy=False
    )
    for folder in SOURCES:
        found = extract_from_dir(
            ROOT / folder, method_map=[("**.py", "python")], keywords=KEYWORDS, strip_comment_tags=True
        )
        for filename, lineno, message, comments, context in found:
            catalog.add(message, None, [(f"{folder}/{filename}", lineno)], auto_comments=comments,
                        context=context)  # fmt: skip
    return catalog


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.mo"


def read(language: str) -> Catalog:
    path = po_path(language)
    if not path.exists():
        return Catalog(locale=language, domain=DOMAIN, header_comment=f"# {HEADER}", fuzzy=False)
    with path.open("rb") as fp:
        return read_po(fp, locale=language, domain=DOMAIN)


def _write_po(path: Path, catalog: Catalog) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    write_po(buf, catalog, width=100, sort_output=False, omit_header=False, include_previous=False)
    path.write_bytes(buf.getvalue())


def compiled(catalog: Catalog) -> bytes:
    buf = io.BytesIO()
    write_mo(buf, catalog, use_fuzzy=False)
    return buf.getvalue()


def update() -> None:
    template = extract()
    _write_po(LOCALE_DIR / f"{DOMAIN}.pot", template)
    for language in LANGUAGES:
        catalog = read(language)
        catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
        catalog.obsolete.clear()
        if language == SOURCE_LANGUAGE:
            for message in catalog:
                if message.id and not _translated(message):
                    message.string = message.id
        _write_po(po_path(language), catalog)
        print(f"{po_path(language).relative_to(ROOT)}: {len(_missing(catalog, template))} to translate")


def compile_all() -> None:
    for language in LANGUAGES:
        mo_path(language).write_bytes(compiled(read(language)))
        print(f"{mo_path(language).relative_to(ROOT)} written")


def _translated(message: Message) -> bool:
    if isinstance(message.string, tuple | list):
        return all(message.string)
    return bool(message.string)


def _missing(catalog: Catalog, template: Catalog) -> list[str]:
    out = []
    for wanted in template:
        if not wanted.id:
            continue
        have = catalog.get(wanted.id, context=wanted.context)
        if have is None or not _translated(have) or have.fuzzy:
            out.append(wanted.id if isinstance(wanted.id, str) else wanted.id[0])
    return out


def problems() -> Iterator[str]:
    """Every text missing from a catalog, fuzzy or empty, every catalog whose .mo is out of date."""
    template = extract()
    for language in LANGUAGES:
        catalog = read(language)
        for text in _missing(catalog, template):
            yield f"{language}: not translated: {text!r}"
        for message in catalog:
            if message.id and not message.fuzzy and _translated(message) and _placeholders(message):
                yield f"{language}: placeholders differ: {message.id!r}"
        mo = mo_path(language)
        if not mo.exists() or mo.read_bytes() != compiled(catalog):
            yield f"{language}: {mo.name} is not compiled from its .po (run compile)"


def _placeholders(message: Message) -> bool:
    """True when a translation uses other `{name}` placeholders than its source text (a plural form may
    leave out the count)."""
    ids = message.id if isinstance(message.id, tuple | list) else (message.id,)
    strings = message.string if isinstance(message.string, tuple | list) else (message.string,)
    try:
        wanted = set().union(*(_names(i) for i in ids))
        if len(ids) == 1:
            return any(_names(s) != wanted for s in strings)
        return any(not _names(s) <= wanted for s in strings)
    except ValueError:  # not a format string at all: nothing to compare
        return False


def _names(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def main(argv: list[str]) -> int:
    match argv:
        case ["update"]:
            update()
        case ["compile"]:
            compile_all()
        case ["check"]:
            found = list(problems())
            for line in found:
                print(line)
            return 1 if found else 0
        case _:
            print(__doc__)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
