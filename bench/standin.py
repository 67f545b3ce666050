"""A stand-in multi-drop bus for the poll benchmark: idle dispensers that cost next to nothing.

`python -m bench.standin LINK BAUD ADDRESSES` creates a pty pair, links its slave at LINK (as the
simulator does) and answers every frame addressed to one of the first ADDRESSES bus addresses with that
dispenser's idle 0x31 answer, precomputed for every frame number. Wire time is emulated like the
simulator's `--wire-time` (a request occupies the bus from its arrival for its length at BAUD, the
answer is written when its last byte would have left), but in a plain blocking loop without asyncio,
decoding or device model: what the poll loop achieves against it is the daemon's own capacity, not
the simulator's. It ends on SIGTERM and removes its link.

It also times both sides of every exchange: the daemon's *turnaround* (from the moment an answer was
written until the next request arrives: the daemon's whole share of the exchange, its pty hops
included) and its own *lateness* (how long after the emulated wire was free its answer went out).
SIGUSR1 starts a new measurement window; SIGUSR2 prints the window's figures as one line
`standin statistics: {json}` on stdout.
"""

from __future__ import annotations

import json
import os
import select
import signal
import sys
import termios
import time
import tty
from pathlib import Path
from types import FrameType

from protocol.codec import encode_message
from protocol.frame import Frame, encode_frame
from protocol.messages import NozzleInfo
from protocol.reader import FrameReader

BITS_PER_BYTE = 10
CONTROLLER = 0xE0
SPIN_S = 0.0005
STATISTICS = "standin statistics: "
TURNAROUND_LIMIT_S = 0.05
"""A longer gap is not a turnaround: the daemon waited for a reply that never came (a read the
stand-in does not answer) or was between runs."""


class Timings:
    """Turnarounds and lateness of the current window, in seconds."""

    def __init__(self) -> None:
        self.turnaround: list[float] = []
        self.late: list[float] = []

    def summary(self) -> dict[str, float]:
        out: dict[str, float] = {"exchanges": len(self.late)}
        for name, values in (("turnaround", self.turnaround), ("late", self.late)):
            ordered = sorted(values)
            if ordered:
                out[f"{name}_mean_ms"] = round(sum(ordered) / len(ordered) * 1000, 4)
                out[f"{name}_p50_ms"] = round(ordered[len(ordered) // 2] * 1000, 4)
                out[f"{name}_p90_ms"] = round(ordered[int(len(ordered) * 0.9)] * 1000, 4)
        return out


def idle_answers(addresses: int) -> dict[tuple[int, int], bytes]:
    """The wire bytes of each dispenser's idle answer, by (address, frame number)."""
    data = encode_message(NozzleInfo())
    return {
        (address, number): encode_frame(Frame.make(CONTROLLER, address, number, False, data))
        for address in range(1, addresses + 1)
        for number in range(64)
    }


def _wait_until(end: float) -> None:
    if end - time.monotonic() > SPIN_S:
        time.sleep(end - time.monotonic() - SPIN_S)
    while time.monotonic() < end:
        pass


def serve(link: Path, baud: int, addresses: int) -> None:
    answers = idle_answers(addresses)
    byte_s = BITS_PER_BYTE / baud
    master, slave = os.openpty()
    tty.setraw(slave)
    attrs = termios.tcgetattr(slave)
    attrs[3] &= ~termios.ECHO
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    tmp = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    os.symlink(os.ttyname(slave), tmp)
    os.replace(tmp, link)
    running = True

    def stop(_sig: int, _frame: FrameType | None) -> None:
        nonlocal running
        running = False

    timings = Timings()

    def reset(_sig: int, _frame: FrameType | None) -> None:
        nonlocal timings
        timings = Timings()

    def report(_sig: int, _frame: FrameType | None) -> None:
        print(STATISTICS + json.dumps(timings.summary()), flush=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGUSR1, reset)
    signal.signal(signal.SIGUSR2, report)
    reader = FrameReader()
    bus_free = 0.0
    answered_at = 0.0
    try:
        while running:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                continue
            chunk = os.read(master, 4096)
            now = time.monotonic()
            if answered_at and now - answered_at < TURNAROUND_LIMIT_S:
                timings.turnaround.append(now - answered_at)
            answered_at = 0.0
            bus_free = max(now, bus_free) + len(chunk) * byte_s
            for frame in reader.feed(chunk):
                answer = answers.get((frame.dst, frame.frame_no))
                if answer is None or not frame.from_host:
                    continue
                bus_free += len(answer) * byte_s
                _wait_until(bus_free)
                os.write(master, answer)
                answered_at = time.monotonic()
                timings.late.append(answered_at - bus_free)
    finally:
        if os.path.islink(link):
            os.unlink(link)
        os.close(master)
        os.close(slave)


if __name__ == "__main__":
    serve(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
