"""The control API's wire codec: every message round-trips; bad lines give typed errors."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from typing import Any, Union

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge.control import messages as m

ALL_TYPES = sorted(m.MESSAGE_TYPES.values(), key=lambda c: c.TYPE)
SCALARS = st.one_of(
    st.integers(-(2**53), 2**53), st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8),
    st.booleans(), st.none(),
)  # fmt: skip


def strategy(hint: Any) -> st.SearchStrategy[Any]:
    origin = typing.get_origin(hint)
    if origin is Union or origin is types.UnionType:
        return st.one_of(*(strategy(a) for a in typing.get_args(hint)))
    if origin is tuple:
        return st.lists(strategy(typing.get_args(hint)[0]), max_size=3).map(tuple)
    if origin is dict:
        return st.dictionaries(st.text(max_size=6), SCALARS, max_size=4)
    if hint is type(None):
        return st.none()
    if hint is bool:
        return st.booleans()
    if hint is int:
        return st.integers(-(2**53), 2**53)
    if hint is float:
        return st.floats(allow_nan=False, allow_infinity=False)
    if hint is str:
        return st.text(max_size=20)
    if isinstance(hint, type) and issubclass(hint, m.StrEnum):
        return st.sampled_from(list(hint))
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        hints = typing.get_type_hints(hint)
        return st.builds(hint, **{f.name: strategy(hints[f.name]) for f in dataclasses.fields(hint)})
    raise AssertionError(f"no strategy for {hint!r}")


@pytest.mark.parametrize("cls", ALL_TYPES, ids=lambda c: c.TYPE)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_every_message_round_trips(cls: type[m.Message], data: st.DataObject) -> None:
    message = data.draw(strategy(cls))
    line = m.encode(message)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    doc = json.loads(line)
    assert doc["v"] == m.PROTOCOL_VERSION and doc["type"] == cls.TYPE
    assert m.decode(line) == message


def test_unknown_fields_are_ignored_and_missing_ones_defaulted() -> None:
    line = b'{"v": 1, "type": "nozzle", "line": "bus1", "nzn": 2, "colour": "red"}'
    assert m.decode(line) == m.Nozzle(line="bus1", nzn=2)


@pytest.mark.parametrize(
    ("line", "error", "why"),
    [
        (b"", m.BadMessage, "not JSON"),
        (b"\xff\xfe", m.BadMessage, "not JSON"),
        (b"[1, 2]", m.BadMessage, "not a JSON object"),
        (b'{"type": "ping"}', m.BadMessage, "version"),
        (b'{"v": true, "type": "ping"}', m.BadMessage, "version"),
        (b'{"v": 2, "type": "ping"}', m.UnsupportedVersion, "unsupported protocol version 2"),
        (b'{"v": 1}', m.BadMessage, "missing message 'type'"),
        (b'{"v": 1, "type": "self_destruct"}', m.UnknownMessageType, "self_destruct"),
        (b'{"v": 1, "type": "ack_alarm", "alarm_id": true}', m.BadMessage, "alarm_id: must be an integer"),
        (b'{"v": 1, "type": "nozzle", "amn": 1.5}', m.BadMessage, "amn: must be an integer"),
        (
            b'{"v": 1, "type": "login_ok", "operator": {"role": "admin"}}',
            m.BadMessage,
            "missing field 'username'",
        ),
        (b'{"v": 1, "type": "login_ok", "operator": {"username": "a", "role": "god"}}', m.BadMessage, "god"),
        (b'{"v": 1, "type": "snapshot", "nozzles": {"a": 1}}', m.BadMessage, "must be an array"),
        (b'{"v": 1, "type": "line_stats", "stats": {"a": [1]}}', m.BadMessage, "object of scalars"),
        (b'{"v": 1, "type": "get_report", "shift_id": "3"}', m.BadMessage, "shift_id"),
        (b'{"v": 1, "type": "ok", "re": null}', None, ""),
    ],
)
def test_bad_lines_raise_typed_errors(line: bytes, error: type[Exception] | None, why: str) -> None:
    if error is None:
        assert m.decode(line) == m.Ok(re=None)
        return
    with pytest.raises(error, match=why):
        m.decode(line)


def test_line_too_long() -> None:
    with pytest.raises(m.BadMessage, match="too long"):
        m.decode(b"x" * (m.MAX_LINE_BYTES + 1))


def test_every_request_type_has_a_unique_type_name_and_replies_carry_re() -> None:
    assert len({c.TYPE for c in ALL_TYPES}) == len(ALL_TYPES)
    assert all(issubclass(c, m.Reply) for c in m.REPLY_TYPES)
    assert all("id" in {f.name for f in dataclasses.fields(c)} for c in m.REQUEST_TYPES)


@pytest.mark.parametrize(
    ("asn", "masked"),
    [("10000111000000012345", "…2345"), ("", ""), ("00000000000000000000", ""), ("123", "123")],
)
def test_card_numbers_are_masked(asn: str, masked: str) -> None:
    assert m.mask_card(asn) == masked


def test_payment_modes_and_kinds() -> None:
    assert [m.payment_mode(u) for u in (0x00, 0x10, 0x21, 0x30, 0x40, 0xF0)] == [
        "cash", "ticket", "credit", "bank_card", "other", "other",
    ]  # fmt: skip
    assert [m.kind_name(t) for t in (0x10, 0x05, 0x06, 0x81, 0x0C)] == [
        "sale", "on_duty", "off_duty", "grey", "12",
    ]  # fmt: skip


def test_a_decisions_warnings_travel_by_kind_and_facts() -> None:
    """The attendant's UI shows a warning in its own language: the decision carries kind and facts."""
    import datetime as dt

    from edge.control.convert import decision_message
    from edge.decisions import CardDecision

    event = CardDecision(
        asn="10000101100000000502", line="p2p1", dispenser=4, nzn=7, allowed=True, reason=0, reason_name="NONE",
        words="Card accepted. Vehicle (京C54321) cylinder inspection is due in 6 days, on 2026-12-08.",
        warnings=("Vehicle (京C54321) cylinder inspection is due in 6 days, on 2026-12-08.",),
        warning_facts=({"kind": "cylinder_due", "words": "…", "due": "2026-12-08", "plate": "京C54321"},),
        at=dt.datetime(2026, 12, 2, 14, 30),
    )  # fmt: skip
    message = decision_message(event)
    assert message.warning_facts == (
        m.DecisionWarning(kind="cylinder_due", words="…", due="2026-12-08", plate="京C54321"),
    )
    assert m.decode(m.encode(message)) == message
