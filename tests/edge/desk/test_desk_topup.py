"""The two-phase rule's pure core: the card's balance and counter decide, never a second load."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from edge.devices.desk.topup import Action, Expectation, Verdict, judge, recover, startup_action

E = Expectation(10_000, 15_000, 7)


@pytest.mark.parametrize(
    ("balance", "counter", "verdict"),
    [
        (10_000, 7, Verdict.NOT_WRITTEN),
        (15_000, 8, Verdict.WRITTEN),
        (10_000, None, Verdict.NOT_WRITTEN),
        (15_000, None, Verdict.WRITTEN),
        (15_000, 7, Verdict.DAMAGED),  # balance moved but not the counter: not our write
        (10_000, 8, Verdict.DAMAGED),  # counter moved but not the balance
        (12_345, 8, Verdict.DAMAGED),
        (0, 0, Verdict.DAMAGED),
    ],
)
def test_the_recovery_table(balance: int, counter: int | None, verdict: Verdict) -> None:
    assert judge(E, balance, counter) is verdict


@pytest.mark.parametrize(
    ("state", "verdict", "action"),
    [
        ("written", Verdict.WRITTEN, Action.CONFIRM),
        ("written", Verdict.NOT_WRITTEN, Action.REFUSE),
        ("written", Verdict.DAMAGED, Action.UNRESOLVED),
        ("unresolved", Verdict.WRITTEN, Action.CONFIRM),
        ("intent", Verdict.NOT_WRITTEN, Action.REFUSE),
        ("intent", Verdict.WRITTEN, Action.UNRESOLVED),
        ("intent", Verdict.DAMAGED, Action.UNRESOLVED),
        ("confirmed", Verdict.NOT_WRITTEN, Action.NOTHING),
        ("refused", Verdict.WRITTEN, Action.NOTHING),
    ],
)
def test_recovery_by_stored_state(state: str, verdict: Verdict, action: Action) -> None:
    assert recover(state, verdict) is action


def test_startup_without_the_card() -> None:
    assert startup_action("intent") is Action.REFUSE
    assert startup_action("written") is Action.WAIT_FOR_CARD
    assert startup_action("unresolved") is Action.WAIT_FOR_CARD
    assert startup_action("confirmed") is Action.NOTHING


def test_a_write_must_change_the_balance() -> None:
    with pytest.raises(ValueError):
        Expectation(100, 100, 1)


money = st.integers(min_value=0, max_value=10**9)


@given(before=money, amount=st.integers(min_value=1, max_value=10**7), counter=st.integers(0, 65_534),
       tears=st.lists(st.booleans(), min_size=1, max_size=6))  # fmt: skip
def test_never_loaded_twice(before: int, amount: int, counter: int, tears: list[bool]) -> None:
    """A card whose write is torn any number of times (True: applied, answer lost; False: not applied)
    and which is retried only when the table says nothing was written, ends loaded exactly once."""
    expected = Expectation(before, before + amount, counter)
    balance, card_counter, loads = before, counter, 0
    for applied in tears:
        verdict = judge(expected, balance, card_counter)
        action = recover("written", verdict)
        if action is Action.CONFIRM:
            break
        assert action is Action.REFUSE  # nothing written: a retry is safe
        if applied:
            balance, card_counter, loads = balance + amount, card_counter + 1, loads + 1
    assert loads <= 1
    final = judge(expected, balance, card_counter)
    assert (final is Verdict.WRITTEN) == (loads == 1)
    assert final is not Verdict.DAMAGED


@given(before=money, after=money, counter=st.integers(0, 65_534), balance=money,
       seen=st.one_of(st.none(), st.integers(0, 65_535)))  # fmt: skip
def test_confirm_only_when_the_card_shows_the_balance_after(
    before: int, after: int, counter: int, balance: int, seen: int | None
) -> None:
    if before == after:
        return
    verdict = judge(Expectation(before, after, counter), balance, seen)
    if verdict is Verdict.WRITTEN:
        assert balance == after and seen in (None, counter + 1)
    elif verdict is Verdict.NOT_WRITTEN:
        assert balance == before and seen in (None, counter)
