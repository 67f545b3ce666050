"""A card reported lost at the desk is refused at a dispenser on its next insertion, end to end.

The real daemon against the simulator over ptys, both line modes: a CNG card sells at bus1/1 and at
p2p1/4 (asked of the controller, allowed); `station desk lost` (control API, operator login) reports it
lost; the simulator runs again and the same card is refused at both dispensers with CARD_LOST (code 5)
before any fuel flows, while another card still sells. The operation is on record with its audit entry
and its message for the centre.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Station, wait_until
from tests.e2e.test_nozzle_rules_e2e import SIM_OPTIONS, card_no, cng, query, record_cards, refused_try, sale

pytestmark = pytest.mark.e2e

PASSWORD = "desk-pass-1"
LOST, OTHER = card_no(801), card_no(802)
PLACES = (("bus1", 1, 2), ("p2p1", 4, 8))


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    st = Station.create(tmp_path)
    yield st
    st.stop()


def station_cli(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "edge.cli", *args]
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=120)


def run_scenario(station: Station, name: str, text: str) -> list[dict[str, object]]:
    path = station.dir / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    station.start_sim(*SIM_OPTIONS, "--scenario", str(path), "--exit-when-acked")
    if station.daemon is None:  # the daemon starts once the dispensers' lines exist (it refuses missing devices)
        station.start_daemon()
    sim = station.sim
    assert sim is not None
    wait_until(lambda: not sim.alive(), 150, f"scenario {name} to finish and be acknowledged")
    assert sim.popen.returncode == 0, sim.log_text()[-3000:]
    events = station.ledger_events()
    start = max(i for i, e in enumerate(events) if e["event"] == "start")
    return events[start:]


def test_a_card_reported_lost_at_the_desk_is_refused_at_the_nozzle(station: Station) -> None:
    added = station_cli("operators", "--config", str(station.config), "add", "ann", "--role", "operator",
                        "--password-stdin", stdin=PASSWORD + "\n")  # fmt: skip
    assert added.returncode == 0, added.stderr
    cards = cng(LOST) + cng(OTHER)
    first = [s for line, disp, nzn in PLACES for s in sale(line, disp, nzn, LOST, 1000)]
    events = run_scenario(station, "before", cards + "\n" + "\n".join(first))
    decided = [(e["decision"], e["source"]) for e in events if e["event"] == "card" and e["asn"] == LOST]
    assert decided == [("allowed", "controller")] * 2
    assert record_cards(events).get(LOST) == 2

    lost = station_cli("desk", "lost", LOST, "--reason", "holder called", "--config", str(station.config),
                       "--user", "ann", "--password-stdin", "--json", stdin=PASSWORD + "\n")  # fmt: skip
    assert lost.returncode == 0, lost.stdout + lost.stderr
    answer = json.loads(lost.stdout)
    assert (answer["op"], answer["state"]) == ("lost", "done")
    assert LOST in answer["receipt"]

    second = [s for line, disp, nzn in PLACES for s in refused_try(line, disp, nzn, LOST)]
    second += [s for line, disp, nzn in PLACES for s in sale(line, disp, nzn, OTHER, 800)]
    events = run_scenario(station, "after", cards + "\n" + "\n".join(second))
    outcome = [(e["decision"], e["source"], e["reason_name"]) for e in events if e["event"] == "card"]
    lost_outcome = [o for o, e in zip(outcome, [e for e in events if e["event"] == "card"], strict=True)
                    if e["asn"] == LOST]  # fmt: skip
    assert lost_outcome == [("refused", "controller", "CARD_LOST")] * 2
    sold = record_cards(events)
    assert LOST not in sold and sold.get(OTHER) == 2
    refused_lifts = [e for e in events if e["event"] == "action_error" and e["action"] == "lift"]
    assert len(refused_lifts) == 2

    stored = query(station, f"SELECT kind, allowed, reason, reason_name FROM decisions WHERE asn = '{LOST}'")
    assert [(d["allowed"], d["reason"], d["reason_name"]) for d in stored][-2:] == [(0, 5, "CARD_LOST")] * 2
    [op] = query(station, f"SELECT kind, state, operator FROM desk_operations WHERE asn = '{LOST}'")
    assert (op["kind"], op["state"], op["operator"]) == ("lost", "done", "ann")
    audit = query(station, "SELECT action, actor, outcome FROM audit_log WHERE action = 'desk.lost'")
    assert [(a["actor"], a["outcome"]) for a in audit] == [("ann", "ok")]
    outbox = query(station, "SELECT key FROM outbox WHERE key LIKE 'desk:%'")
    assert [o["key"].rsplit(":", 1)[1] for o in outbox] == ["done"]
