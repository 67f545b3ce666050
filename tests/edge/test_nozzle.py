"""The nozzle state machine, from tables."""

from __future__ import annotations

import datetime as dt

import pytest

from edge.events import CardPresented, NozzleState, NozzleStatus
from edge.nozzle import (
    FINISHED_HOLD_S,
    Connectivity,
    NotReported,
    RecordSeen,
    Reported,
    Tick,
    UnknownNozzleEvent,
    transition,
)
from protocol.messages import CardInserted, Fuelling
from protocol.record import TransactionRecord, sample_record

T0 = dt.datetime(2026, 11, 21, 8, 0, 0)
ASN = "10000111000000000001"


def status(state: NozzleState, **kw: object) -> NozzleStatus:
    return NozzleStatus("bus1", 1, 3, state, at=T0, **kw)  # type: ignore[arg-type]


def record(t_type: int = 0x10, emp: int = 255) -> TransactionRecord:
    return sample_record(
        pos_ttc=7, t_type=t_type, time=T0, asn=ASN, amn=5000, nzn=3, g_code="0092", vol=667, emp=emp
    )


CARD = Reported(CardInserted(3, ASN, 0, 9999), T0)
UP = Reported(Fuelling(3, 0, 0, 0, 750), T0)
FUEL = Reported(Fuelling(3, 0, 1500, 200, 750), T0)
GONE = NotReported(T0)

CASES = [
    ("idle+card", NozzleState.IDLE, CARD, NozzleState.CARD_INSERTED),
    ("card+lift", NozzleState.CARD_INSERTED, UP, NozzleState.NOZZLE_UP),
    ("up+flow", NozzleState.NOZZLE_UP, FUEL, NozzleState.FUELLING),
    ("fuelling+gone", NozzleState.FUELLING, GONE, NozzleState.FINISHED),
    ("up+gone", NozzleState.NOZZLE_UP, GONE, NozzleState.FINISHED),
    ("card+gone", NozzleState.CARD_INSERTED, GONE, NozzleState.IDLE),
    ("idle+gone", NozzleState.IDLE, GONE, NozzleState.IDLE),
    ("fuelling+record", NozzleState.FUELLING, RecordSeen(record(), T0), NozzleState.FINISHED),
    ("idle+offline", NozzleState.IDLE, Connectivity(False, T0), NozzleState.OFFLINE),
    ("fuelling+offline", NozzleState.FUELLING, Connectivity(False, T0), NozzleState.OFFLINE),
    ("offline+online", NozzleState.OFFLINE, Connectivity(True, T0), NozzleState.IDLE),
    ("idle+online", NozzleState.IDLE, Connectivity(True, T0), NozzleState.IDLE),
    ("offline+onduty", NozzleState.OFFLINE, RecordSeen(record(0x05, 12), T0), NozzleState.OFFLINE),
    ("idle+price-receipt", NozzleState.IDLE, RecordSeen(record(0x08), T0), NozzleState.IDLE),
]


@pytest.mark.parametrize(("start", "event", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_transitions(start: NozzleState, event: object, expected: NozzleState) -> None:
    new, effects = transition(status(start), event)  # type: ignore[arg-type]
    assert new.state is expected
    if expected is not start:
        assert effects and effects[0] == new


def test_card_insert_emits_card_presented_once() -> None:
    new, effects = transition(status(NozzleState.IDLE), CARD)
    assert any(isinstance(e, CardPresented) and e.asn == ASN for e in effects)
    _, again = transition(new, CARD)
    assert again == []


def test_live_figures_follow_fuelling_updates() -> None:
    new, effects = transition(status(NozzleState.NOZZLE_UP), FUEL)
    assert (new.amn, new.vol, new.prc) == (1500, 200, 750)
    more, effects = transition(new, Reported(Fuelling(3, 0, 3000, 400, 750), T0))
    assert effects == [more] and more.amn == 3000


def test_on_duty_sets_employee_and_off_duty_clears() -> None:
    on, _ = transition(status(NozzleState.IDLE), RecordSeen(record(0x05, 12), T0))
    assert on.emp == 12 and on.state is NozzleState.IDLE
    off, _ = transition(on, RecordSeen(record(0x06, 12), T0))
    assert off.emp == 255


def test_finished_returns_to_idle_after_hold() -> None:
    done, _ = transition(status(NozzleState.FUELLING), RecordSeen(record(), T0))
    early, _ = transition(done, Tick(T0 + dt.timedelta(seconds=FINISHED_HOLD_S - 1)))
    assert early.state is NozzleState.FINISHED and early.amn == 5000
    late, _ = transition(done, Tick(T0 + dt.timedelta(seconds=FINISHED_HOLD_S)))
    assert late.state is NozzleState.IDLE and late.amn == 0


def test_unknown_event_is_a_typed_error() -> None:
    with pytest.raises(UnknownNozzleEvent):
        transition(status(NozzleState.IDLE), "lift")  # type: ignore[arg-type]
