"""`station bench NAME`: run one of the benchmarks in `bench/` and print its figures.

Layer: edge (CLI shell over `bench`). Each benchmark is a module `bench.<name>` with
`run(**options) -> dict` that prints a human line and returns its result (`name`, `value`, `unit`,
`target`, …). `BENCHES` is the table of what `station bench` offers: a new benchmark is one row, its
module and the options it takes. With `--json` the last line printed is the result as one JSON object.
"""

from __future__ import annotations

import argparse
import importlib
import json
from dataclasses import dataclass, field
from typing import Any

NAME = "bench"
HELP = "Run a benchmark and print its figures (--json: the result as JSON on the last line)."


@dataclass(frozen=True, slots=True)
class Option:
    """One command-line option of a benchmark, passed to its `run` as keyword `dest`."""

    flag: str
    dest: str
    type: type
    default: Any
    help: str


@dataclass(frozen=True, slots=True)
class Bench:
    module: str
    help: str
    options: tuple[Option, ...] = field(default=())


SECONDS = Option("--seconds", "seconds", float, 3.0, "how long to measure (default %(default)s)")

BENCHES: dict[str, Bench] = {
    "codec": Bench(
        "bench.codec",
        "frame codec: decode + encode of a 104-byte transaction frame (target >= 20 000 frames/s)",
        (SECONDS,),
    ),
    "journal": Bench(
        "bench.journal",
        "record path: 0x32 frame received -> durable commit -> ack written, p50/p99 (target p99 < 20 ms)",
        (Option("--records", "records", int, 2000, "records to store (default %(default)s)"),),
    ),
    "poll": Bench(
        "bench.poll",
        "multi-drop poll rate with wire-time emulation at 9600 and 115200 baud, 16 dispensers, as a "
        "fraction of the wire-time limit (target >= 0.9)",
        (
            Option(
                "--seconds", "seconds", float, 10.0, "measuring window per baud rate (default %(default)s)"
            ),
        ),
    ),
    "idle": Bench(
        "bench.idle",
        "daemon CPU and RSS with 16 dispensers polled at 9600 baud (targets < 3 percent of a core, < 80 MB), "
        "and the time to the first poll (< 2 s)",
        (Option("--seconds", "seconds", float, 60.0, "measuring window (default %(default)s)"),),
    ),
    "blacklist": Bench(
        "bench.blacklist",
        "1 000 000-entry blacklist: import/swap time, lookup p50/p99 (target < 50 us), RSS (target < 150 MB)",
        (Option("--entries", "entries", int, 1_000_000, "list size (default %(default)s)"),),
    ),
    "decide": Bench("bench.decide", "full card-rules decision p50/p99 against a 1 000 000-entry list"),
    "tui": Bench(
        "bench.tui_load",
        "64 nozzles updating at 5 Hz: the TUI's CPU share and the daemon's poll rate with and without it",
        (Option("--seconds", "seconds", float, 20.0, "measuring window per phase (default %(default)s)"),),
    ),
    "station": Bench(
        "bench.station",
        "a busy hour: 16 dispensers on two 9600-baud lines with sales, card decisions and downloads, the uplink "
        "to a local mosquitto: daemon CPU (target < 25 percent of a core), peak RSS (< 150 MB), event-loop lag "
        "p99 (< 20 ms), record->ack p99 (< 20 ms)",
        (
            Option("--seconds", "seconds", float, 60.0, "measuring window (default %(default)s)"),
            Option("--rate", "rate", float, 1.0, "activities per minute per dispenser (default %(default)s)"),
        ),
    ),
    "demo": Bench(
        "bench.demo",
        "the demo station (wire time at 9600 baud, default pacing): daemon and simulator CPU (targets < 5 "
        "percent of a core each), then with the TUI attached (target < 10 percent) and its terminal bytes/s",
        (Option("--seconds", "seconds", float, 30.0, "measuring window per phase (default %(default)s)"),),
    ),
    "fanout": Bench(
        "bench.tui",
        "control API fan-out to viewers and how fast the TUI follows a 64-nozzle burst",
        (SECONDS, Option("--clients", "clients", int, 4, "subscribed viewers (default %(default)s)")),
    ),
    "report": Bench(
        "bench.report",
        "month report over 1 000 000 records (target < 2 s) and XLSX export of 100 000 rows (target < 10 s, "
        "RSS < 150 MB)",
        (
            Option("--records", "records", int, 1_000_000, "records in the month (default %(default)s)"),
            Option("--xlsx-rows", "xlsx_rows", int, 100_000, "rows exported to XLSX (default %(default)s)"),
        ),
    ),
    "tanks": Bench(
        "bench.tanks",
        "16 tanks on one 9600-baud RTU line: measurement age p99 (target < 2 s) and the dispenser bus's poll "
        "rate with and without the tanks (target: within 5 %)",
        (Option("--seconds", "seconds", float, 30.0, "measuring window per run (default %(default)s)"),),
    ),
    "scales": Bench(
        "bench.scales",
        "8 LPG filling scales on one 9600-baud RTU line (wire time emulated): reads/s per scale and the latency "
        "from a scale reaching its fill target to the stop command (target < 100 ms)",
        (
            Option("--seconds", "seconds", float, 5.0, "polling window (default %(default)s)"),
            Option("--fills", "fills", int, 2, "rounds of 8 concurrent fills (default %(default)s)"),
            Option("--rate-kg-s", "rate_kg_s", float, 0.5, "filling rate (default %(default)s)"),
        ),
    ),
    "desk": Bench(
        "bench.desk",
        "the desk with the virtual card: card insertion -> full card view (target < 300 ms) and a top-up end "
        "to end (target < 1 s), p50/p99",
        (Option("--rounds", "rounds", int, 50, "insertions and top-ups (default %(default)s)"),),
    ),
    "drain": Bench(
        "bench.drain_poll",
        "drain of an outbox backlog to a local mosquitto at QoS 1 (target 100 000 in < 60 s), raw paho for "
        "comparison, and the multi-drop poll rate during the drain against idle (target <= 10 percent lower)",
        (Option("--records", "records", int, 100_000, "backlog size (default %(default)s)"),),
    ),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    benches = parser.add_subparsers(dest="bench", metavar="NAME", required=True)
    for name, bench in BENCHES.items():
        sub = benches.add_parser(name, help=bench.help.replace("%", "%%"), description=bench.help)
        sub.add_argument("--json", action="store_true", help="print the result as JSON on the last line")
        for option in bench.options:
            sub.add_argument(
                option.flag, dest=option.dest, type=option.type, default=option.default, help=option.help
            )


def run(args: argparse.Namespace) -> int:
    bench = BENCHES[args.bench]
    module = importlib.import_module(bench.module)
    result = module.run(**{option.dest: getattr(args, option.dest) for option in bench.options})
    if args.json:
        print(json.dumps(result, default=str), flush=True)
    return 0
