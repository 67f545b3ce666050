"""`station-card`: a deck served to the real pcscd, moved by the control command and by a scenario."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from smartcard import scard
from station_sim.card.state import load_state
from support.cardsim import TERMINAL, deck
from support.pcsc import PcscRig
from support.waiting import wait_until_sync

from edge.devices.desk.card import CardAccess
from edge.devices.desk.errors import CardError
from edge.devices.desk.psam import SoftPsam
from edge.devices.desk.reader import PcscChannel

pytestmark = pytest.mark.e2e

DECK = """
[[card]]
name = "taxi"
kind = "cng"
balance = 4200

[[card]]
name = "user"
balance = 10
"""
USER_ASN = deck(DECK)["user"].asn
CLI = [sys.executable, "-m", "station_sim.card.cli"]
TIMEOUT_S = 30.0


def card_present(reader: str) -> bool | None:
    """Whether pcscd sees a card in `reader` (None: no such reader)."""
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    assert hresult == scard.SCARD_S_SUCCESS
    try:
        hresult, states = scard.SCardGetStatusChange(context, 0, [(reader, scard.SCARD_STATE_UNAWARE)])
        if hresult != scard.SCARD_S_SUCCESS:
            return None
        return bool(states[0][1] & scard.SCARD_STATE_PRESENT)
    finally:
        scard.SCardReleaseContext(context)


def asn_in(reader: str) -> str | None:
    """The card number of the card in `reader`, read over PC/SC; None when there is none to read."""

    async def read() -> str:
        channel = await asyncio.to_thread(PcscChannel.connect_blocking, reader)
        try:
            return (await CardAccess(channel, SoftPsam(TERMINAL)).read_issuer()).asn
        finally:
            await channel.close()

    try:
        return asyncio.run(read())
    except CardError:
        return None


def serve(pcsc: PcscRig, tmp_path: Path, *extra: str) -> subprocess.Popen[bytes]:
    deck_file = tmp_path / "deck.toml"
    deck_file.write_text(DECK)
    command = [*CLI, "serve", "--deck", str(deck_file)]
    command += [
        "--state-dir",
        str(tmp_path / "cards"),
        "--port",
        str(pcsc.daemon.port),
        "--slots",
        "2",
        *extra,
    ]
    return subprocess.Popen(command, env=pcsc.env, stderr=subprocess.PIPE)


def ctl(control: Path, *words: str) -> dict[str, object]:
    done = subprocess.run(
        [*CLI, "ctl", "--control", str(control), *words],
        capture_output=True,
        check=False,
        timeout=120,
    )
    answer = json.loads(done.stdout)
    assert (done.returncode == 0) == answer["ok"]
    return answer  # type: ignore[no-any-return]


def stop(proc: subprocess.Popen[bytes]) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=60)


def test_control_insert_swap_remove_and_state_files(pcsc: PcscRig, tmp_path: Path) -> None:
    control = tmp_path / "cards.sock"
    proc = serve(pcsc, tmp_path, "--control", str(control))
    try:
        wait_until_sync(control.exists, TIMEOUT_S, "control socket")
        reader = pcsc.reader(0)
        assert card_present(reader) is False
        assert ctl(control, "insert", "taxi")["slots"] == {"0": "taxi", "1": None}
        wait_until_sync(lambda: card_present(reader) is True, TIMEOUT_S, "card present")
        assert ctl(control, "insert", "taxi", "1")["ok"] is False  # already in a reader
        assert ctl(control, "insert", "nobody")["ok"] is False
        assert ctl(control, "swap", "user")["slots"] == {"0": "user", "1": None}
        assert ctl(control, "tear", "2", "after")["ok"] is True
        assert ctl(control, "status")["slots"] == {"0": "user", "1": None}
        assert ctl(control, "remove")["slots"] == {"0": None, "1": None}
        wait_until_sync(lambda: card_present(reader) is False, TIMEOUT_S, "card removed")
        assert ctl(control, "fly", "away")["ok"] is False
        state = load_state(tmp_path / "cards" / "taxi.json")
        assert state.ep.balance == 4200
    finally:
        assert stop(proc) == 0


def test_scenario_inserts_then_swaps_and_stopping_pulls_the_card(pcsc: PcscRig, tmp_path: Path) -> None:
    scenario = tmp_path / "steps.toml"
    scenario.write_text(
        '[[step]]\naction = "insert"\ncard = "taxi"\nslot = 1\n'
        '[[step]]\nwait_s = 0.5\naction = "swap"\ncard = "user"\nslot = 1\n'
    )
    proc = serve(pcsc, tmp_path, "--scenario", str(scenario))
    try:
        reader = pcsc.reader(1)
        wait_until_sync(
            lambda: asn_in(reader) == USER_ASN, TIMEOUT_S, "the scenario's second card in reader 1"
        )
        assert card_present(pcsc.reader(0)) is False
    finally:
        assert stop(proc) == 0
    wait_until_sync(
        lambda: card_present(reader) is False, TIMEOUT_S, "the card out once station-card stopped"
    )


def test_state_survives_a_restart(pcsc: PcscRig, tmp_path: Path) -> None:
    cards = tmp_path / "cards"
    cards.mkdir()
    proc = serve(pcsc, tmp_path)
    wait_until_sync(lambda: (cards / "taxi.json").exists(), TIMEOUT_S, "state files written")
    assert stop(proc) == 0
    state = json.loads((cards / "taxi.json").read_text())
    state["ep"][0] = 1234
    (cards / "taxi.json").write_text(json.dumps(state))
    control = tmp_path / "c.sock"
    proc = serve(pcsc, tmp_path, "--control", str(control), "--insert", "taxi")
    try:
        wait_until_sync(lambda: card_present(pcsc.reader(0)) is True, TIMEOUT_S, "card inserted at start")
        assert load_state(cards / "taxi.json").ep.balance == 1234
    finally:
        assert stop(proc) == 0


@pytest.mark.parametrize(
    ("deck", "message"),
    [('[[card]]\nname = "a"\nkind = "bus"\n', "card[0].kind"), ("nonsense = [", "deck.toml")],
)
def test_bad_deck_exits_2(tmp_path: Path, deck: str, message: str) -> None:
    (tmp_path / "deck.toml").write_text(deck)
    done = subprocess.run(
        [*CLI, "serve", "--deck", str(tmp_path / "deck.toml"), "--state-dir", str(tmp_path / "s")],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
