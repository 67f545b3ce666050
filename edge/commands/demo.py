"""`station demo`: the simulator, the daemon and the terminal UI on a generated demo station."""

from __future__ import annotations

import argparse
import json
import sqlite3
import time
from pathlib import Path

NAME = "demo"
HELP = "Run a simulated station (simulator + daemon + terminal UI) on embedded defaults."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", default="data/demo", help="folder for station.toml, the database, the ledger and logs"
    )
    parser.add_argument(
        "--headless", action="store_true", help="no screen: run for --seconds and print a summary"
    )
    parser.add_argument(
        "--seconds", type=float, default=30.0, help="how long a headless demo runs (default 30)"
    )
    parser.add_argument("--rate", type=float, default=6.0, help="sales per minute per dispenser (default 6)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the simulated traffic")
    parser.add_argument(
        "--language",
        choices=("zh_CN", "en"),
        default="en",
        help="the station's language (default en for the demo; f2 switches in the UI)",
    )
    parser.add_argument(
        "--web-port",
        type=int,
        default=8765,
        help="port of the web view on 127.0.0.1 (default 8765, another free one if taken; 0: no web view)",
    )


def run(args: argparse.Namespace) -> int:
    from edge.demo_station import (
        cpu_seconds,
        sim_command,
        start,
        station_command,
        wait_for_paths,
        write_demo_config,
    )

    data = Path(args.data_dir).resolve()
    config = write_demo_config(data, rate=args.rate, language=args.language)
    ledger = data / "ledger.jsonl"
    sim = start(
        "station-sim",
        sim_command(
            "--config",
            str(config),
            "--ledger",
            str(ledger),
            "--state-dir",
            str(data / "sim-state"),
            "--seed",
            str(args.seed),
        ),
        data / "sim.log",
    )
    daemon = None
    cpu: dict[str, float] = {}
    try:
        wait_for_paths([data / "tty-bus1", data / "tty-p2p1"], sim)
        daemon = start(
            "station",
            station_command("run", "--config", str(config)),
            data / "station.log",
            env={"STATION_DEMO": "1"},
        )
        if args.headless:
            began = time.monotonic()
            deadline = began + args.seconds
            while time.monotonic() < deadline and daemon.popen.poll() is None and sim.popen.poll() is None:
                time.sleep(0.2)
            if daemon.popen.poll() is None and sim.popen.poll() is None:
                elapsed = time.monotonic() - began
                for role, proc in (("daemon", daemon), ("simulator", sim)):
                    cpu[role] = round(100 * cpu_seconds(proc.popen.pid) / elapsed, 2)
        else:
            return _interactive(data, config, args.web_port)
    finally:
        if daemon is not None:
            daemon.stop()
        sim.stop()
    print(json.dumps({**summary(data), "cpu_percent_of_a_core": cpu}, indent=2))
    return 0


def _interactive(data: Path, config: Path, web_port: int) -> int:
    import subprocess

    from edge.demo_station import start_web_view, station_command

    web = None
    if web_port:
        web, banner = start_web_view(data, config, web_port)
        print(banner, flush=True)
    try:
        return subprocess.call(station_command("tui", "--config", str(config), "--demo"))
    finally:
        if web is not None:
            web.stop()
            print(banner)


def summary(data: Path) -> dict[str, object]:
    records = acks = 0
    ledger = data / "ledger.jsonl"
    if ledger.exists():
        for line in ledger.read_text().splitlines():
            event = json.loads(line).get("event")
            records += event == "record"
            acks += event == "ack"
    stored = 0
    db = data / "station.db"
    if db.exists():
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            stored = conn.execute("SELECT count(*) FROM transactions WHERE conflict_of IS NULL").fetchone()[0]
    return {
        "data_dir": str(data),
        "records_produced": records,
        "records_acknowledged": acks,
        "records_stored": stored,
        "files": {"config": str(data / "station.toml"), "database": str(db), "ledger": str(ledger)},
    }
