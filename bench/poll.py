"""Multi-drop poll rate against the wire-time limit (target ≥ 0.9 of the limit).

16 simulated dispensers on one bus with wire-time emulation (the simulator paces every byte at the
line's baud rate, both directions), the real daemon polling them without poll pacing
(`poll_cycle_ms = 0`, `min_poll_interval_ms = 0`): the loop's capacity, not the station's chosen rate.
The limit is what the wire allows for one idle poll exchange: the H 0x30 poll frame plus the
dispenser's idle 0x31 answer, 10 bits per byte.

Each exchange also pays both processes' turnaround (a pty write, an event-loop wake-up, decoding) on
top of the wire time. To tell the daemon's share from the simulator's, a third run polls a stand-in bus
at 115200 baud (`bench.standin`: idle answers from a blocking loop, the same wire-time emulation, no
asyncio and no device model): what the daemon achieves there is the poll loop's own capacity. The
stand-in also times the daemon's turnaround (answer written → next request read) and its own lateness;
`daemon_only_fraction` is what the loop would reach if the device answered exactly when the wire is
free: the wire time of one exchange over that plus the daemon's mean turnaround.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.standin import STATISTICS
from bench.stationproc import Run, bus_config, start, wait_downloads, wait_first_poll
from protocol.codec import encode_message
from protocol.frame import Frame, encode_frame
from protocol.messages import NozzleInfo, PollReply

TARGET_FRACTION = 0.9
BITS_PER_BYTE = 10  # start + 8 data + stop (8N1)


def wire_limit_polls_per_s(baud: int) -> float:
    poll = encode_frame(Frame.make(1, 0xE0, 1, True, encode_message(PollReply(dt.datetime(2026, 1, 1)))))
    idle = encode_frame(Frame.make(0xE0, 1, 1, False, encode_message(NozzleInfo())))
    return baud / (BITS_PER_BYTE * (len(poll) + len(idle)))


def measure(baud: int, dispensers: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-poll-") as tmp:
        run = start(Path(tmp), dispensers, baud, unpaced=True)
        try:
            wait_first_poll(run)
            wait_downloads(run.folder, 2 * dispensers)  # start-up downloads of station info and prices
            return _window(run, baud, seconds)
        finally:
            run.stop()


def measure_standin(baud: int, dispensers: int, seconds: float) -> dict[str, Any]:
    """The daemon against `bench.standin` (idle answers from a blocking loop, wire time emulated): the
    poll loop's own capacity, without the simulator's share of each exchange."""
    with tempfile.TemporaryDirectory(prefix="bench-poll-standin-") as tmp:
        folder = Path(tmp)
        config = bus_config(folder, dispensers, baud, unpaced=True)
        link = folder / "tty-bus1"
        with (folder / "standin.log").open("wb") as out:
            device = subprocess.Popen(
                [sys.executable, "-m", "bench.standin", str(link), str(baud), str(dispensers)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while not link.exists():
            if device.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the stand-in did not create its pty link")
            time.sleep(0.05)
        log = folder / "station.log"
        with log.open("wb") as out:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "edge.cli", "run", "--config", str(config)], stdout=out, stderr=out
            )
        run = Run(device, daemon, log, time.monotonic(), folder)
        try:
            wait_first_poll(run)
            device.send_signal(signal.SIGUSR1)  # the stand-in's timing window starts with ours
            row = _window(run, baud, seconds)
            row.update(_standin_timings(device, folder / "standin.log", row["wire_limit_polls_per_s"]))
            return row
        finally:
            run.stop()


def _standin_timings(device: subprocess.Popen[bytes], log: Path, limit: float) -> dict[str, Any]:
    """The stand-in's figures for the window: the daemon's turnaround and the stand-in's lateness."""
    device.send_signal(signal.SIGUSR2)
    deadline = time.monotonic() + 10
    while STATISTICS not in log.read_text():
        if time.monotonic() > deadline:
            raise RuntimeError("the stand-in did not report its timings")
        time.sleep(0.01)
    line = next(x for x in log.read_text().splitlines() if x.startswith(STATISTICS))
    timings: dict[str, float] = json.loads(line.removeprefix(STATISTICS))
    wire_s = 1 / limit
    turnaround_s = timings.get("turnaround_mean_ms", 0.0) / 1000
    return {
        "standin": timings,
        "daemon_turnaround_mean_ms": timings.get("turnaround_mean_ms"),
        "daemon_only_fraction": round(wire_s / (wire_s + turnaround_s), 3),
    }


def _window(run: Run, baud: int, seconds: float) -> dict[str, Any]:
    first = run.snapshot()
    began = time.monotonic()
    while time.monotonic() < began + seconds:
        time.sleep(0.05)
    last = run.snapshot()
    window_s = time.monotonic() - began
    polls = last["bus1"]["polls"] - first["bus1"]["polls"]
    achieved = polls / window_s
    limit = wire_limit_polls_per_s(baud)
    return {
        "baud": baud,
        "polls": polls,
        "achieved_polls_per_s": round(achieved, 2),
        "wire_limit_polls_per_s": round(limit, 2),
        "fraction": round(achieved / limit, 3),
        "timeouts": last["bus1"]["timeouts"] - first["bus1"]["timeouts"],
    }


def run(seconds: float = 10.0, dispensers: int = 16) -> dict[str, Any]:
    rows = [{"device": "simulator", **measure(baud, dispensers, seconds)} for baud in (9600, 115200)]
    rows.append({"device": "stand-in", **measure_standin(115200, dispensers, seconds)})
    for row in rows:
        print(
            f"poll @{row['baud']} baud, {dispensers} dispensers ({row['device']}): {row['achieved_polls_per_s']} "
            f"polls/s of a wire limit of {row['wire_limit_polls_per_s']} ({row['fraction']:.0%}; "
            f"target ≥ {TARGET_FRACTION:.0%})"
        )
    simulated = [r for r in rows if r["device"] == "simulator"]
    return {
        "name": "poll",
        "value": min(r["fraction"] for r in simulated),
        "unit": "fraction of wire-time limit",
        "target": TARGET_FRACTION,
        "daemon_capacity_fraction_115200": rows[-1]["fraction"],
        "daemon_only_fraction_115200": rows[-1]["daemon_only_fraction"],
        "daemon_turnaround_mean_ms_115200": rows[-1]["daemon_turnaround_mean_ms"],
        "runs": rows,
    }
