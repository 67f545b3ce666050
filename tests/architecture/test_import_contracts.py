"""The import contracts (`contracts.py`) hold for the code base, and a wrong import fails them."""

from __future__ import annotations

import pytest
from contracts import check, sources_on_disk, units_are_layers


def test_the_code_base_keeps_its_import_contracts() -> None:
    assert check(sources_on_disk()) == []


def test_the_units_are_layers() -> None:
    assert units_are_layers() == []


WRONG = [
    ("protocol.bad", "protocol/bad.py", "import storage.db\n", "protocol may not import storage"),
    ("storage.bad", "storage/bad.py", "from edge.daemon import serve\n", "storage may not import edge root"),
    ("storage.bad", "storage/bad.py", "from uplink.service import Uplink\n", "storage may not import uplink"),
    ("edge.bad", "edge/bad.py", "from uplink.service import Uplink\n", "edge may not import uplink"),
    ("tui.bad", "tui/bad.py", "from edge.events import SaleStored\n", "tui may not import edge"),
    ("tui.bad", "tui/bad.py", "from storage.db import Database\n", "tui may not import storage"),
    ("station_sim.bad", "firmware-sim/station_sim/bad.py", "import edge.daemon\n", "firmware-sim may not"),
    ("uplink.bad", "uplink/bad.py", "from edge.registry import KINDS\n", "uplink may not import edge root"),
    ("edge.bad", "edge/bad.py", "import construct as c\n", "imports construct"),
    ("edge.bad", "edge/bad.py", 'Q = "SELECT asn FROM transactions"\n', "SQL outside storage"),
    ("uplink.bad", "uplink/bad.py", 'Q = """\n  DELETE FROM outbox"""\n', "SQL outside storage"),
]


@pytest.mark.parametrize(("name", "path", "source", "problem"), WRONG, ids=[w[3] for w in WRONG])
def test_a_deliberately_wrong_import_fails(name: str, path: str, source: str, problem: str) -> None:
    sources = sources_on_disk()
    sources[name] = (path, source)
    problems = check(sources)
    assert any(problem in p and p.startswith(path) for p in problems), problems


def test_an_import_cycle_between_edge_modules_fails() -> None:
    sources = sources_on_disk()
    sources["edge.cycle_a"] = ("edge/cycle_a.py", "from edge.cycle_b import B\nA = 1\n")
    sources["edge.cycle_b"] = ("edge/cycle_b.py", "from edge import cycle_a\nB = 2\n")
    assert "import cycle: edge.cycle_a → edge.cycle_b" in check(sources)


def test_type_checking_imports_make_no_cycle_but_still_obey_the_layers() -> None:
    sources = sources_on_disk()
    guarded = "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from edge.cycle_a import A\n"
    sources["edge.cycle_a"] = ("edge/cycle_a.py", "from edge.cycle_b import B\nA = 1\n")
    sources["edge.cycle_b"] = ("edge/cycle_b.py", guarded)
    assert check(sources) == []
    sources["storage.bad"] = ("storage/bad.py", guarded)
    assert any("storage may not import edge" in p for p in check(sources))


def test_an_apdu_named_like_a_statement_is_not_sql_but_a_statement_is() -> None:
    sources = sources_on_disk()
    sources["edge.words_only"] = (
        "edge/words_only.py",
        'A = "SELECT of the fuel application answered 6A82"\nB = "UPDATE BINARY with MAC"\n',
    )
    sources["edge.sql_here"] = ("edge/sql_here.py", 'Q = "UPDATE cards SET status = ?"\nP = "PRAGMA quick_check"\n')
    problems = check(sources)
    assert not [p for p in problems if "words_only" in p]
    assert len([p for p in problems if "sql_here" in p and "SQL outside storage" in p]) == 2
