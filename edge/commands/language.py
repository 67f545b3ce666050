"""Which language the operator CLI speaks: `STATION_LANGUAGE`, else the station's, else Chinese.

Layer: edge (CLI helper). `station status` and `station operators` print for the people of the
station, so they speak the station's language (`[station] language`, or the daemon's `hello`); a field
engineer sets `STATION_LANGUAGE=en` in their shell. Error messages of the configuration and the
daemon's own texts stay as they are (they name files and keys).
"""

from __future__ import annotations

import os

from protocol.i18n import DEFAULT_LANGUAGE, Translator, UnknownLanguage, translator

ENV = "STATION_LANGUAGE"


def cli_translator(station_language: str = "") -> Translator:
    """The translator for CLI output (an unknown language in the environment is ignored)."""
    for candidate in (os.environ.get(ENV, ""), station_language):
        if candidate:
            try:
                return translator(candidate)
            except UnknownLanguage:
                continue
    return translator(DEFAULT_LANGUAGE)
