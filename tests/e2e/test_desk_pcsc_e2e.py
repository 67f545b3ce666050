"""The desk end to end over the REAL pcscd: the daemon with a `[desk]` reader, the simulator's virtual
card on vpcd, `station desk ... --json` through the control API with an operator's login.

A card is read and topped up; a second top-up loses the answer to CREDIT FOR LOAD (the card applied it,
then lost power: pulled mid-operation) — the CLI says to insert the card again, and when it is, the daemon
settles the operation from what the card shows: loaded exactly once, confirmed, the centre's message
queued once; a foreign card in the desk reader is refused with a clear error, nothing written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from station_sim.card.core import VirtualCard
from station_sim.card.slot import TearMode, TearPlan

from tests.e2e.harness import Station, spawn, wait_until
from tests.e2e.test_nozzle_rules_e2e import query
from tests.support.cardsim import deck
from tests.support.pcsc import PcscRig, pcsc

pytestmark = pytest.mark.e2e
__all__ = ["pcsc"]

PASSWORD = "desk-pass-3"
DECK = """
[[card]]
name = "taxi"
asn = "10000101100000000417"
kind = "cng"
balance = 10000
vehicle = { cylinder_valid_until = 2027-06-30, plate = "京A12345" }

[[card]]
name = "bank"
kind = "foreign"
"""


@pytest.fixture
def station(tmp_path: Path, pcsc: PcscRig) -> Iterator[Station]:
    st = Station.create(tmp_path / "station")
    with st.config.open("a") as f:
        f.write(f'\n[desk]\nreader = "{pcsc.reader(0)}"\n')
    yield st
    st.stop()


def desk(station: Station, *args: str, ok: bool = True) -> dict[str, Any]:
    argv = [sys.executable, "-m", "edge.cli", "desk", *args, "--config", str(station.config), "--user", "ann",
            "--password-stdin", "--json"]  # fmt: skip
    result = subprocess.run(argv, input=PASSWORD + "\n", capture_output=True, text=True, timeout=120)
    if ok:
        assert result.returncode == 0, result.stdout + result.stderr
    answer: dict[str, Any] = json.loads(result.stdout.splitlines()[-1])
    return answer


def test_desk_over_the_real_pcscd(station: Station, pcsc: PcscRig) -> None:
    added = subprocess.run(
        [sys.executable, "-m", "edge.cli", "operators", "--config", str(station.config), "add", "ann", "--role",
         "operator", "--password-stdin"], input=PASSWORD + "\n", capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    station.start_sim("--rate", "0")
    socket = station.dir / "control.sock"
    argv = [sys.executable, "-m", "edge.cli", "run", "--config", str(station.config)]
    daemon = spawn("station", argv, station.dir / "station-desk.log", env=pcsc.env)
    station.daemon = daemon
    wait_until(lambda: socket.exists() or not daemon.alive(), 60, "the daemon's control socket")
    assert daemon.alive(), daemon.log_text()[-3000:]

    taxi = VirtualCard(deck(DECK)["taxi"])
    pcsc.cards.insert(0, taxi)
    wait_until(
        lambda: desk(station, "read", ok=False).get("card") is not None, 60, "the card read at the desk"
    )
    view = desk(station, "read")["card"]
    assert (view["asn"], view["balance"], view["plate"]) == ("10000101100000000417", 10_000, "京A12345")

    done = desk(station, "topup", "50", "--payment", "cash")
    assert (done["state"], done["card"]["balance"]) == ("confirmed", 15_000)
    assert taxi.state.ep.balance == 15_000

    slot = pcsc.cards.slots[0]
    transmit = slot.transmit

    def tear_the_credit(apdu: bytes) -> bytes | None:
        if apdu[:2] == b"\x80\x52":  # CREDIT FOR LOAD: applied, its answer lost, the card pulled
            slot.arm(TearPlan(1, TearMode.AFTER))
        return transmit(apdu)

    slot.transmit = tear_the_credit  # type: ignore[method-assign]
    torn = desk(station, "topup", "20", "--payment", "wechat", ok=False)
    assert torn.get("error") == "conflict" and "insert card 10000101100000000417 again" in torn["message"], (
        torn
    )
    slot.transmit = transmit  # type: ignore[method-assign]
    assert taxi.state.ep.balance == 17_000  # the card applied the load; the station does not know it yet
    [pending] = query(
        station, "SELECT state, amount FROM desk_operations WHERE kind = 'topup' AND state != 'confirmed'"
    )
    assert (pending["state"], pending["amount"]) == ("written", 2_000)

    pcsc.cards.insert(0, taxi)  # inserted again: the daemon settles it from the card
    wait_until(lambda: desk(station, "operations", "--open")["operations"] == [], 60, "the top-up settled")
    topups = query(
        station, "SELECT state, amount, balance_after FROM desk_operations WHERE kind = 'topup' ORDER BY id"
    )
    assert [(t["state"], t["amount"], t["balance_after"]) for t in topups] == [
        ("confirmed", 5_000, 15_000), ("confirmed", 2_000, 17_000),
    ]  # fmt: skip
    assert desk(station, "read")["card"]["balance"] == 17_000 == taxi.state.ep.balance
    keys = [r["key"] for r in query(station, "SELECT key FROM outbox WHERE key LIKE 'desk:%:confirmed'")]
    assert len(keys) == len(set(keys)) == 2

    pcsc.cards.swap(0, VirtualCard(deck(DECK)["bank"]))
    wait_until(
        lambda: desk(station, "read", ok=False).get("error") == "bad_card", 60, "the foreign card refused"
    )
    refused = desk(station, "topup", "10", ok=False)
    assert refused["error"] == "bad_card" and "not a fuel card" in refused["message"]
    assert taxi.state.ep.balance == 17_000
