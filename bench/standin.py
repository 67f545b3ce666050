"""A stand-in multi-drop bus for the poll benchmark: idle dispensers that cost next to nothing.

`python -m bench.standin LINK BAUD ADDRESSES` creates a pty pair, links its slave at LINK (as the
simulator does) and answers every frame addressed to one of the first ADDRESSES bus addresses with that
dispenser's idle 0x31 answer, precomputed for every frame number. Wire time is emulated like the
simulator's `--wire-time` (a request occupies the bus from its arrival for its length at BAUD, the
answer is written when its last byte would have left), but in a plain blocking loop without asyncio,
decoding or device model: what the poll loop achieves against it is the daemon's own capacity, not
the simulator's. It ends on SIGTERM and removes its link.
"""

from __future__ import annotations

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

    signal.signal(signal.SIGTERM, stop)
    reader = FrameReader()
    bus_free = 0.0
    try:
        while running:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                continue
            chunk = os.read(master, 4096)
            now = time.monotonic()
            bus_free = max(now, bus_free) + len(chunk) * byte_s
            for frame in reader.feed(chunk):
                answer = answers.get((frame.dst, frame.frame_no))
                if answer is None or not frame.from_host:
                    continue
                bus_free += len(answer) * byte_s
                _wait_until(bus_free)
                os.write(master, answer)
    finally:
        if os.path.islink(link):
            os.unlink(link)
        os.close(master)
        os.close(slave)


if __name__ == "__main__":
    serve(Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
