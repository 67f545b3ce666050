"""`station demo`: the simulator, the daemon and the terminal UI on a generated demo station.

Prints a JSON summary however it ends (records produced, acknowledged, stored, still pending in the
dispensers; how it ended). Exit codes (`edge.demo_lifecycle`): 0 ran its time or the UI was closed;
1 a process could not start or exited by itself; 128 + N stopped by signal N (129 SIGHUP, 130 SIGINT,
143 SIGTERM) — every process it started is stopped in order first.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

from storage.readonly import stored_records

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
    parser.epilog = (
        "exit codes: 0 ran its time / UI closed; 1 a process failed to start or exited by itself; "
        "128+N stopped by signal N (129 SIGHUP, 130 SIGINT, 143 SIGTERM). See docs/operations.md."
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
    from edge.demo_lifecycle import DemoProcesses, StopRequest
    from edge.demo_station import write_demo_config

    stop_request = StopRequest()
    stop_request.install()
    data = Path(args.data_dir).resolve()
    config = write_demo_config(data, rate=args.rate, language=args.language, tanks=True)
    procs = DemoProcesses(data, config, stop_request)
    banner = ""
    cpu: dict[str, float] = {}
    try:
        ending = procs.start_station(args.seed)
        if ending is None:
            if not args.headless:
                if args.web_port:
                    banner = procs.start_web(args.web_port)
                    _say(banner)
                procs.start_tui()
            ending = procs.watch(args.seconds if args.headless else None)
            cpu = procs.cpu_shares()
    finally:
        procs.stop()
    report = {**summary(data), "cpu_percent_of_a_core": cpu, "ended": ending.how, "exit_code": ending.code}
    _say(json.dumps(report, indent=2))
    if banner:
        _say(banner)
    if ending.code == 1:
        _say(f"station demo: {ending.how}", err=True)
    return ending.code


def _say(text: str, *, err: bool = False) -> None:
    """Print, unless the terminal is gone (a hang-up): the demo still exits with its code."""
    with contextlib.suppress(OSError):
        print(text, file=sys.stderr if err else sys.stdout, flush=True)


def summary(data: Path) -> dict[str, object]:
    from edge.demo_lifecycle import ledger_counts

    counts = ledger_counts(data / "ledger.jsonl")
    db = data / "station.db"
    stored = stored_records(db)  # 0 when the daemon never created its tables
    return {
        "data_dir": str(data),
        "records_produced": counts.records,
        "records_acknowledged": counts.acks,
        "records_stored": stored,
        "records_pending_in_dispensers": (
            counts.pending if counts.pending is not None else counts.records - counts.acks
        ),
        "files": {
            "config": str(data / "station.toml"),
            "database": str(db),
            "ledger": str(data / "ledger.jsonl"),
        },
    }
