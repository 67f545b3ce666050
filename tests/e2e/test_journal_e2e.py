"""The daemon against the simulator over pty pairs: nothing lost, nothing duplicated, byte-identical.

Both line modes run at once (the demo station: a multi-drop bus with three dispensers and a
point-to-point line).
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import pytest

from edge.daemon import parse_line_statistics
from edge.loadprobe import parse_reports
from tests.e2e.harness import Station, assert_export_matches_ledger, ledger_acks, ledger_records, wait_until

pytestmark = pytest.mark.e2e

FAST_TRAFFIC = ("--seed", "7", "--rate", "240", "--fuel-speed", "50000", "--p2p-interval-ms", "100")


@pytest.fixture
def station(tmp_path: Path) -> Station:
    st = Station.create(tmp_path)
    yield st  # type: ignore[misc]
    st.stop()


def finished(station: Station) -> bool:
    assert station.sim is not None
    return not station.sim.alive()


def test_every_record_stored_once_byte_identical_in_both_line_modes(station: Station) -> None:
    station.start_sim(*FAST_TRAFFIC, "--max-records", "60", "--exit-when-acked")
    station.start_daemon()
    wait_until(lambda: finished(station), 180, "the simulator to see every record acknowledged")
    assert station.sim is not None and station.sim.popen.returncode == 0, station.sim.log_text()[-2000:]
    station.daemon.terminate()  # type: ignore[union-attr]
    produced, acked = assert_export_matches_ledger(station)
    assert produced >= 60 and acked == produced
    lines = {key[0] for key in ledger_records(station.ledger_events())}
    assert lines == {"bus1", "p2p1"}  # both line modes carried records
    report = parse_reports(station.daemon.log_text())[-1]  # type: ignore[union-attr]
    assert report["replies"]["RecordAck"]["count"] >= acked  # every ack's latency is in the shutdown report
    assert report["loop_lag"]["count"] > 0


@pytest.fixture
def unpaced_station(tmp_path: Path) -> Station:
    """Polled as fast as the line answers: a daemon killed within 0.2-2 s still gets past its start-up
    (reads, the dispensers' downloads after five polls) and sees records flow."""
    st = Station.create(tmp_path, unpaced=True)
    yield st  # type: ignore[misc]
    st.stop()


def test_kill_daemon_twenty_times_loses_and_duplicates_nothing(unpaced_station: Station) -> None:
    station = unpaced_station
    rng = random.Random(20261121)
    station.start_sim(*FAST_TRAFFIC, "--max-records", "500", "--exit-when-acked")
    kills = 0
    while kills < 20:
        assert station.sim is not None and station.sim.alive(), "production ended before the kills did"
        daemon = station.start_daemon()
        # Kill at a random moment: sometimes during start-up, mostly while records flow.
        deadline = time.monotonic() + rng.uniform(0.2, 2.0)
        while time.monotonic() < deadline and daemon.alive():
            time.sleep(0.02)
        assert daemon.alive(), daemon.log_text()[-2000:]
        daemon.kill()
        kills += 1
    assert len(ledger_records(station.ledger_events())) > 0, "the simulator produced nothing during the kills"
    station.start_daemon()
    wait_until(lambda: finished(station), 240, "every record acknowledged after the kills")
    assert station.sim is not None and station.sim.popen.returncode == 0, station.sim.log_text()[-2000:]
    station.daemon.terminate()  # type: ignore[union-attr]
    produced, acked = assert_export_matches_ledger(station)
    assert acked == produced >= 500
    assert set(ledger_records(station.ledger_events())) == ledger_acks(station.ledger_events())


def test_noise_never_stores_a_corrupted_record_and_is_counted(station: Station) -> None:
    station.start_sim(
        *FAST_TRAFFIC,
        "--max-records",
        "60",
        "--exit-when-acked",
        "--corrupt-rate",
        "0.01",
        "--drop-rate",
        "0.05",
    )
    station.start_daemon()
    wait_until(lambda: finished(station), 240, "every record acknowledged through the noise")
    assert station.sim is not None and station.sim.popen.returncode == 0, station.sim.log_text()[-2000:]
    daemon = station.daemon
    assert daemon is not None
    assert daemon.terminate() == 0
    assert_export_matches_ledger(station)
    stats = parse_line_statistics(daemon.log_text())
    assert set(stats) == {"bus1", "p2p1"}
    total = {
        key: sum(s[key] for s in stats.values()) for key in ("crc_errors", "timeouts", "frames_rx", "polls")
    }
    assert total["crc_errors"] > 0, stats
    assert total["timeouts"] > 0, stats
    assert stats["bus1"]["polls"] > 100  # polling went on through the noise
    faults = [e for e in station.ledger_events() if e["event"] == "fault"]
    assert faults, "the simulator logged no injected faults"
