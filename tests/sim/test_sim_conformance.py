"""Conformance: the real `station-sim` process on ptys, driven only through bytes, as a controller would."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from station_sim.records import record_bytes

from protocol.downloads import PriceRecord, PriceTable
from protocol.messages import (
    Content,
    DispenserInfo,
    DownloadInfo,
    DownloadStart,
    InfoRead,
    NoRecord,
    NozzleInfo,
    Poll,
    PollReply,
    RecordAck,
    RecordRead,
    RecordUpload,
    SegmentData,
    SegmentRequest,
    Totals,
    TotalsRead,
)
from protocol.record import TxKind
from tests.sim.helpers import PtyController, SimProcess, wait_until

ANSWER_S = 5.0
NOW = dt.datetime(2026, 5, 1, 10, 0, 0)


def poll_reply(**versions: int) -> PollReply:
    return PollReply(pc_time=NOW, **versions)


@pytest.fixture
def started(sim: SimProcess) -> SimProcess:
    sim.start("--scenario", str(sim.dir / "scenario.toml"))
    return sim


def poll_until_record(ctl: PtyController, dst: int) -> RecordUpload:
    def one() -> RecordUpload | None:
        frame, msg = ctl.request(dst, poll_reply())
        assert frame.src == dst and frame.frame_no == ctl.frame_no and not frame.from_host
        return msg if isinstance(msg, RecordUpload) else None

    return wait_until(one, 10, f"a record from dispenser {dst}")  # type: ignore[no-any-return]


def test_multidrop_only_the_addressed_dispenser_answers_and_idle_is_0x31_n0(started: SimProcess) -> None:
    ctl = PtyController(started.dir / "bus1")
    try:
        ctl.send(9, poll_reply())  # nobody at address 9: silence
        ctl.send(2, poll_reply(), frame_no=33)
        got = ctl.recv(ANSWER_S)
        assert got is not None
        frame, msg = got
        # the first frame on the line is dispenser 2's answer to its own poll: address 9 stayed silent
        assert (frame.src, frame.dst, frame.frame_no) == (2, 0xE0, 33)
        assert msg == NozzleInfo(())
    finally:
        ctl.close()


def test_multidrop_record_is_resent_until_acked_then_not_again(started: SimProcess) -> None:
    ctl = PtyController(started.dir / "bus1")
    try:
        first = poll_until_record(ctl, 1)
        _, again = ctl.request(1, poll_reply())  # no ack yet: the same record again
        assert again == first
        ctl.send(1, RecordAck(0))
        wait_until(lambda: started.events("ack"), 5, "the ack in the ledger")
        _, after = ctl.request(1, poll_reply())
        assert not (isinstance(after, RecordUpload) and after.record.pos_ttc == first.record.pos_ttc)
        (rec_event,) = [e for e in started.events("record") if e["line"] == "bus1" and e["dispenser"] == 1]
        assert rec_event["raw"] == record_bytes(first.record).hex()
        assert first.record.kind is TxKind.CASH and first.record.amn == 1500
        (ack,) = started.events("ack")
        assert (ack["line"], ack["dispenser"], ack["pos_ttc"]) == ("bus1", 1, first.record.pos_ttc)
    finally:
        ctl.close()


def test_multidrop_reads_totals_info_and_records(started: SimProcess) -> None:
    ctl = PtyController(started.dir / "bus1")
    try:
        record = poll_until_record(ctl, 1)
        ctl.send(1, RecordAck(0))
        _, totals = ctl.request(1, TotalsRead())
        assert isinstance(totals, Totals) and [t.nzn for t in totals.totals] == [1, 2]
        assert totals.totals[0].v_tot == record.record.v_tot
        _, info = ctl.request(1, InfoRead())
        assert isinstance(info, DispenserInfo) and info.nozzles == (1, 2) and info.s_id == "00000042"
        _, read = ctl.request(1, RecordRead(record.record.pos_ttc))
        assert read == record
        _, missing = ctl.request(1, RecordRead(4242))
        assert missing == NoRecord(4242)
    finally:
        ctl.close()


def test_multidrop_price_download_end_to_end(started: SimProcess) -> None:
    recs = (PriceRecord(3, "0102", 0, (820, 810, 800)),)
    data = PriceTable(7, dt.datetime(2020, 1, 1), recs, recs).build()
    ctl = PtyController(started.dir / "bus1")
    requests: list[object] = []
    try:

        def step() -> RecordUpload | None:
            _, msg = ctl.request(2, poll_reply(prc_ver=7))
            if isinstance(msg, DownloadStart):
                requests.append(msg)
                ctl.send(2, DownloadInfo(len(data), Content.PRICE_TABLE))
            elif isinstance(msg, SegmentRequest):
                requests.append(msg)
                chunk = data[msg.s_offset * 16 : (msg.s_offset + msg.seg) * 16]
                ctl.send(2, SegmentData(Content.PRICE_TABLE, msg.s_offset, msg.seg, chunk))
            return msg if isinstance(msg, RecordUpload) else None

        receipt = wait_until(step, 20, "the price receipt record")
        assert receipt.record.kind is TxKind.PRICE_RECEIPT
        assert requests[0] == DownloadStart(Content.PRICE_TABLE, 7)
        assert requests[1] == SegmentRequest(Content.PRICE_TABLE, 0, -(-len(data) // 16))
        ctl.send(2, RecordAck(0))
        (done,) = wait_until(lambda: started.events("download"), 5, "the download event")
        assert (done["content"], done["version"], done["bytes"]) == (4, 7, len(data))
        _, info = ctl.request(2, InfoRead())
        assert isinstance(info, DispenserInfo) and info.prc_ver == 7
    finally:
        ctl.close()


def test_point_to_point_the_dispenser_calls_then_sends_0x31_and_its_job(started: SimProcess) -> None:
    ctl = PtyController(started.dir / "p2p1")
    try:
        acked = None
        numbers: list[int] = []
        for _ in range(200):
            got = ctl.recv(ANSWER_S)
            assert got is not None, "the dispenser stopped calling"
            frame, msg = got
            if not isinstance(msg, Poll):
                continue
            assert (frame.src, frame.dst) == (5, 0xE0)
            numbers.append(frame.frame_no)
            ctl.send(5, poll_reply(), frame_no=frame.frame_no)
            got = ctl.recv(ANSWER_S)
            assert got is not None
            assert isinstance(got[1], NozzleInfo)  # 0x31 right after our 0x30 answer
            job = ctl.recv(0.5) if acked is None else None
            if job is not None and isinstance(job[1], RecordUpload):
                ctl.send(5, RecordAck(0), frame_no=job[0].frame_no)
                acked = job[1]
                break
        assert acked is not None and acked.record.kind is TxKind.CASH and acked.record.amn == 2500
        assert len(set(numbers)) == len(numbers)  # its own counter for the frames it initiates
        wait_until(lambda: [e for e in started.events("ack") if e["line"] == "p2p1"], 5, "the p2p ack")
    finally:
        ctl.close()


def test_line_survives_the_controller_closing_and_reopening_the_pty(started: SimProcess) -> None:
    for _ in range(3):
        ctl = PtyController(started.dir / "bus1")
        try:
            frame, msg = ctl.request(2, poll_reply())
            assert frame.src == 2 and isinstance(msg, NozzleInfo)
        finally:
            ctl.close()


def test_sigterm_saves_state_removes_links_and_exits_0(started: SimProcess) -> None:
    ctl = PtyController(started.dir / "bus1")
    try:
        poll_until_record(ctl, 1)
    finally:
        ctl.close()
    assert started.stop() == 0
    assert not os.path.lexists(started.dir / "bus1") and not os.path.lexists(started.dir / "p2p1")
    assert started.events()[-1]["event"] == "stop"
    assert (started.dir / "state" / "bus1-1.json").exists()


def test_unacked_record_survives_a_restart_and_pos_ttc_continues(sim: SimProcess) -> None:
    sim.start("--scenario", str(sim.dir / "scenario.toml"))
    ctl = PtyController(sim.dir / "bus1")
    try:
        first = poll_until_record(ctl, 1)
    finally:
        ctl.close()
    assert sim.stop() == 0
    sim.start("--scenario", str(sim.dir / "scenario.toml"))
    ctl = PtyController(sim.dir / "bus1")
    try:
        assert poll_until_record(ctl, 1) == first  # the unacknowledged record is still there
        ctl.send(1, RecordAck(0))
        second = poll_until_record(ctl, 1)  # the new run's cash sale
        assert second.record.pos_ttc == first.record.pos_ttc + 1
    finally:
        ctl.close()


def test_exit_when_acked_exits_0_once_everything_is_acknowledged(sim: SimProcess) -> None:
    sim.start("--scenario", str(sim.dir / "scenario.toml"), "--exit-when-acked")
    ctl = PtyController(sim.dir / "bus1")
    try:
        poll_until_record(ctl, 1)
        ctl.send(1, RecordAck(0))
    finally:
        ctl.close()
    ctl = PtyController(sim.dir / "p2p1")
    try:

        def serve() -> bool:
            got = ctl.recv(ANSWER_S)
            if got is None:
                return sim.popen is not None and sim.popen.poll() is not None
            frame, msg = got
            if isinstance(msg, Poll):
                ctl.send(5, poll_reply(), frame_no=frame.frame_no)
            elif isinstance(msg, RecordUpload):
                ctl.send(5, RecordAck(0), frame_no=frame.frame_no)
            return sim.popen is not None and sim.popen.poll() is not None

        wait_until(serve, 20, "the simulator to exit")
    finally:
        ctl.close()
    assert sim.popen is not None and sim.popen.wait(10) == 0
    assert {e["event"] for e in sim.events()} >= {"start", "record", "ack", "production_done", "stop"}


def test_bad_config_exits_2(tmp_path: Path) -> None:
    import subprocess
    import sys

    (tmp_path / "bad.toml").write_text("[station]\nid = 'x'\n[[lines]]\nname = 'a'\n")
    result = subprocess.run(
        [sys.executable, "-m", "station_sim.cli", "--config", str(tmp_path / "bad.toml")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2 and "lines[0]" in result.stderr
