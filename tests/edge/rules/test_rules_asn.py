"""Card kind and province from the ASN (edge.rules.asn)."""

from __future__ import annotations

import pytest

from edge.rules.asn import CardKind, card_kind_from_asn, check_asn, province_from_asn
from edge.rules.errors import BadCardNumber


@pytest.mark.parametrize(
    ("asn", "kind", "province"),
    [
        pytest.param("01000411100100000113", CardKind.EMPLOYEE, 0x11, id="spec-white-list-vector-beijing"),
        pytest.param("10000103200000000001", CardKind.USER, 0x32, id="user-jiangsu"),
        pytest.param("10000504400000000001", CardKind.INTERNAL_05, 0x44, id="internal-05-guangdong"),
        pytest.param("10000601100000000001", CardKind.INTERNAL_06, 0x11, id="internal-06"),
        pytest.param("10000201100000000001", None, 0x11, id="unknown-kind-02"),
        pytest.param("12345678", None, None, id="short-cng-number"),
    ],
)
def test_kind_and_province(asn: str, kind: CardKind | None, province: int | None) -> None:
    assert card_kind_from_asn(asn) is kind
    assert province_from_asn(asn) == province


def test_province_matches_the_byte_formula() -> None:
    raw = bytes.fromhex("10000103200000000001")
    assert province_from_asn(raw.hex()) == ((raw[3] & 0x0F) << 4) | (raw[4] >> 4)


@pytest.mark.parametrize("kind", list(CardKind), ids=lambda k: k.name)
def test_only_user_cards_are_not_internal(kind: CardKind) -> None:
    assert kind.internal is (kind is not CardKind.USER)


@pytest.mark.parametrize(
    "bad",
    ["", "123", "1" * 21, "1000010311100000000A", " 1000010311100000000", 10000103111000000001],
    ids=["empty", "too-short", "too-long", "hex-digit", "space", "int"],
)
def test_check_asn_rejects(bad: object) -> None:
    with pytest.raises(BadCardNumber) as info:
        check_asn(bad)  # type: ignore[arg-type]
    assert info.value.asn == bad
