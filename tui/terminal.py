"""Is the terminal able to show the UI? A UTF-8 locale, or a clear message instead of mojibake.

Layer: tui (pure: reads an environment mapping). The screens use box drawing, `¥`, `●` and Chinese,
which a terminal or SSH session without a UTF-8 locale shows as garbage; `python -m tui` refuses to
start there with a message (plain ASCII, readable on any terminal) that says what to set.

Python itself replaces a C/POSIX locale by `C.UTF-8` in its own environment (PEP 538 sets
`LC_CTYPE=C.UTF-8`), which says nothing about the terminal: that value is ignored unless `LANG` agrees.
The web view (`edge.web`, textual-serve) draws in the browser, which is always UTF-8 whatever the
locale of the service that starts the UI: Textual's web driver (`TEXTUAL_DRIVER`) needs no check.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["effective_locale", "is_utf8", "terminal_problem"]

COERCED = "C.UTF-8"

MESSAGE = """\
station tui: this terminal does not use a UTF-8 locale ({what}).
The station screens use Chinese characters, the yuan sign and box drawing, which would not be shown
correctly. Set a UTF-8 locale and start again, for example:

    export LANG=zh_CN.UTF-8      # or C.UTF-8 / en_US.UTF-8 (see `locale -a`)

Over SSH, set it in the session (or in the client's terminal settings); in tmux, start tmux in a UTF-8
locale (or with `tmux -u`).
"""


def is_utf8(locale_name: str) -> bool:
    codeset = locale_name.partition(".")[2].partition("@")[0]
    return codeset.replace("-", "").lower() == "utf8"


def effective_locale(env: Mapping[str, str]) -> str:
    """The character-type locale the user chose: `LC_ALL`, else `LC_CTYPE`, else `LANG` ('' = none)."""
    if env.get("LC_ALL"):
        return env["LC_ALL"]
    ctype = env.get("LC_CTYPE", "")
    lang = env.get("LANG", "")
    if ctype and not (ctype == COERCED and not is_utf8(lang)):
        return ctype
    return lang


def terminal_problem(env: Mapping[str, str] | None = None) -> str:
    """'' when the UI can start; otherwise the message to print."""
    env = os.environ if env is None else env
    if "web_driver" in env.get("TEXTUAL_DRIVER", ""):
        return ""
    name = effective_locale(env)
    if is_utf8(name):
        return ""
    return MESSAGE.format(what=f"LANG={name}" if name else "no LANG, LC_CTYPE or LC_ALL set")
