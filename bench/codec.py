"""Frame codec throughput: decode + encode of a 104-byte transaction frame (target >= 20 000 frames/s).

Layer: benchmark (not a test: the figure is printed, nothing is timed in the test suite). One iteration
is the whole path a record takes through the protocol package, both ways:

    FrameReader.feed(wire) -> decode_message -> encode_message -> encode_frame

on a 0x32 P frame (96 bytes of DATA, 104 logical bytes) whose POS_TTC, BAL and CRC contain 0xFA, so the
wire form is escaped (109 bytes). The run is split into rounds; the best round is the figure (what the
code can do on this machine when nothing else runs), the median shows the noise.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import statistics
import time
from typing import Any

from protocol.codec import decode_message, encode_message
from protocol.frame import Frame, encode_frame
from protocol.messages import Direction, RecordUpload
from protocol.reader import FrameReader
from protocol.record import TransactionRecord

TARGET_FRAMES_PER_S = 20_000
ROUNDS = 5

RECORD = TransactionRecord(
    pos_ttc=0x12FA34FA,
    t_type=0x10,
    time=dt.datetime(2017, 2, 23, 8, 30, 15),
    asn="98765432109876543210",
    bal=0xFA0000FA,
    amn=74291,
    ctc=38279,
    tac=0x44448888,
    gmac=0x55551111,
    psam_tac=0x66662222,
    psam_asn="01234567890123456789",
    psam_tid=bytes.fromhex("123456123456"),
    psam_ttc=0x22333311,
    ds=0,
    unit=0,
    c_type=0,
    ver=0x12,
    nzn=9,
    g_code="0102",
    vol=0x010203,
    prc=0x0202,
    emp=9,
    v_tot=0x12348899,
)


def sample_frame() -> Frame:
    """The benchmark's frame: a record upload with 0xFA in POS_TTC, BAL and the CRC."""
    for t_mac in range(1 << 16):
        record = dataclasses.replace(RECORD, t_mac=t_mac)
        frame = Frame(0xE2, 0xFF, 0x1A, encode_message(RecordUpload(record)))
        if 0xFA in frame.logical_bytes()[-2:]:
            return frame
    raise AssertionError("no T_MAC puts an 0xFA in the CRC")  # pragma: no cover


def _round(wire: bytes, reader: FrameReader, seconds: float) -> tuple[int, float]:
    iterations = 0
    batch = 200
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(batch):
            for frame in reader.feed(wire):
                msg = decode_message(frame.data, Direction.P)
                encode_frame(Frame(frame.dst, frame.src, frame.ctrl, encode_message(msg)))
        iterations += batch
        now = time.perf_counter()
        if now >= deadline:
            return iterations, now - start


def run(seconds: float = 3.0) -> dict[str, Any]:
    """Measure for about `seconds`, print one line and return the figures."""
    frame = sample_frame()
    wire = encode_frame(frame)
    reader = FrameReader()
    # the path must be right before it is fast
    [read] = reader.feed(wire)
    again = encode_message(decode_message(read.data, Direction.P))
    if read != frame or encode_frame(Frame(read.dst, read.src, read.ctrl, again)) != wire:
        raise AssertionError("codec round trip changed the frame")
    rates: list[float] = []
    total = 0
    for _ in range(ROUNDS):
        iterations, elapsed = _round(wire, reader, seconds / ROUNDS)
        rates.append(iterations / elapsed)
        total += iterations
    if reader.stats.frames != total + 1 or reader.pending:
        raise AssertionError("the reader lost frames during the run")
    best = max(rates)
    result: dict[str, Any] = {
        "name": "codec",
        "value": round(best),
        "unit": "frames/s",
        "target": TARGET_FRAMES_PER_S,
        "ok": best >= TARGET_FRAMES_PER_S,
        "median": round(statistics.median(rates)),
        "rounds": [round(rate) for rate in rates],
        "us_per_frame": round(1e6 / best, 1),
        "frame_bytes": len(frame.logical_bytes()),
        "wire_bytes": len(wire),
        "iterations": total,
        "seconds": seconds,
    }
    print(
        f"codec: {result['value']:,} frames/s decode+encode of a {result['frame_bytes']}-byte record frame "
        f"({result['wire_bytes']} on the wire), best of {ROUNDS} rounds, median {result['median']:,}; "
        f"target {TARGET_FRAMES_PER_S:,}: {'ok' if result['ok'] else 'BELOW TARGET'}"
    )
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.codec", description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--json", action="store_true", help="print the result as JSON on the last line")
    args = parser.parse_args(argv)
    result = run(args.seconds)
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
