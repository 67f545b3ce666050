"""How the terminal UI writes figures, states and times (pure functions).

Layer: tui. Money is fen, volume and totals 0.01 of the product's unit, prices fen per unit, as on
the wire. Every colour the UI uses for a state is backed by a word from `STATE_WORDS`.
"""

from __future__ import annotations

import datetime as dt

from edge.control.messages import EMP_NONE, mask_card

STATE_WORDS = {
    "idle": "IDLE",
    "card": "CARD IN",
    "nozzle_up": "NOZZLE UP",
    "fuelling": "FUELLING",
    "finished": "FINISHED",
    "offline": "OFFLINE",
}
SEVERITY_WORDS = {"info": "INFO", "warning": "WARN", "major": "MAJOR", "critical": "CRIT"}


def centi(value: int | None) -> str:
    """0.01 units as a decimal: 12345 → '123.45'."""
    if value is None:
        return "n/a"
    sign = "-" if value < 0 else ""
    whole, cents = divmod(abs(value), 100)
    return f"{sign}{whole}.{cents:02d}"


def money(fen: int) -> str:
    return "¥" + centi(fen)


def volume(vol: int, unit: str = "L") -> str:
    return f"{centi(vol)} {unit or 'L'}"


def price(prc: int, unit: str = "L") -> str:
    return f"{centi(prc)}/{unit or 'L'}"


def emp(number: int) -> str:
    return "—" if number == EMP_NONE else f"emp {number}"


def card(asn: str) -> str:
    return mask_card(asn)


def state_word(state: str) -> str:
    return STATE_WORDS.get(state, state.upper())


def clock(text: str, with_date: bool = False) -> str:
    """An ISO instant from the daemon as local wall-clock time ('' stays '')."""
    if not text:
        return ""
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return text[:19]
    if value.tzinfo is not None:
        value = value.astimezone()
    return value.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S")
