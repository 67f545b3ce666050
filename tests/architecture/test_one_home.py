"""One home per concept: each of these names is defined once in the product code, in its home module
(everyone else imports it from there)."""

from __future__ import annotations

import ast

import pytest
from contracts import sources_on_disk

from edge.control import messages as m
from protocol import words
from protocol.record import TxKind

HOMES = {
    "AlarmSink": "edge/core/alarms.py",
    "Severity": "storage/alarms.py",
    "EMP_NONE": "protocol/words.py",
    "KIND_NAMES": "protocol/words.py",
    "PAYMENT_MODES": "protocol/words.py",
    "payment_mode": "protocol/words.py",
}


def _definitions() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {name: [] for name in HOMES}
    for path, source in sources_on_disk().values():
        for node in ast.parse(source).body:
            names: list[str] = []
            if isinstance(node, ast.ClassDef | ast.FunctionDef):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names = [node.target.id]
            for name in names:
                if name in found:
                    found[name].append(path)
    return found


@pytest.mark.parametrize("name", sorted(HOMES))
def test_defined_once_in_its_home(name: str) -> None:
    assert _definitions()[name] == [HOMES[name]]


def test_hundredths_are_formatted_in_one_place() -> None:
    """Money, volume and prices (0.01 units) as decimals: only `protocol.words.centi` does the arithmetic."""
    found = []
    for path, source in sources_on_disk().values():
        for node in ast.walk(ast.parse(source)):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "divmod"
                and len(node.args) == 2
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value == 100
            ):
                found.append(path)
    assert found == ["protocol/words.py"]


def test_kind_names_are_the_record_kinds_and_one_spelling_everywhere() -> None:
    assert {k.value: k.name.lower() for k in TxKind} == words.KIND_NAMES
    from uplink import messages as uplink_messages

    assert m.kind_name is words.kind_name and uplink_messages.kind_name is words.kind_name
    assert [words.kind_name(t) for t in (0x10, 0x05, 0x81, 0x0C)] == ["sale", "on_duty", "grey", "12"]


def test_payment_modes_and_the_formatter() -> None:
    assert [words.payment_mode(u) for u in (0x00, 0x10, 0x21, 0x30, 0x40, 0x50, 0xF0)] == [
        "cash", "ticket", "credit", "bank_card", "other", "other", "other",
    ]  # fmt: skip
    assert [words.centi(v) for v in (12345, 5, 0, -5, -12345)] == [
        "123.45",
        "0.05",
        "0.00",
        "-0.05",
        "-123.45",
    ]
