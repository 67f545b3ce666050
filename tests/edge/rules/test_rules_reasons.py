"""Reason codes and the 0x36 M_FLAG byte (protocol.reasons)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocol.reasons import REASON_TEXT, RefusalReason, decode_m_flag, encode_m_flag

REFUSALS = [r for r in RefusalReason if r is not RefusalReason.NONE]


def test_codes_fit_seven_bits_and_none_is_zero() -> None:
    assert int(RefusalReason.NONE) == 0
    assert all(1 <= r <= 127 for r in REFUSALS)


@pytest.mark.parametrize("reason", list(RefusalReason), ids=lambda r: r.name)
def test_every_reason_has_short_plain_words(reason: RefusalReason) -> None:
    words = reason.words
    assert words == REASON_TEXT[reason]
    assert words[0].isupper() and words.endswith(".")
    assert len(words) <= 140, "must fit one line of the attendant's screen"
    assert "_" not in words


@pytest.mark.parametrize(
    ("refuse", "reason", "internal", "m_flag"),
    [
        pytest.param(False, RefusalReason.NONE, False, 0x01, id="user-allowed-b0-1"),
        pytest.param(True, RefusalReason.BLACKLISTED, False, 0x08, id="user-blacklisted-b0-0"),
        pytest.param(True, RefusalReason.CYLINDER_EXPIRED, False, 31 << 1, id="user-cylinder-b0-0"),
        pytest.param(False, RefusalReason.NONE, True, 0x00, id="staff-whitelisted-b0-0"),
        pytest.param(True, RefusalReason.NOT_WHITELISTED, True, (9 << 1) | 1, id="staff-refused-b0-1"),
        pytest.param(True, RefusalReason.NO_PRICE_FOR_CARD, False, 0x78, id="highest-group"),
    ],
)
def test_encode_m_flag_table(refuse: bool, reason: RefusalReason, internal: bool, m_flag: int) -> None:
    assert encode_m_flag(refuse, reason, internal=internal) == m_flag
    assert decode_m_flag(m_flag, internal=internal) == (refuse, reason)


@pytest.mark.parametrize(
    ("refuse", "reason"),
    [
        pytest.param(True, RefusalReason.NONE, id="refusal-without-reason"),
        pytest.param(False, RefusalReason.BLACKLISTED, id="allowed-with-reason"),
    ],
)
def test_encode_rejects_inconsistent_pairs(refuse: bool, reason: RefusalReason) -> None:
    with pytest.raises(ValueError, match="does not fit"):
        encode_m_flag(refuse, reason)


def test_decode_unknown_code_comes_back_as_int() -> None:
    assert decode_m_flag(127 << 1) == (True, 127)


@pytest.mark.parametrize("bad", [-1, 256], ids=["negative", "too-big"])
def test_decode_rejects_non_bytes(bad: int) -> None:
    with pytest.raises(ValueError, match="not a byte"):
        decode_m_flag(bad)


def test_a_real_dispenser_reading_only_b0_refuses_every_refused_user_card() -> None:
    # Public meaning for user cards: b0 = 0 "matched in the blacklist" => refuse.
    for reason in REFUSALS:
        assert encode_m_flag(True, reason) & 1 == 0
    assert encode_m_flag(False, RefusalReason.NONE) & 1 == 1


@given(st.sampled_from(REFUSALS), st.booleans())
def test_m_flag_round_trip(reason: RefusalReason, internal: bool) -> None:
    assert decode_m_flag(encode_m_flag(True, reason, internal=internal), internal=internal) == (True, reason)


@given(st.integers(0, 255), st.booleans())
def test_decode_then_encode_is_identity_on_consistent_bytes(m_flag: int, internal: bool) -> None:
    refuse, reason = decode_m_flag(m_flag, internal=internal)
    if isinstance(reason, RefusalReason) and refuse == (reason is not RefusalReason.NONE):
        assert encode_m_flag(refuse, reason, internal=internal) == m_flag
