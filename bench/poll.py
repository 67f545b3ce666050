"""Multi-drop poll rate against the wire-time limit (target ≥ 0.9 of the limit).

16 simulated dispensers on one bus with wire-time emulation (the simulator paces every byte at the
line's baud rate, both directions), the real daemon polling them without poll pacing
(`poll_cycle_ms = 0`, `min_poll_interval_ms = 0`): the loop's capacity, not the station's chosen rate.
The limit is what the wire allows for one idle poll exchange: the H 0x30 poll frame plus the
dispenser's idle 0x31 answer, 10 bits per byte.
"""

from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.stationproc import start, wait_downloads, wait_first_poll
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
            first = run.snapshot()
            began = time.monotonic()
            end = began + seconds
            while time.monotonic() < end:
                time.sleep(0.05)
            last = run.snapshot()
            window_s = time.monotonic() - began
        finally:
            run.stop()
    polls = last["bus1"]["polls"] - first["bus1"]["polls"]
    timeouts = last["bus1"]["timeouts"] - first["bus1"]["timeouts"]
    achieved = polls / window_s
    limit = wire_limit_polls_per_s(baud)
    return {
        "baud": baud,
        "polls": polls,
        "achieved_polls_per_s": round(achieved, 2),
        "wire_limit_polls_per_s": round(limit, 2),
        "fraction": round(achieved / limit, 3),
        "timeouts": timeouts,
    }


def run(seconds: float = 10.0, dispensers: int = 16) -> dict[str, Any]:
    rows = [measure(baud, dispensers, seconds) for baud in (9600, 115200)]
    for row in rows:
        print(
            f"poll @{row['baud']} baud, {dispensers} dispensers: {row['achieved_polls_per_s']} polls/s of a wire "
            f"limit of {row['wire_limit_polls_per_s']} ({row['fraction']:.0%}; target ≥ {TARGET_FRACTION:.0%})"
        )
    return {
        "name": "poll",
        "value": min(r["fraction"] for r in rows),
        "unit": "fraction of wire-time limit",
        "target": TARGET_FRACTION,
        "runs": rows,
    }
