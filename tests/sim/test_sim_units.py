"""Smaller pieces of the simulator: settings, faults, wire time, the multi-drop dispatch, the ledger."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import pytest
from station_sim.errors import SettingsError
from station_sim.faults import Faults, FaultSettings
from station_sim.ledger import Ledger
from station_sim.multidrop import MultiDropRunner
from station_sim.port import LineTiming, Port
from station_sim.settings import DEFAULT_MIX, parse_mix, resolve
from station_sim.slot import Slot
from station_sim.transport import classify, memory_pair

from protocol.codec import decode_message, encode_message
from protocol.frame import Frame
from protocol.messages import Direction, NozzleInfo, PollReply, RecordAck
from tests.sim.helpers import FakeClock, make_device

# --- settings --------------------------------------------------------------------------------------------


def test_cli_wins_over_the_simulator_table_which_wins_over_defaults(tmp_path: Path) -> None:
    config = tmp_path / "station.toml"
    table = {"rate": 5, "fuel_speed": 200, "mix": {"sale": 1}, "state_dir": "st", "exit_when_acked": True}
    s = resolve({"rate": 30.0, "fuel_speed": None}, table, config)
    assert s.rate == 30.0 and s.fuel_speed == 200 and s.mix == {"sale": 1.0}
    assert s.state_dir == tmp_path / "st" and s.exit_when_acked is True
    assert s.p2p_interval_ms == 500 and resolve({}, {}, config).mix == DEFAULT_MIX
    assert resolve({}, {}, config).state_dir == tmp_path / "sim-state"


def test_every_settings_problem_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as err:
        resolve({"corrupt_rate": 2.0}, {"bogus": 1, "mix": "sale=x", "fuel_speed": 0}, tmp_path / "s.toml")
    text = "\n".join(err.value.problems)
    assert "--corrupt-rate" in text and "simulator.bogus" in text and "simulator.mix" in text
    assert "simulator.fuel_speed" in text


def test_mix_parsing() -> None:
    assert parse_mix("sale=80, grey=5,cash=10,duty=5") == {"sale": 80, "grey": 5, "cash": 10, "duty": 5}
    for bad in ("sale", "coffee=3", "sale=-1", "sale=0"):
        with pytest.raises(ValueError):
            parse_mix(bad)


# --- faults and wire time --------------------------------------------------------------------------------


def _faults(clock: FakeClock, events: list[dict[str, Any]], **settings: Any) -> Faults:
    return Faults(FaultSettings(**settings), random.Random(1), events.append, "bus1", clock.mono, 0.25)


def test_corruption_changes_bytes_and_is_logged() -> None:
    events: list[dict[str, Any]] = []
    faults = _faults(FakeClock(), events, corrupt_rate=1.0)
    wire = bytes(range(20))
    out = faults.corrupt(wire, 1, 0x32)
    assert len(out) == len(wire) and all(a != b for a, b in zip(out, wire, strict=True))
    assert events[0]["kind"] == "corrupt" and events[0]["offsets"] == list(range(20))
    assert _faults(FakeClock(), [], corrupt_rate=0.0).corrupt(wire, 1, 0x32) == wire


def test_drop_and_late_decisions_are_logged() -> None:
    events: list[dict[str, Any]] = []
    faults = _faults(FakeClock(), events, drop_rate=1.0, late_rate=1.0)
    assert faults.drop(2, 0x31) is True
    assert faults.late(2, 0x38) == 0.25  # default: the line's reply timeout + margin
    assert [e["kind"] for e in events] == ["drop", "late"]
    assert _faults(FakeClock(), [], late_rate=1.0, late_ms=700).late(1, 0x38) == 0.7


def test_a_scenario_override_holds_for_its_window() -> None:
    clock = FakeClock()
    faults = _faults(clock, [], drop_rate=0.0)
    faults.override("drop", 1.0, 10)
    assert faults.rate("drop") == 1.0
    clock.advance(11)
    assert faults.rate("drop") == 0.0


@pytest.mark.parametrize(("parity", "stop", "bits"), [("N", 1, 10), ("E", 1, 11), ("O", 2, 12), ("N", 2, 11)])
def test_wire_time_counts_start_data_parity_and_stop_bits(parity: str, stop: int, bits: int) -> None:
    timing = LineTiming(baud=9600, parity=parity, stop_bits=stop, wire_time=True)
    assert timing.bits_per_byte == bits
    assert timing.wire_s(96) == pytest.approx(96 * bits / 9600)


async def test_port_sends_a_whole_frame_in_one_write_and_reads_frames_back() -> None:
    sim_end, ctl_end = memory_pair()
    events: list[dict[str, Any]] = []
    port = Port("bus1", sim_end, LineTiming(), _faults(FakeClock(), events))
    frame = Frame.make(0xE0, 1, 3, False, encode_message(NozzleInfo(())))
    await port.send(frame, 1)
    assert ctl_end.inbox.qsize() == 1
    await ctl_end.write(Frame.make(1, 0xE0, 4, True, encode_message(RecordAck(0))).logical_bytes())
    got = await anext(port.frames())
    assert decode_message(got.data, Direction.H) == RecordAck(0)


# --- multi-drop dispatch ----------------------------------------------------------------------------------


def _poll_frame(dst: int, frame_no: int = 7) -> Frame:
    return Frame.make(dst, 0xE0, frame_no, True, encode_message(PollReply(dt.datetime(2026, 5, 1))))


def test_multidrop_answers_only_the_addressed_powered_dispenser() -> None:
    clock = FakeClock()
    slots = {1: Slot(make_device(clock, pos_p=1)), 2: Slot(make_device(clock, pos_p=2))}
    sim_end, _ = memory_pair()
    runner = MultiDropRunner(Port("bus1", sim_end, LineTiming(), _faults(clock, [])), slots)
    answer = runner.handle(_poll_frame(2, 9))
    assert answer is not None and (answer.dst, answer.src, answer.frame_no) == (0xE0, 2, 9)
    assert decode_message(answer.data, Direction.P) == NozzleInfo(())
    assert runner.handle(_poll_frame(3)) is None
    slots[2].powered = False
    assert runner.handle(_poll_frame(2)) is None
    ack = Frame.make(1, 0xE0, 8, True, encode_message(RecordAck(0)))
    assert runner.handle(ack) is None  # the controller's answers get no answer


def test_classify_urls(tmp_path: Path) -> None:
    assert classify("socket://127.0.0.1:4001") == "tcp"
    assert classify(str(tmp_path / "new-link")) == "pty"
    (tmp_path / "old").symlink_to("/dev/pts/999")
    assert classify(str(tmp_path / "old")) == "pty"
    assert classify("/dev/null") == "serial"


# --- ledger ----------------------------------------------------------------------------------------------


def test_ledger_lines_are_json_with_event_and_iso_time(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    ledger = Ledger(path)
    clock = FakeClock()
    dev = make_device(clock, events=None)
    dev._emit = ledger.write
    dev.lift(1)
    dev.fuel(1, amount=1000)
    clock.advance(1000)
    rec = dev.hang_up(1)
    assert rec is not None
    dev.answer_poll(PollReply(dt.datetime(2026, 5, 1)))
    dev.handle_host(RecordAck(0))
    ledger.event("stop")
    ledger.close()
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [e["event"] for e in lines] == ["record", "ack", "stop"]
    for e in lines:
        assert dt.datetime.fromisoformat(e["at"]).tzinfo is not None
    record, ack, _ = lines
    assert set(record) == {"event", "at", "line", "dispenser", "pos_ttc", "t_type", "raw"}
    assert (record["line"], record["dispenser"], record["pos_ttc"], record["t_type"]) == ("bus1", 1, 1, 7)
    assert len(bytes.fromhex(record["raw"])) == 95
    assert {k: ack[k] for k in ("line", "dispenser", "pos_ttc")} == {
        "line": "bus1",
        "dispenser": 1,
        "pos_ttc": 1,
    }


async def test_tcp_listener_serves_the_newest_connection() -> None:
    from station_sim.transport import TcpTransport

    tcp = TcpTransport("socket://127.0.0.1:0")
    await tcp.open()
    try:
        assert tcp._server is not None
        port = tcp._server.sockets[0].getsockname()[1]
        _, w1 = await asyncio.open_connection("127.0.0.1", port)
        w1.write(b"one")
        await w1.drain()
        assert await asyncio.wait_for(tcp.read(), 5) == b"one"
        r2, w2 = await asyncio.open_connection("127.0.0.1", port)
        w2.write(b"two")
        await w2.drain()
        assert await asyncio.wait_for(tcp.read(), 5) == b"two"
        await tcp.write(b"back")
        assert await asyncio.wait_for(r2.readexactly(4), 5) == b"back"
        w1.close()
        w2.close()
    finally:
        await tcp.close()
