"""How the terminal UI writes figures, states and times (pure functions).

Layer: tui. Money is fen, volume and totals 0.01 of the product's unit, prices fen per unit, as on
the wire. Every colour the UI uses for a state is backed by a word from `STATE_WORDS`. Words are
marked `N_` here and translated when shown (`tui.i18n`); money is `¥`, dates `2026-12-02`, times `14:30`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re

from edge.control.messages import EMP_NONE, Decision, DecisionWarning, mask_card
from protocol import words as shared_words
from protocol.reasons import REASON_TEXT, RefusalReason
from protocol.words import ALARM_TEXT, WARNING_TEXT, kind_words, payment_words
from tui.i18n import N_, _, current, language

STATE_WORDS = {
    "idle": N_("IDLE"),
    "card": N_("CARD IN"),
    "nozzle_up": N_("NOZZLE UP"),
    "fuelling": N_("FUELLING"),
    "finished": N_("FINISHED"),
    "offline": N_("OFFLINE"),
}
ROLE_WORDS = {
    "vendor": N_("vendor"),
    "admin": N_("admin"),
    "senior": N_("senior"),
    "operator": N_("operator"),
    "readonly": N_("read only"),
}
SEVERITY_WORDS = {"info": N_("INFO"), "warning": N_("WARN"), "major": N_("MAJOR"), "critical": N_("CRIT")}


def centi(value: int | None) -> str:
    """0.01 units as a decimal: 12345 → '123.45'."""
    if value is None:
        return _("n/a")
    return shared_words.centi(value)


def money(fen: int) -> str:
    return "¥" + centi(fen)


def volume(vol: int, unit: str = "L") -> str:
    return f"{centi(vol)} {unit or 'L'}"


def price(prc: int, unit: str = "L") -> str:
    return f"{centi(prc)}/{unit or 'L'}"


def emp(number: int) -> str:
    return "—" if number == EMP_NONE else _("emp {number}").format(number=number)


def kind(name: str) -> str:
    return kind_words(name, current())


def payment(mode: str) -> str:
    return payment_words(mode, current()) if mode else ""


def card(asn: str) -> str:
    return mask_card(asn)


def state_word(state: str) -> str:
    word = STATE_WORDS.get(state)
    return _(word) if word else state.upper()


def role_word(role: str) -> str:
    word = ROLE_WORDS.get(role)
    return _(word) if word else role


def severity_word(severity: str) -> str:
    word = SEVERITY_WORDS.get(severity)
    return _(word) if word else severity.upper()


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


def alarm_text(code: str, message: str) -> str:
    """An alarm in the UI's language: English shows the stored message (the engineer's detail), other
    languages what the code means (the source column says where)."""
    words = ALARM_TEXT.get(code)
    if words is None or language() == "en":
        return message or (words or code)
    return _(words)


_STOP_SALE = re.compile(r"stop the sale at nozzle (\d+)")


def action_words(action: str) -> str:
    """What an alarm asks the attendant to do (the daemon's English phrase, `edge.control.convert.
    alarm_action`) in the UI's language, in capitals where the language has them; "" for none."""
    if not action:
        return ""
    stop = _STOP_SALE.fullmatch(action)
    if stop is not None:
        return _("STOP THE SALE AT NOZZLE {nzn}").format(nzn=stop.group(1))
    return action.upper()


def reason_words(reason: str) -> str:
    """The words of a refusal reason code (`cylinder_expired`, or its number) in the UI's language;
    '' for a code this build does not know."""
    try:
        code = RefusalReason(int(reason)) if reason.isdigit() else RefusalReason[reason.upper()]
    except (KeyError, ValueError):
        return ""
    return _(REASON_TEXT[code])


def decision_words(d: Decision) -> str:
    """Why a card was allowed or refused, from the stored reason code (the daemon's English words only
    for a code this build does not know)."""
    words = reason_words(d.reason or "none")
    if not words:
        return d.words
    if d.detail:
        # a detail this build cannot fill (a newer daemon's): the reason alone
        with contextlib.suppress(KeyError, IndexError, ValueError):
            words += " " + _(d.detail).format(**d.detail_facts)
    return words


def decision_warnings(d: Decision) -> tuple[str, ...]:
    """The warnings of a decision in the UI's language, from their kind and facts."""
    if not d.warning_facts:
        return d.warnings
    return tuple(warning_words(w) for w in d.warning_facts)


def warning_words(w: DecisionWarning) -> str:
    template = WARNING_TEXT.get(w.kind)
    if template is None:
        return w.words
    amount = "" if w.amount is None else money(w.amount)
    return _(template).format(plate=w.plate or "—", due=w.due, amount=amount)


ERROR_TEXT = {
    "bad_request": N_("The request was not understood."),
    "unknown_type": N_("The daemon does not know this request."),
    "unsupported_version": N_("The daemon speaks another version: update the terminal."),
    "unauthenticated": N_("Not logged in."),
    "forbidden": N_("Your role may not do this."),
    "bad_credentials": N_("Wrong user name or password."),
    "locked": N_("This operator is locked out: ask a senior operator or the station manager."),
    "card_timeout": N_("No employee card in time."),
    "bad_card": N_("This is not your employee card."),
    "demo_disabled": N_("This station is not a demo station."),
    "not_found": N_("Not found."),
    "conflict": N_("Not possible now."),
    "busy": N_("The daemon is busy: try again."),
    "internal": N_("The daemon failed: call the station manager."),
}
"""What each control API error code means for the operator."""


def error_text(code: str, message: str) -> str:
    """A daemon's refusal in the UI's language: English shows the daemon's message, other languages
    what the code means."""
    words = ERROR_TEXT.get(code)
    if words is None or language() == "en":
        return message or (words or code)
    return _(words)
