"""The codec benchmark measures what it says (the figure itself is printed, never asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.codec import sample_frame
from protocol.frame import encode_frame

ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmark_frame_is_an_escaped_104_byte_record() -> None:
    frame = sample_frame()
    logical = frame.logical_bytes()
    wire = encode_frame(frame)
    assert len(logical) == 104
    assert frame.command == 0x32
    assert b"\xfa" in frame.data  # escaping in the payload
    assert 0xFA in logical[-2:]  # and in the CRC
    assert len(wire) > len(logical)


def test_station_bench_codec_json_is_the_last_line() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "edge.cli", "bench", "codec", "--seconds", "0.05", "--json"],
        capture_output=True,
        cwd=ROOT,
        timeout=60,
        check=True,
    )
    lines = proc.stdout.decode().splitlines()
    assert lines[0].startswith("codec: ")
    result = json.loads(lines[-1])
    assert (result["name"], result["unit"], result["target"]) == ("codec", "frames/s", 20000)
    assert result["value"] > 0
    assert result["iterations"] > 0
    assert result["frame_bytes"] == 104
