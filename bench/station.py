"""`station bench station`: the whole station through a busy hour, against its budget.

16 simulated dispensers (2 nozzles each) on two multi-drop lines at 9600 baud with wire time emulated
and the default poll pacing; random traffic at `rate` activities per minute per dispenser (card sales
with their card decisions, grey-lock unlocks, cash and duty sales); a new price table imported in the
middle of the window, which every dispenser downloads; the uplink connected to a local mosquitto
(started on a free port, like the uplink tests). The daemon reports its own event-loop lag and reply
latencies (`edge.loadprobe`, `daemon statistics` on SIGUSR1, figures since the previous report), so
the window is measured by one report at its start and one at its end.

Targets: daemon < 25 % of one core, peak RSS < 150 MB, event-loop lag p99 < 20 ms, record → ack p99
< 20 ms. Printed, never asserted.

The station is built from `PARTS`. The tank probes are eight tanks on two simulated gauge consoles (the
default and the vendor register map, Modbus RTU on a pty, played by the same simulator run). The LPG part
is two filling scales (the default and the vendor map) on one 9600-baud Modbus RTU pty line, played by
the same simulator run and polled by the daemon's LPG component once a second each. The attendant's desk
is a real PC/SC reader: a private pcscd with the vpcd driver (`station_sim.card.pcscd`) and
`station-card serve` swapping two virtual cards in it every 2 s; the daemon's desk component reads each
card whole as it is inserted (`desk_cards_read`). On a machine without pcscd the desk is left out and
the rest is measured (`parts`).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from station_sim.card.pcscd import PcscdUnavailable, PrivatePcscd, reader_name

from bench import drain
from bench.stationproc import cpu_seconds, wait_downloads
from edge.demo_station import DEMO_STRAPPING, sim_links
from edge.devices.desk.component import CARD_READ_LOG
from edge.loadprobe import DAEMON_STATISTICS, parse_reports
from uplink.mosquitto import Mosquitto

TARGET_CPU_PERCENT = 25.0
TARGET_RSS_MB = 150.0
TARGET_LAG_P99_MS = 20.0
TARGET_RECORD_ACK_P99_MS = 20.0
LINES = 2
PER_LINE = 8
BAUD = 9600
STATION_ID = drain.STATION


@dataclass
class Part:
    """One part of the station the busy hour exercises."""

    name: str
    config: Callable[[Path], str] | None = None
    """Its TOML (given the bench folder); None: not part of the station yet."""
    start: Callable[[Path], Callable[[], None]] | None = None
    """Starts what the part needs outside the daemon (a broker, a reader); returns how to stop it."""
    missing: str = ""


def _lines(folder: Path) -> str:
    out = []
    for line in range(LINES):
        out += [
            "[[lines]]", f'name = "bus{line + 1}"', f'url = "{folder}/tty-bus{line + 1}"', 'mode = "multi-drop"',
            f"baud = {BAUD}",
        ]  # fmt: skip
        for i in range(PER_LINE):
            n = 2 * (line * PER_LINE + i) + 1
            out += [
                "[[lines.dispensers]]", f"pos_p = {i + 1}",
                f'nozzles = [{{ nzn = {n}, g_code = "0092" }}, {{ nzn = {n + 1}, g_code = "0095" }}]',
            ]  # fmt: skip
    return "\n".join(out) + "\n"


def _scales(folder: Path) -> str:
    """Two filling scales on one RTU line (`[[lpg.scales]]`, docs/lpg.md), idle-polled every second."""
    out = ["[lpg]"]
    for i, scale_map in enumerate(("station-scale-v1", "float-swapped")):
        out += [
            "[[lpg.scales]]", f'name = "S{i + 1}"', f'url = "{folder}/tty-scales"', f"device_id = {i + 1}",
            f'map = "{scale_map}"', f"baud = {BAUD}", "poll_s = 1.0",
        ]  # fmt: skip
    return "\n".join(out) + "\n"


def _start_broker(folder: Path) -> Callable[[], None]:
    broker = Mosquitto(folder / "broker", users={STATION_ID: drain.PASSWORD})
    broker.start()
    drain.write_secret(folder / "uplink.password")
    (folder / "uplink.url").write_text(broker.url)
    return broker.stop


def _uplink(folder: Path) -> str:
    url = (folder / "uplink.url").read_text()
    return f'[uplink]\nurl = "{url}"\nallow_plaintext = true\npassword_file = "uplink.password"\n'


TANKS = 8
TANK_PRODUCTS = ("0092", "0095", "0010", "0092")


def _tanks(folder: Path) -> str:
    """Eight tanks on two gauge consoles of one RTU line (the default and the vendor map), four each."""
    out = ["[tanks]", "poll_interval_s = 1.0", "reconcile_interval_min = 0.0"]
    for console, register_map in ((1, "station-v1"), (2, "tls-float-swapped")):
        out += [
            "[[tanks.consoles]]", f'name = "tls{console}"', f'url = "{folder}/tty-tanks"',
            f"device_id = {console}", f'map = "{register_map}"',
        ]  # fmt: skip
    for n in range(TANKS):
        out += [
            "[[tanks.tank]]", f"number = {n + 1}", f'name = "T{n + 1}"', f'console = "tls{n // 4 + 1}"',
            f"unit = {n % 4}", f'product = "{TANK_PRODUCTS[n % 4]}"', "alpha = 0.0012",
            f"strapping = {DEMO_STRAPPING}",
        ]  # fmt: skip
    return "\n".join(out) + "\n"


DESK_CARDS = ("desk-a", "desk-b")
DESK_SWAP_S = 2.0
"""The busy desk: a card taken out and another put in every 2 s, each read whole by the daemon."""


def _start_desk(folder: Path) -> Callable[[], None]:
    """A private pcscd with vpcd readers, and `station-card serve` swapping two cards in the first."""
    pcscd = PrivatePcscd(folder / "pcsc", Path(tempfile.gettempdir()) / f"station-bench-pcsc-{os.getpid()}")
    pcscd.start()
    (folder / "pcsc.socket").write_text(str(pcscd.socket))
    deck = folder / "desk-deck.toml"
    deck.write_text("".join(f'[[card]]\nname = "{name}"\nbalance = 50000\n' for name in DESK_CARDS))
    steps = folder / "desk-steps.toml"
    steps.write_text(
        "".join(
            f'[[step]]\nwait_s = {DESK_SWAP_S}\naction = "swap"\ncard = "{DESK_CARDS[i % 2]}"\n' for i in range(1, 1800)
        )
    )
    log = (folder / "desk-cards.log").open("wb")
    cards = subprocess.Popen(
        [sys.executable, "-m", "station_sim.card.cli", "serve", "--deck", str(deck), "--state-dir",
         str(folder / "desk-cards"), "--port", str(pcscd.port), "--insert", DESK_CARDS[0], "--scenario", str(steps)],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    log.close()

    def stop() -> None:
        _stop(cards)
        pcscd.stop()

    return stop


def _desk(folder: Path) -> str:
    return f'[desk]\nreader = "{reader_name(0)}"\n' if (folder / "pcsc.socket").exists() else ""


PARTS: tuple[Part, ...] = (
    Part("dispensers", _lines),
    Part("uplink", _uplink, _start_broker),
    Part("desk", _desk, _start_desk),
    Part("scales", _scales),
    Part("tanks", _tanks),
)


def config_text(folder: Path, rate: float) -> str:
    head = [
        "[station]", f'id = "{STATION_ID}"', "[storage]", 'database = "station.db"', "[logging]", 'level = "INFO"',
        "[[products]]", 'g_code = "0092"', 'name = "92#"', "prices = [750, 740, 730]",
        "[[products]]", 'g_code = "0095"', 'name = "95#"', "prices = [810, 800, 790]",
        "[[products]]", 'g_code = "0010"', 'name = "0#"', "prices = [720, 710, 700]",  # the third tank's
    ]  # fmt: skip
    body = [part.config(folder) for part in PARTS if part.config is not None]
    sim = ["[simulator]", "wire_time = true", f"rate = {rate}", "fuel_speed = 100"]
    return "\n".join(head) + "\n" + "".join(body) + "\n".join(sim) + "\n"


def price_table(version: int) -> str:
    effective = dt.datetime.now().strftime("%Y-%m-%d %H:%M")
    return (
        f'version = {version}\neffective = "{effective}"\n'
        '[[products]]\ng_code = "0092"\nprices = [760, 750, 740]\n'
        '[[products]]\ng_code = "0095"\nprices = [820, 810, 800]\n'
        '[[products]]\ng_code = "0010"\nprices = [730, 720, 710]\n'
    )


def _report(daemon: subprocess.Popen[bytes], log: Path, timeout_s: float = 10.0) -> dict[str, Any]:
    """Ask the daemon for its statistics (SIGUSR1) and return its new `daemon statistics` report."""
    before = log.read_text(errors="replace").count(DAEMON_STATISTICS)
    daemon.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + timeout_s
    while True:
        text = log.read_text(errors="replace")
        if text.count(DAEMON_STATISTICS) > before:
            return parse_reports(text)[-1]
        if time.monotonic() > deadline:
            raise RuntimeError("the daemon did not log its statistics")
        time.sleep(0.02)


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _daemon_env(folder: Path) -> dict[str, str]:
    """The daemon's environment: the desk's private pcscd, when it runs."""
    socket_file = folder / "pcsc.socket"
    if not socket_file.exists():
        return dict(os.environ)
    return {**os.environ, "PCSCLITE_CSOCK_NAME": socket_file.read_text()}


def _ledger_count(folder: Path, event: str) -> int:
    ledger = folder / "ledger.jsonl"
    return ledger.read_text().count(f'"event": "{event}"') if ledger.exists() else 0


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        print(f"process {proc.pid} did not stop within 30 s of SIGTERM: killed", file=sys.stderr)
        proc.kill()
        proc.wait()


def _wait_log(log: Path, text: str, daemon: subprocess.Popen[bytes], timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in log.read_text(errors="replace"):
        if daemon.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"no {text!r} in the daemon log:\n{log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.05)


def measure(folder: Path, seconds: float, rate: float) -> dict[str, Any]:
    stops: list[Callable[[], None]] = []
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for part in PARTS:
            if part.start is not None:
                try:
                    stops.append(part.start(folder))
                except PcscdUnavailable as exc:  # a machine without pcscd measures the rest
                    print(f"station: {part.name}: not run: {exc}", file=sys.stderr)
        config = folder / "station.toml"
        config.write_text(config_text(folder, rate))
        parts_run = [p.name for p in PARTS if p.config is not None and p.config(folder)]
        sim_log = (folder / "sim.log").open("wb")
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "station_sim.cli", "--config", str(config), "--state-dir",
                 str(folder / "sim"), "--ledger", str(folder / "ledger.jsonl"), "--seed", "1"],
                stdout=sim_log, stderr=subprocess.STDOUT,
            )
        )  # fmt: skip
        links = sim_links(config)
        deadline = time.monotonic() + 30
        while not all(link.exists() for link in links):
            if procs[0].poll() is not None or time.monotonic() > deadline:
                sim_log.flush()
                tail = (folder / "sim.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"the simulator did not create its pty links:\n{tail}")
            time.sleep(0.05)
        log = folder / "station.log"
        with log.open("wb") as out:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "edge.cli", "run", "--config", str(config)],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=_daemon_env(folder),
            )
        procs.insert(0, daemon)
        _wait_log(log, "first poll cycle started", daemon)
        dispensers = LINES * PER_LINE
        wait_downloads(folder, 2 * dispensers)  # start-up downloads: station info and prices
        _report(daemon, log)  # starts the window
        cpu0, t0 = cpu_seconds(daemon.pid), time.monotonic()
        records0, downloads0 = _ledger_count(folder, "record"), _ledger_count(folder, "download")
        desk_reads0 = log.read_text(errors="replace").count(CARD_READ_LOG)
        table = folder / "prices.toml"
        table.write_text(price_table(2))
        price_change_at = t0 + seconds / 3
        imported = False
        while time.monotonic() < t0 + seconds:
            if not imported and time.monotonic() >= price_change_at:
                subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "edge.cli",
                        "prices",
                        "import",
                        str(table),
                        "--config",
                        str(config),
                    ],
                    check=True,
                    capture_output=True,
                )
                imported = True
            time.sleep(0.2)
        report = _report(daemon, log)
        cpu1, t1 = cpu_seconds(daemon.pid), time.monotonic()
        peak_rss = _peak_rss_mb(daemon.pid)
        records = _ledger_count(folder, "record") - records0
        downloads = _ledger_count(folder, "download") - downloads0
        desk_reads = log.read_text(errors="replace").count(CARD_READ_LOG) - desk_reads0
    finally:
        for proc in procs:
            _stop(proc)
        for stop in reversed(stops):
            stop()
    replies = report["replies"]
    none = {"count": 0, "p50_ms": 0.0, "p99_ms": 0.0, "max_ms": 0.0}
    return {
        "window_s": round(t1 - t0, 1),
        "daemon_cpu_percent": round(100 * (cpu1 - cpu0) / (t1 - t0), 2),
        "peak_rss_mb": round(peak_rss, 1),
        "loop_lag": report["loop_lag"],
        "record_ack": replies.get("RecordAck", none),
        "card_decision": replies.get("ListReply", none),
        "records_produced": records,
        "downloads": downloads,
        "replies": replies,
        "parts_run": parts_run,
        "desk_cards_read": desk_reads,
        "tanks": TANKS,
    }


def run(seconds: float = 60.0, rate: float = 1.0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-station-") as tmp:
        r = measure(Path(tmp), seconds, rate)
    parts = {p.name: "in" if p.name in r["parts_run"] else "not run (see above)" for p in PARTS}
    print(
        f"station: {LINES * PER_LINE} dispensers on {LINES} lines at {BAUD} baud, {rate:g} activities/min each, "
        f"uplink to mosquitto, a price change mid-window; {r['window_s']} s: daemon CPU "
        f"{r['daemon_cpu_percent']} % of a core (target < {TARGET_CPU_PERCENT:g} %), peak RSS "
        f"{r['peak_rss_mb']} MB (< {TARGET_RSS_MB:g}), event-loop lag p99 {r['loop_lag']['p99_ms']} ms "
        f"(< {TARGET_LAG_P99_MS:g}), record→ack p99 {r['record_ack']['p99_ms']} ms over "
        f"{r['record_ack']['count']} records (< {TARGET_RECORD_ACK_P99_MS:g}), card decision p99 "
        f"{r['card_decision']['p99_ms']} ms over {r['card_decision']['count']}, {r['downloads']} downloads; "
        f"desk: {r['desk_cards_read']} cards read whole, {TANKS} tanks, 2 LPG scales"
    )
    for name, state in parts.items():
        if state != "in":
            print(f"station: {name}: {state}")
    return {
        "name": "station",
        "value": r["daemon_cpu_percent"],
        "unit": "% of one core (daemon)",
        "target": TARGET_CPU_PERCENT,
        "peak_rss_mb": r["peak_rss_mb"],
        "peak_rss_target_mb": TARGET_RSS_MB,
        "loop_lag_p99_ms": r["loop_lag"]["p99_ms"],
        "loop_lag_p99_target_ms": TARGET_LAG_P99_MS,
        "record_ack_p99_ms": r["record_ack"]["p99_ms"],
        "record_ack_p99_target_ms": TARGET_RECORD_ACK_P99_MS,
        "dispensers": LINES * PER_LINE,
        "lines": LINES,
        "baud": BAUD,
        "rate_per_min_per_dispenser": rate,
        "parts": parts,
        **r,
    }
