"""The terminal UI's language: `_()` at the display edge, switched per operator.

Layer: tui. One UI process shows one person at a time, so the language is process-wide: the station's
language before login (from the daemon's hello, or `--language`), the operator's own preference after
login (a field engineer sees English), and `f2` switches it by hand. Screens are composed after a
switch, so every text is translated when it is drawn; tables of words are marked `N_` where they are
defined and translated with `_()` where they are shown. Binding descriptions (the footer) are
translated per node with `translate_bindings`.
"""

from __future__ import annotations

import dataclasses

from textual.binding import Binding
from textual.dom import DOMNode

from protocol.i18n import DEFAULT_LANGUAGE, LANGUAGES, N_, Translator, normalise, translator

__all__ = [
    "N_",
    "_",
    "current",
    "language",
    "next_language",
    "ngettext",
    "set_language",
    "translate_bindings",
]

_state = {"tr": translator(DEFAULT_LANGUAGE)}


def current() -> Translator:
    return _state["tr"]


def language() -> str:
    return _state["tr"].language


def set_language(code: str) -> bool:
    """Switch the UI's language (any spelling `protocol.i18n.normalise` takes); True if it changed."""
    tr = translator(normalise(code))
    changed = tr.language != _state["tr"].language
    _state["tr"] = tr
    return changed


def next_language() -> str:
    """The language the switch goes to from the current one."""
    index = LANGUAGES.index(language())
    return LANGUAGES[(index + 1) % len(LANGUAGES)]


def _(message: str) -> str:
    return _state["tr"].gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _state["tr"].ngettext(singular, plural, n)


def translate_bindings(node: DOMNode) -> None:
    """Give `node`'s bindings their descriptions in the current language (the footer shows them).

    The class's bindings keep the English source texts; the node gets translated copies."""
    source = type(node)._merged_bindings
    if source is None:
        return
    bindings = node._bindings.key_to_bindings
    for key, items in source.key_to_bindings.items():
        bindings[key] = [_translated(b) for b in items]


def _translated(binding: Binding) -> Binding:
    if not binding.description:
        return binding
    return dataclasses.replace(binding, description=_(binding.description))
