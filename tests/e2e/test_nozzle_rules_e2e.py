"""The card rules hold at the nozzle, end to end, with every list downloaded to the dispensers (spec B10).

The real daemon against the simulator over ptys, in both line modes:

- `test_every_refusal_holds_at_the_nozzle`: bus1/1 (multi-drop) and p2p1/4 (point-to-point) hold the
  base, added, deleted and white lists; each is shown an expired-cylinder CNG card, a card of a class not
  accepted, a card over its fills per day and one over its amount per day, a preset above the card's
  per-fill cap and a card bound to another vehicle's plate: each is refused before any fuel flows (the
  ledger says `refused` with the rule's reason, lifting the nozzle fails, no record carries the card),
  while a plain user card is still decided by the dispenser on its lists and sells. bus1/3 and p2p2/5
  play dispensers that decide everything locally; the daemon withholds the blacklists from them
  (`[rules] withhold_lists`), so they ask, and the expired-cylinder card is refused there too.
- `test_degraded_mode_while_the_controller_is_down`: lists held, no daemon: a plain user card is sold on
  the dispenser's lists, a CNG card is refused by the dispenser (no answer); when the daemon comes back
  the sales recorded meanwhile are stored.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from edge.demo_station import demo_config_text
from tests.e2e.harness import Station, wait_until

pytestmark = pytest.mark.e2e

SIM_OPTIONS = ("--rate", "0", "--fuel-speed", "3000", "--p2p-interval-ms", "100", "--seed", "5")
UNTRUSTED = ("bus1/3", "p2p2/5")

EXTRA_TOML = """
[[lines]]
name = "p2p2"
url = "{dir}/tty-p2p2"
mode = "point-to-point"
baud = 9600

[[lines.dispensers]]
pos_p = 5
nozzles = [{{ nzn = 9, g_code = "0092" }}, {{ nzn = 10, g_code = "0010" }}]

