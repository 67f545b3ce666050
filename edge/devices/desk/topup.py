"""The two-phase rule for writing money onto a card, and its recovery table (pure).

Layer: edge (pure core: no I/O). A write of money — a top-up (CREDIT FOR LOAD), a grey unlock at the
desk (DEBIT FOR UNLOCK), the balance of a replaced card loaded onto its new card — goes:

    intent     stored with the balance before, the balance expected after and the card's counter
    written    stored just before the write command is sent (its outcome is then unknown)
    confirmed  the card answered, or a later read shows the balance after (and the counter moved on)
    refused    nothing was loaded and nothing will be: the payment is still owed to the customer
    unresolved the card shows neither balance: the card is damaged, replace it

When the answer to the write is lost (a torn card, a reader pulled, the daemon killed), the card decides
(`judge`), at once if it is still in the reader, otherwise at start-up and when it is inserted again:

    card balance         card counter          verdict      action
    = before             = before (or unknown) NOT_WRITTEN  safe: nothing loaded (refuse, or retry)
    = after              = before + 1 (or unk.) WRITTEN     loaded: confirm (never load again)
    anything else                              DAMAGED      unresolved: replace the card

A grey unlock (`judge_unlock`) is judged by the balance and the grey flag instead of the counter: still
grey with the balance before → not written; normal with the balance after → written; else damaged.

`recover(state, verdict)` turns that into the action for the operation's stored state; an operation
still at `intent` was never sent to the card, so it is refused at start-up without the card.
A card is never loaded twice for one payment: a second write is only ever sent after a read showed
the balance before, under the same operation key.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Action", "Expectation", "Verdict", "judge", "judge_unlock", "recover", "startup_action"]


class Verdict(StrEnum):
    NOT_WRITTEN = "not_written"
    WRITTEN = "written"
    DAMAGED = "damaged"


class Action(StrEnum):
    CONFIRM = "confirm"
    """The card holds the money: mark the operation confirmed (and tell the centre)."""
    REFUSE = "refuse"
    """Nothing was written: mark it refused; the payment is owed to the customer (or top up again)."""
    UNRESOLVED = "unresolved"
    """The card is neither: keep the operation unresolved and replace the card."""
    WAIT_FOR_CARD = "wait_for_card"
    """The outcome is on the card, which is not here: keep the operation until it is inserted."""
    NOTHING = "nothing"
    """The operation is already final."""


@dataclass(frozen=True, slots=True)
class Expectation:
    """What a two-phase write expects of the card."""

    balance_before: int
    balance_after: int
    counter_before: int | None = None
    """The card counter the write moves on by one (online counter for a load, offline for a debit)."""

    def __post_init__(self) -> None:
        if self.balance_before == self.balance_after:
            raise ValueError("a two-phase write must change the balance")


def judge(expected: Expectation, balance: int, counter: int | None) -> Verdict:
    """What the card's balance and counter say about the write (see the module docstring)."""
    known = expected.counter_before is not None and counter is not None
    before = expected.counter_before
    if balance == expected.balance_after and (not known or counter == (before or 0) + 1):
        return Verdict.WRITTEN
    if balance == expected.balance_before and (not known or counter == before):
        return Verdict.NOT_WRITTEN
    return Verdict.DAMAGED


def judge_unlock(balance_before: int, balance_after: int, balance: int, grey: bool) -> Verdict:
    """A grey unlock (DEBIT FOR UNLOCK) judged by the balance and the grey flag: still grey with the
    balance before → not written; no longer grey with the balance after → written; else damaged."""
    if grey and balance == balance_before:
        return Verdict.NOT_WRITTEN
    if not grey and balance == balance_after:
        return Verdict.WRITTEN
    return Verdict.DAMAGED


_ON_CARD = {
    Verdict.WRITTEN: Action.CONFIRM,
    Verdict.NOT_WRITTEN: Action.REFUSE,
    Verdict.DAMAGED: Action.UNRESOLVED,
}


def recover(state: str, verdict: Verdict) -> Action:
    """The action for an operation in `state` (`storage.desk.OpState` value) whose card has just been
    read (re-insertion, or a re-read after a lost answer)."""
    if state in ("confirmed", "refused", "done"):
        return Action.NOTHING
    if state == "intent":
        # never sent: the card cannot hold it; anything but the balance before is someone else's doing
        return Action.REFUSE if verdict is Verdict.NOT_WRITTEN else Action.UNRESOLVED
    return _ON_CARD[verdict]


def startup_action(state: str) -> Action:
    """At start-up, without the card: `intent` was never sent (refuse), `written` waits for its card."""
    if state == "intent":
        return Action.REFUSE
    if state in ("written", "unresolved"):
        return Action.WAIT_FOR_CARD
    return Action.NOTHING
