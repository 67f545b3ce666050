"""Scenario files, power cycles and random traffic, in-process (no transports opened)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from station_sim.errors import ScenarioError
from station_sim.scenario import load_scenario, parse_scenario
from station_sim.settings import resolve
from station_sim.sim import Simulator
from station_sim.slot import Slot
from station_sim.traffic import card_sale, cash_sale

from edge.config import load_config
from protocol.messages import ListQuery, ListReply, PollReply, RecordAck, RecordUpload
from protocol.reasons import RefusalReason, encode_m_flag
from protocol.record import TxKind
from tests.sim.helpers import STATION_TOML

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "scenarios"
POLL = PollReply(dt.datetime(2026, 5, 1))


def make_sim(tmp_path: Path, **cli: object) -> Simulator:
    (tmp_path / "station.toml").write_text(STATION_TOML.format(dir=tmp_path))
    config = load_config(tmp_path / "station.toml")
    settings = resolve(
        {"state_dir": str(tmp_path / "state"), "ledger": str(tmp_path / "ledger.jsonl"), "seed": 3, **cli},
        {},
        config.path,
    )
    return Simulator(config, settings)


async def controller(slots: list[Slot], stop: asyncio.Event) -> None:
    """Answer every dispenser in-process: lists allow, records acked."""
    while not stop.is_set():
        for slot in slots:
            if not slot.powered:
                continue
            msg = slot.dev.answer_poll(POLL)
            if isinstance(msg, RecordUpload):
                slot.dev.handle_host(RecordAck(0))
            elif isinstance(msg, ListQuery):
                internal = msg.asn[4:6] == "04"
                slot.dev.handle_host(
                    ListReply(encode_m_flag(False, RefusalReason.NONE, internal=internal), msg.asn)
                )
        await asyncio.sleep(0.005)


def test_the_example_scenarios_parse(tmp_path: Path) -> None:
    (tmp_path / "station.toml").write_text(STATION_TOML.format(dir=tmp_path))
    config = load_config(tmp_path / "station.toml")
    files = sorted(EXAMPLES.glob("*.toml"))
    assert files
    for path in files:
        scenario = load_scenario(path, config)
        assert scenario.steps


def test_scenario_problems_are_all_reported(tmp_path: Path) -> None:
    (tmp_path / "station.toml").write_text(STATION_TOML.format(dir=tmp_path))
    config = load_config(tmp_path / "station.toml")
    doc = {
        "cards": [{"asn": "123", "kind": "user"}, {"asn": "10000101100000000001", "kind": "employee"}],
        "timeline": [
            {"at_s": 1, "action": "fly"},
            {"at_s": 1, "line": "bus1", "dispenser": 1, "nozzle": 9, "action": "lift"},
            {"at_s": 1, "line": "bus1", "dispenser": 1, "nozzle": 1, "action": "fuel"},
            {"at_s": 1, "line": "nope", "action": "insert_card", "card": "999"},
        ],
    }
    with pytest.raises(ScenarioError) as err:
        parse_scenario(doc, tmp_path / "s.toml", config)
    text = "\n".join(err.value.problems)
    for expected in ("cards[0].asn", "cards[1].asn", "timeline[0].action", "timeline[1].nozzle", "timeline[2]",
                     "timeline[3].line", "timeline[3].card"):  # fmt: skip
        assert expected in text, expected


async def test_scenario_plays_cards_grey_duty_and_cash(tmp_path: Path) -> None:
    sim = make_sim(tmp_path, fuel_speed=100000)
    doc = {
        "cards": [
            {"asn": "10000101100000000001", "kind": "user", "balance": 100000},
            {"asn": "10000401100000000007", "kind": "employee", "emp": 7},
            {
                "asn": "10000101100000000009",
                "kind": "cng",
                "balance": 5000,
                "cng": {
                    "card_class": 1,
                    "mode": "prepaid_amount",
                    "cylinder_valid_until": "2027-01-31",
                    "plate": "京A1",
                },
            },
        ],
        "timeline": [
            {
                "at_s": 0,
                "line": "bus1",
                "dispenser": 1,
                "nozzle": 1,
                "action": "on_duty",
                "card": "10000401100000000007",
            },
            {
                "at_s": 0,
                "line": "bus1",
                "dispenser": 1,
                "nozzle": 1,
                "action": "insert_card",
                "card": "10000101100000000001",
            },
            {"at_s": 0, "line": "bus1", "dispenser": 1, "nozzle": 1, "action": "lift"},
            {"at_s": 0, "line": "bus1", "dispenser": 1, "nozzle": 1, "action": "fuel", "amount": 3000},
            {"at_s": 0, "line": "bus1", "dispenser": 1, "nozzle": 1, "action": "hang_up"},
            {"at_s": 0, "line": "bus1", "dispenser": 1, "nozzle": 1, "action": "pull_card"},
            {"at_s": 0, "line": "bus1", "dispenser": 2, "action": "cash_sale", "amount": 1000},
            {
                "at_s": 0,
                "line": "bus1",
                "dispenser": 1,
                "nozzle": 2,
                "action": "insert_card",
                "card": "10000101100000000009",
            },
            {"at_s": 0, "line": "bus1", "dispenser": 1, "action": "error_info", "text": "E01"},
            {"at_s": 0, "line": "bus1", "dispenser": 2, "nozzle": 3, "action": "hang_up"},
        ],
    }
    scenario = parse_scenario(doc, tmp_path / "s.toml", sim.config)
    stop = asyncio.Event()
    ctl = asyncio.create_task(controller(sim.slots(), stop))
    try:
        await asyncio.wait_for(scenario.run(sim), 10)
    finally:
        stop.set()
        await ctl
    kinds = [e["t_type"] for e in _events(sim) if e["event"] == "record"]
    assert kinds == [TxKind.ON_DUTY, 0x10, TxKind.CASH]
    actions = [e for e in _events(sim) if e["event"] in ("action", "action_error")]
    assert [e["event"] for e in actions] == ["action"] * 9 + ["action_error"]  # nozzle 3 is not up
    card_in = sim.find_slot("bus1", 1).dev.realtime().entries
    assert card_in and card_in[0].nzn == 2  # the CNG card is still in its reader


def _events(sim: Simulator) -> list[dict[str, Any]]:
    assert sim.settings.ledger is not None
    return [json.loads(line) for line in sim.settings.ledger.read_text().splitlines()]


async def test_power_cycle_forgets_nothing_unacknowledged_and_resends_nothing_acknowledged(
    tmp_path: Path,
) -> None:
    sim = make_sim(tmp_path, fuel_speed=100000)
    slot = sim.find_slot("bus1", 1)
    await cash_sale(slot, 1, 1000)
    before = slot.dev
    pending = [r.pos_ttc for r in before.pending]
    assert pending == [1]
    await sim.power_cycle(slot, 0.0, "test")
    assert slot.dev is not before and slot.powered
    assert [r.pos_ttc for r in slot.dev.pending] == pending
    assert isinstance(slot.dev.answer_poll(POLL), RecordUpload)
    slot.dev.handle_host(RecordAck(0))
    await sim.power_cycle(slot, 0.0, "test")
    assert slot.dev.pending == []
    await cash_sale(slot, 1, 1000)
    assert [r.pos_ttc for r in slot.dev.pending] == [2]
    phases = [e["phase"] for e in _events(sim) if e["event"] == "power_cycle"]
    assert phases == ["off", "on", "off", "on"]


async def test_a_power_cycle_interrupts_an_activity_and_frees_its_card(tmp_path: Path) -> None:
    sim = make_sim(tmp_path)
    slot = sim.find_slot("bus1", 1)
    card = next(iter(sim.pool.cards.values()))
    sale = asyncio.create_task(card_sale(slot, 1, card, 1000))
    await asyncio.sleep(0)  # one step: the card goes in; nobody answers its list query
    assert slot.dev.nozzles[1].session is not None and card.in_use
    await sim.power_cycle(slot, 0.0, "test")
    await asyncio.wait_for(sale, 5)
    assert not card.in_use and slot.dev.nozzles[1].session is None and slot.dev.pending == []


async def test_random_traffic_stops_after_max_records_with_consecutive_pos_ttc(tmp_path: Path) -> None:
    sim = make_sim(
        tmp_path, rate=600.0, max_records=12, fuel_speed=200000, mix="sale=40,grey=20,cash=20,duty=20"
    )
    stop = asyncio.Event()
    ctl = asyncio.create_task(controller(sim.slots(), stop))
    try:
        await asyncio.wait_for(sim._produce(), 60)
    finally:
        stop.set()
        await ctl
    records = [e for e in _events(sim) if e["event"] == "record"]
    assert len(records) >= 12
    per_dispenser: dict[tuple[str, int], list[int]] = {}
    for e in records:
        per_dispenser.setdefault((e["line"], e["dispenser"]), []).append(e["pos_ttc"])
        assert len(bytes.fromhex(e["raw"])) == 95
    for counters in per_dispenser.values():
        assert counters == list(range(1, len(counters) + 1))
    assert _events(sim)[-1]["event"] == "production_done"