[rules]
accepted_card_classes = [0, 1, 2, 3]
withhold_lists = ["bus1/3", "p2p2"]
"""


def card_no(serial: int) -> str:
    """A user card of province 11 (ASN byte 2 = 01)."""
    return f"10000101100{serial:09d}"


# per line mode: (dispenser, first nozzle, second nozzle, serial base)
MODES = {"multi-drop": ("bus1", 1, 1, 2, 100), "point-to-point": ("p2p1", 4, 7, 8, 200)}
UNTRUSTED_PLACES = {"bus1/3": ("bus1", 3, 5, 300), "p2p2/5": ("p2p2", 5, 9, 400)}


def cards_of(base: int) -> dict[str, str]:
    return {
        "plain": card_no(base + 1),
        "black": card_no(base + 2),
        "expired": card_no(base + 3),
        "class": card_no(base + 4),
        "fills": card_no(base + 5),
        "amount": card_no(base + 6),
        "cap": card_no(base + 7),
        "plate": card_no(base + 8),
        "ok": card_no(base + 9),
    }


def cng(asn: str, *, valid: str = "2030-06-30", card_class: int = 1, plate: str = "", **limits: int) -> str:
    extra = "".join(f", {k} = {v}" for k, v in limits.items())
    plate_key = f', plate = "{plate}"' if plate else ""
    return (
        f'[[cards]]\nasn = "{asn}"\nkind = "cng"\nbalance = 50000\n'
        f'cng = {{ card_class = {card_class}, mode = "prepaid_amount", cylinder_valid_until = "{valid}"'
        f"{plate_key}{extra} }}\n"
    )


def user(asn: str) -> str:
    return f'[[cards]]\nasn = "{asn}"\nkind = "user"\nbalance = 100000\n'


def step(action: str, line: str, dispenser: int, nozzle: int | None = None, **extra: Any) -> str:
    fields: dict[str, Any] = {"line": line, "dispenser": dispenser, "action": action}
    if nozzle is not None:
        fields["nozzle"] = nozzle
    fields.update(extra)
    body = "\n".join(f"{k} = {json.dumps(v, ensure_ascii=False)}" for k, v in fields.items())
    return f"[[timeline]]\n{body}\n"


def sale(line: str, disp: int, nzn: int, asn: str, amount: int, **insert: Any) -> list[str]:
    return [
        step("insert_card", line, disp, nzn, card=asn, **insert),
        step("lift", line, disp, nzn),
        step("fuel", line, disp, nzn, amount=amount),
        step("hang_up", line, disp, nzn),
        step("pull_card", line, disp, nzn),
    ]


def refused_try(line: str, disp: int, nzn: int, asn: str, **insert: Any) -> list[str]:
    """Insert the card, try to lift the nozzle anyway (fails when refused), take the card back."""
    return [
        step("insert_card", line, disp, nzn, card=asn, **insert),
        step("lift", line, disp, nzn),
        step("pull_card", line, disp, nzn),
    ]


def scenario() -> str:
    parts: list[str] = []
    steps: list[str] = []
    for line, disp, _n1, _n2, _base in MODES.values():
        steps.append(step("wait_lists", line, disp))
    for line, disp, n1, n2, base in MODES.values():
        c = cards_of(base)
        parts += [user(c["plain"]), user(c["black"])]
        parts += [
            cng(c["expired"], valid="2020-01-31", plate="京C54321"),
            cng(c["class"], card_class=4),
            cng(c["fills"], fills_per_day=1),
            cng(c["amount"], amount_per_day=2000),
            cng(c["cap"], per_fill_cap=5000),
            cng(c["plate"], plate="京C11111"),
            cng(c["ok"], plate="京C33333"),
        ]
        steps += sale(line, disp, n1, c["plain"], 1500)  # decided by the dispenser on its lists
        steps += refused_try(line, disp, n1, c["black"])
        steps += refused_try(line, disp, n2, c["expired"])
        steps += refused_try(line, disp, n2, c["class"])
        steps += sale(line, disp, n2, c["fills"], 1000)
        steps += refused_try(line, disp, n2, c["fills"])
        steps += sale(line, disp, n2, c["amount"], 2000)
        steps += refused_try(line, disp, n2, c["amount"])
        steps += refused_try(line, disp, n2, c["cap"], preset_amount=8000)
        steps += refused_try(line, disp, n2, c["plate"], plate="京C22222")
        steps += sale(line, disp, n2, c["ok"], 1200, preset_amount=1200, plate="京C33333")
    for line, disp, nzn, base in UNTRUSTED_PLACES.values():
        expired, plain = card_no(base + 3), card_no(base + 1)
        parts += [cng(expired, valid="2020-01-31"), user(plain)]
        steps += refused_try(line, disp, nzn, expired)
        steps += sale(line, disp, nzn, plain, 1000)
    return "\n".join(p for p in parts if p) + "\n" + "\n".join(steps)


def write_lists(directory: Path) -> list[Path]:
    header = "version = {v}\nvalid_from = 2024-01-01\nvalid_to = 2099-12-31\narea = 0x11\n\n"
    files = {
        "base": (5, [card_no(9), card_no(202)]),
        "added": (3, [card_no(102)]),  # the blacklist is base ∪ added − deleted
        "deleted": (2, [card_no(990)]),
        "white": (4, ["10000403200000000007"]),
    }
    paths = []
    for kind, (version, numbers) in files.items():
        path = directory / f"{kind}.txt"
        path.write_text(f"kind = {kind}\n" + header.format(v=version) + "\n".join(sorted(numbers)) + "\n")
        paths.append(path)
    return paths


@pytest.fixture
def station(tmp_path: Path) -> Iterator[Station]:
    config = tmp_path / "station.toml"
    config.write_text(demo_config_text(tmp_path.resolve()) + EXTRA_TOML.format(dir=tmp_path.resolve()))
    st = Station(tmp_path, config, tmp_path / "ledger.jsonl")
    yield st
    st.stop()


def cli(station: Station, *args: str) -> None:
    argv = [sys.executable, "-m", "edge.cli", *args, "--config", str(station.config)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"{args}: {result.returncode}\n{result.stdout}\n{result.stderr}"


def query(station: Station, sql: str) -> list[dict[str, Any]]:
    conn = sqlite3.connect(f"{(station.dir / 'station.db').resolve().as_uri()}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute(sql)]
    finally:
        conn.close()


def record_cards(events: list[dict[str, Any]]) -> dict[str, int]:
    """ASN → number of records the simulator made with it (ASN = raw bytes 12..21, BCD)."""
    out: dict[str, int] = {}
    for e in events:
        if e["event"] == "record":
            asn = e["raw"][24:44]
            out[asn] = out.get(asn, 0) + 1
    return out


def test_every_refusal_holds_at_the_nozzle(station: Station) -> None:
    for path in write_lists(station.dir):
        cli(station, "lists", "import", str(path))
    (station.dir / "scenario.toml").write_text(scenario(), encoding="utf-8")
    station.start_sim(
        *SIM_OPTIONS,
        "--decides-everything-locally",
        ",".join(UNTRUSTED),
        "--scenario",
        str(station.dir / "scenario.toml"),
        "--exit-when-acked",
    )
    station.start_daemon()
    wait_until(lambda: not station.sim.alive(), 150, "the scenario to finish and every record to be acked")  # type: ignore[union-attr]
    assert station.sim is not None and station.sim.popen.returncode == 0, station.sim.log_text()[-3000:]
    events = station.ledger_events()
    decided = [e for e in events if e["event"] == "card"]
    sold = record_cards(events)
    stored = query(station, "SELECT kind, asn, allowed, reason_name, line, dispenser FROM decisions")

    def outcome(asn: str) -> list[tuple[str, str, str]]:
        return [(e["decision"], e["source"], e["reason_name"]) for e in decided if e["asn"] == asn]

    def asked(asn: str) -> list[tuple[str, bool, str]]:
        return [(d["kind"], bool(d["allowed"]), d["reason_name"]) for d in stored if d["asn"] == asn]

    # The lists were downloaded where they are offered, and never where they are withheld.
    waits = [e for e in events if e["event"] in ("action", "action_error") and e["action"] == "wait_lists"]
    assert [e["event"] for e in waits] == ["action", "action"], waits
    blacklists = {
        (e["line"], e["dispenser"]) for e in events if e["event"] == "download" and e["content"] < 3
    }
    assert {("bus1", 1), ("p2p1", 4)} <= blacklists
    assert not blacklists & {("bus1", 3), ("p2p2", 5)}

    lift_errors = {e["index"] for e in events if e["event"] == "action_error" and e["action"] == "lift"}
    errors = [e for e in events if e["event"] == "action_error" and e["index"] not in lift_errors]
    assert not errors, errors

    refusals = {
        "expired": "CYLINDER_EXPIRED",
        "class": "CARD_CLASS_NOT_ACCEPTED",
        "cap": "PER_SALE_CAP",
        "plate": "RESTRICTED_PLATE",
    }
    for mode, (_line, _disp, _n1, _n2, base) in MODES.items():
        c = cards_of(base)
        # A plain user card not on the blacklist: the dispenser decides it on its own lists, and sells.
        assert outcome(c["plain"]) == [("allowed", "local", "NONE")], mode
        assert asked(c["plain"]) == [] and sold.get(c["plain"]) == 1, mode
        assert outcome(c["black"]) == [("refused", "local", "BLACKLISTED")], mode
        # Every card the rules refuse is asked about and refused before any fuel flows.
        for key, reason in refusals.items():
            assert outcome(c[key]) == [("refused", "controller", reason)], (mode, key)
            assert asked(c[key]) == [("0x36", False, reason)], (mode, key)
            assert c[key] not in sold, (mode, key)
        assert outcome(c["fills"]) == [
            ("allowed", "controller", "NONE"),
            ("refused", "controller", "FILLS_PER_DAY_REACHED"),
        ], mode
        assert outcome(c["amount"]) == [
            ("allowed", "controller", "NONE"),
            ("refused", "controller", "AMOUNT_PER_DAY_REACHED"),
        ], mode
        assert sold.get(c["fills"]) == 1 and sold.get(c["amount"]) == 1, mode
        assert outcome(c["ok"]) == [("allowed", "controller", "NONE")] and sold.get(c["ok"]) == 1, mode
    # Each refused card's nozzle could not be lifted: 2 × (black, expired, class, fills, amount, cap, plate).
    assert len(lift_errors) == 2 * 7 + len(UNTRUSTED_PLACES)
    # Dispensers that decide everything locally were made to ask: the expired cylinder is refused there too.
    for line, disp, _nzn, base in UNTRUSTED_PLACES.values():
        expired, plain = card_no(base + 3), card_no(base + 1)
        assert outcome(expired) == [("refused", "controller", "CYLINDER_EXPIRED")], (line, disp)
        assert expired not in sold
        assert outcome(plain) == [("allowed", "controller", "NONE")] and sold.get(plain) == 1
        assert [(d["line"], d["dispenser"]) for d in stored if d["asn"] == plain] == [(line, disp)]
    # The second line of defence never had to fire.
    assert query(station, "SELECT id FROM alarms WHERE code = 'card_recheck_refused'") == []
    assert not [d for d in stored if d["kind"] == "0x31"]


def test_degraded_mode_while_the_controller_is_down(station: Station) -> None:
    for path in write_lists(station.dir):
        cli(station, "lists", "import", str(path))
    first = station.dir / "lists-only.toml"
    first.write_text(step("wait_lists", "bus1", 1) + step("wait_lists", "p2p1", 4))
    station.start_sim(*SIM_OPTIONS, "--scenario", str(first), "--exit-when-acked")
    station.start_daemon()
    wait_until(lambda: not station.sim.alive(), 90, "the dispensers to download their lists")  # type: ignore[union-attr]
    assert station.sim is not None and station.sim.popen.returncode == 0, station.sim.log_text()[-3000:]
    assert station.daemon is not None and station.daemon.terminate() == 0

    plain = {"bus1": card_no(501), "p2p1": card_no(502)}
    gas = {"bus1": card_no(503), "p2p1": card_no(504)}
    text = "".join(user(a) for a in plain.values()) + "".join(cng(a) for a in gas.values())
    places = {"bus1": (1, 1, 2), "p2p1": (4, 7, 8)}
    steps = []
    for line, (disp, n1, n2) in places.items():
        steps += sale(line, disp, n1, plain[line], 1000)
        steps += refused_try(line, disp, n2, gas[line])
    second = station.dir / "controller-down.toml"
    second.write_text(text + "\n" + "\n".join(steps), encoding="utf-8")
    station.start_sim(
        *SIM_OPTIONS, "--scenario", str(second), "--exit-when-acked", "--card-answer-timeout-s", "3"
    )

    def since_restart() -> list[dict[str, Any]]:
        events = station.ledger_events()
        return events[max(i for i, e in enumerate(events) if e["event"] == "start") :]

    wait_until(
        lambda: any(e["event"] == "production_done" for e in since_restart()),
        90,
        "the sales with the controller down",
    )
    events = since_restart()
    decided = {
        (e["asn"], e["decision"], e["source"], e["reason_name"]) for e in events if e["event"] == "card"
    }
    for line in places:
        assert (plain[line], "allowed", "local", "NONE") in decided
        assert (gas[line], "refused", "timeout", "CONTROLLER_UNREACHABLE") in decided
    sold = record_cards(events)
    assert all(sold.get(plain[line]) == 1 for line in places) and not set(gas.values()) & set(sold)
    assert not [e for e in events if e["event"] == "ack"]  # nobody to acknowledge them yet

    station.start_daemon()  # back: the dispensers hand over what they sold meanwhile
    wait_until(lambda: not station.sim.alive(), 90, "the records of the degraded mode to be acked")  # type: ignore[union-attr]
    assert station.sim.popen.returncode == 0
    rows = query(station, "SELECT asn FROM transactions")
    assert {r["asn"] for r in rows} >= set(plain.values())
    assert not {r["asn"] for r in rows} & set(gas.values())
