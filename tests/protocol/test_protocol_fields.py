"""Field types: compiled and plain construct agree, and the fast time parser matches `strptime`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import construct as c
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.fields import (
    Bcd,
    BcdNum,
    Date4,
    FixedBytes,
    Int24ub,
    LenientBcd,
    LenientTime7,
    Stamp6,
    Time7,
    digits_to_datetime,
)

FIELDS: dict[str, tuple[Any, int]] = {
    "Bcd(2)": (Bcd(2), 2),
    "BcdNum(3)": (BcdNum(3), 3),
    "Time7": (Time7, 7),
    "Stamp6": (Stamp6, 6),
    "Date4": (Date4, 4),
    "LenientBcd(10)": (LenientBcd(10), 10),
    "LenientTime7": (LenientTime7, 7),
    "FixedBytes(5)": (FixedBytes(5), 5),
    "Int24ub": (Int24ub, 3),
}

STRUCTS = {
    name: (c.Struct("x" / field, c.Terminated), c.Struct("x" / field, c.Terminated).compile(), size)
    for name, (field, size) in FIELDS.items()
}

# BCD-looking bytes are far likelier to be valid than uniform random ones
BCD_LIKE = st.sampled_from([0x00, 0x01, 0x12, 0x20, 0x23, 0x29, 0x30, 0x59, 0x99, 0x0A, 0xFF])


def _outcome(struct: Any, raw: bytes) -> Any:
    try:
        return ("ok", struct.parse(raw).x)
    except c.ConstructError as exc:
        return ("error", type(exc).__name__)


@pytest.mark.parametrize("name", list(FIELDS))
@settings(deadline=None)
@given(data=st.data())
def test_compiled_and_plain_agree(name: str, data: st.DataObject) -> None:
    plain, compiled, size = STRUCTS[name]
    raw = bytes(
        data.draw(st.lists(BCD_LIKE, min_size=size, max_size=size) | st.binary(min_size=size, max_size=size))
    )
    outcome = _outcome(plain, raw)
    assert _outcome(compiled, raw) == outcome
    if outcome[0] == "ok":
        assert plain.build({"x": outcome[1]}) == compiled.build({"x": outcome[1]}) == raw
    # short input is an error in both forms, never a short value
    assert _outcome(plain, raw[:-1])[0] == _outcome(compiled, raw[:-1])[0] == "error"


@pytest.mark.parametrize("name", list(FIELDS))
def test_wrong_values_do_not_build(name: str) -> None:
    plain, compiled, size = STRUCTS[name]
    for value in (None, "1", b"\x01", 1 << 40, -1, dt.date(2020, 1, 1) if name != "Date4" else "x"):
        for struct in (plain, compiled):
            try:
                built = struct.build({"x": value})
            except (c.ConstructError, ValueError, TypeError, OverflowError):
                continue
            assert len(built) == size, (name, value, built)


@settings(deadline=None)
@given(st.text("0123456789", min_size=14, max_size=14) | st.text(min_size=14, max_size=14))
def test_digits_to_datetime_matches_strptime(text: str) -> None:
    try:
        expected: Any = dt.datetime.strptime(text, "%Y%m%d%H%M%S")
    except ValueError:
        expected = ValueError
    if expected is not ValueError and not text.isascii():
        expected = ValueError  # strptime takes non-ASCII digits; the wire never has them
    try:
        got: Any = digits_to_datetime(text)
    except ValueError:
        got = ValueError
    assert got == expected


@settings(deadline=None)
@given(st.datetimes(min_value=dt.datetime(1000, 1, 1)).map(lambda t: t.replace(microsecond=0)))
def test_times_round_trip(when: dt.datetime) -> None:
    assert Time7.parse(Time7.build(when)) == when
    assert digits_to_datetime(when.strftime("%Y%m%d%H%M%S")) == when
    assert Stamp6.parse(Stamp6.build(when)) == when.replace(second=0)
