"""Helpers of the simulator tests: a fake clock, a device factory, download files, a pty controller,
the generated station and the simulator process."""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import select
import signal
import subprocess
import sys
import time
import tty
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from station_sim.cards import Card, CardKind, make_asn
from station_sim.device import DeviceSetup, Dispenser, NozzleSetup, StationIdentity
from station_sim.files import MISMATCH_POLLS
from support.waiting import wait_until_sync

from edge.children import spawn
from protocol.codec import decode_message, encode_message
from protocol.downloads import ListFile, PriceRecord, PriceTable
from protocol.frame import Frame, encode_frame
from protocol.messages import Direction, Message, PollReply
from protocol.reader import FrameReader

CONTROLLER = 0xE0
T0 = dt.datetime(2026, 5, 1, 10, 0, 0)


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def now(self) -> dt.datetime:
        return T0 + dt.timedelta(seconds=int(self.t))

    def mono(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


def make_device(
    clock: FakeClock,
    events: list[dict[str, Any]] | None = None,
    *,
    pos_p: int = 1,
    line: str = "bus1",
    fuel_speed: int = 100,
    persist: Callable[[Dispenser], None] | None = None,
    decides_everything_locally: bool = False,
    card_answer_timeout_s: float = 20.0,
) -> Dispenser:
    setup = DeviceSetup(
        line=line,
        pos_p=pos_p,
        nozzles=(NozzleSetup(1, "0102", (750, 740, 730)), NozzleSetup(2, "0301", (450,), "m3")),
        station=StationIdentity(province="11"),
        fuel_speed=fuel_speed,
        decides_everything_locally=decides_everything_locally,
        card_answer_timeout_s=card_answer_timeout_s,
    )
    sink = events if events is not None else []
    return Dispenser(
        setup, rng=random.Random(1), clock=clock.now, mono=clock.mono, emit=sink.append, persist=persist
    )


def user_card(serial: int = 1, province: str = "11", balance: int = 100_000) -> Card:
    return Card(make_asn(CardKind.USER, province, serial), CardKind.USER, balance)


def employee_card(serial: int = 7) -> Card:
    asn = make_asn(CardKind.EMPLOYEE, "11", serial)
    return Card(asn, CardKind.EMPLOYEE, emp=serial)


def poll(**versions: int) -> PollReply:
    return PollReply(pc_time=T0, **versions)


def price_table(version: int = 3, prices: tuple[int, ...] = (800, 790, 780)) -> bytes:
    recs = (PriceRecord(1, "0102", 0, prices), PriceRecord(2, "0301", 0, (500,)))
    return PriceTable(version, dt.datetime(2020, 1, 1, 0, 0), recs, recs).build()


def list_file(version: int, asns: list[str], valid: bool = True) -> bytes:
    start, end = (
        (dt.date(2020, 1, 1), dt.date(2099, 1, 1)) if valid else (dt.date(2001, 1, 1), dt.date(2002, 1, 1))
    )
    return ListFile.from_asns(version, start, end, 0, sorted(asns)).build()


MISMATCH = MISMATCH_POLLS


class PtyController:
    """Plays the controller on the slave side of a simulator pty, bytes only."""

    def __init__(self, path: Path) -> None:
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)
        self.reader = FrameReader()
        self.frames: list[Frame] = []
        self.frame_no = 0

    def close(self) -> None:
        os.close(self.fd)

    def send(self, dst: int, msg: Message, frame_no: int | None = None) -> None:
        if frame_no is None:
            self.frame_no = (self.frame_no + 1) & 0x3F
            frame_no = self.frame_no
        os.write(self.fd, encode_frame(Frame.make(dst, CONTROLLER, frame_no, True, encode_message(msg))))

    def recv_frame(self, timeout_s: float) -> Frame | None:
        """The next frame from the simulator, or None when the deadline passes first."""
        deadline = time.monotonic() + timeout_s
        while not self.frames:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            ready, _, _ = select.select([self.fd], [], [], left)
            if ready:
                try:
                    chunk = os.read(self.fd, 4096)
                except BlockingIOError:
                    continue
                self.frames.extend(self.reader.feed(chunk))
        return self.frames.pop(0)

    def recv(self, timeout_s: float) -> tuple[Frame, Message] | None:
        frame = self.recv_frame(timeout_s)
        if frame is None:
            return None
        return frame, decode_message(frame.data, Direction.P)

    def request(self, dst: int, msg: Message, timeout_s: float = 15.0) -> tuple[Frame, Message]:
        self.send(dst, msg)
        got = self.recv(timeout_s)
        assert got is not None, f"no answer to {msg!r}"
        return got


STATION_TOML = """\
[station]
id = "SIM-TEST"
province = "11"
s_id = "00000042"

[[products]]
g_code = "0102"
name = "92#"
prices = [750, 740, 730]

[[products]]
g_code = "0301"
name = "CNG"
unit = "m3"
prices = [450]

[[lines]]
name = "bus1"
url = "{dir}/bus1"
mode = "multi-drop"
inter_byte_timeout_ms = 500

[[lines.dispensers]]
pos_p = 1
nozzles = [{{ nzn = 1, g_code = "0102" }}, {{ nzn = 2, g_code = "0301" }}]

[[lines.dispensers]]
pos_p = 2
nozzles = [{{ nzn = 3, g_code = "0102" }}]

[[lines]]
name = "p2p1"
url = "{dir}/p2p1"
mode = "point-to-point"
reply_timeout_ms = 300

[[lines.dispensers]]
pos_p = 5
nozzles = [{{ nzn = 1, g_code = "0102" }}]

[simulator]
p2p_interval_ms = 50
fuel_speed = 100000
"""

SCENARIO_TOML = """\
[[timeline]]
at_s = 0
line = "bus1"
dispenser = 1
nozzle = 1
action = "cash_sale"
amount = 1500

[[timeline]]
at_s = 0
line = "p2p1"
nozzle = 1
action = "cash_sale"
amount = 2500
"""


def wait_until(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    return wait_until_sync(condition, timeout_s, what, 0.02)


@dataclass
class SimProcess:
    dir: Path
    config: Path
    ledger: Path
    popen: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.dir / "sim.log"

    def start(self, *options: str) -> None:
        argv = [
            sys.executable, "-m", "station_sim.cli", "--config", str(self.config), "--ledger", str(self.ledger),
            "--state-dir", str(self.dir / "state"), "--seed", "1", *options,
        ]  # fmt: skip
        self.popen = spawn("station-sim", argv, self.log).popen  # ends with the test run
        wait_until(lambda: self.links_ready() or self.popen.poll() is not None, 30, "the pty links")  # type: ignore[union-attr]
        assert self.popen.poll() is None, self.log.read_text()

    def links_ready(self) -> bool:
        return (self.dir / "bus1").exists() and (self.dir / "p2p1").exists()

    def stop(self) -> int:
        assert self.popen is not None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        if not self.ledger.exists():
            return []
        out = [json.loads(line) for line in self.ledger.read_text().splitlines() if line.strip()]
        return [e for e in out if name is None or e["event"] == name]
