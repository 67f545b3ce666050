"""The `station-sim` command line.

Layer: firmware-sim (CLI shell). Parses options, merges them with the config's `[simulator]` table
(`settings.resolve`), loads the scenario and runs the `Simulator`.

Exit codes: 0 stopped by SIGTERM/SIGINT or, with --exit-when-acked, production finished and every record
acknowledged; 1 runtime failure (a line cannot be opened, a state file cannot be written);
2 invalid command line, configuration, settings or scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from edge.children import arm_from_environment
from edge.config import ConfigError, load_config
from edge.devices.tanks.config import TanksConfig
from edge.devices.tanks.errors import BadTankConfig
from station_sim.errors import ScenarioError, SettingsError, SimError
from station_sim.port import TRACE
from station_sim.scale_hall import scale_settings
from station_sim.settings import DEFAULT_MIX, resolve
from station_sim.sim import EXIT_FAILURE, EXIT_USAGE, Simulator
from station_sim.tanks import tank_setup

EPILOG = """\
Every option except --config may also be set in the config's [simulator] table, same name with
underscores (e.g. fuel_speed = 1000, exit_when_acked = true); the command line wins.

exit codes: 0 stopped by SIGTERM/SIGINT, or --exit-when-acked and everything acknowledged;
            1 runtime failure (line cannot be opened, state not writable); 2 invalid arguments,
            configuration, settings or scenario.
See docs/simulator.md for line handling, the ledger format and scenario files.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="station-sim",
        description="Hardware-in-the-loop dispenser simulator: plays every dispenser of a station config "
        "on ptys, TCP sockets or real serial ports (both line modes).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        argument_default=None,
    )
    a = p.add_argument
    a("--config", required=True, type=Path, help="station TOML (lines, dispensers, nozzles, products)")
    a("--ledger", help="JSON-lines ledger to append events to (default: none)")
    a("--state-dir", help="folder of the per-dispenser state files (default: sim-state beside the config)")
    a("--scenario", help="scenario TOML: cards and a timeline of actions")
    a("--seed", type=int, help="random seed (default: random, written to the ledger's start event)")
    a("--rate", type=float, help="random activities per minute per dispenser (default 0: none)")
    mix = ",".join(f"{k}={v:g}" for k, v in DEFAULT_MIX.items())
    a("--mix", help=f"weights of the random activities sale, grey, cash, duty, error (default {mix})")
    a("--fuel-speed", type=int, help="fuelling speed in 0.01 units per second (default 50 = 0.5 L/s)")
    a(
        "--p2p-interval-ms",
        type=int,
        help="point-to-point: interval of the dispenser's 0x30 polls (default 500)",
    )
    a("--max-records", type=int, help="stop producing new activity after this many records")
    a("--duration", type=float, help="stop producing new activity after this many seconds")
    a(
        "--exit-when-acked",
        action="store_const",
        const=True,
        help="exit 0 once production stopped and every record is acknowledged",
    )
    a("--wire-time", action="store_const", const=True, help="pace frames at each line's baud rate")
    a(
        "--no-tanks",
        dest="tanks",
        action="store_const",
        const=False,
        help="do not play the tank consoles of [tanks] (real consoles are connected)",
    )
    a(
        "--no-scales",
        dest="scales",
        action="store_const",
        const=False,
        help="do not play the filling scales of [[lpg.scales]] (real scales are connected)",
    )
    a("--corrupt-rate", type=float, help="probability that a byte the dispenser sends is corrupted")
    a("--drop-rate", type=float, help="probability that a frame the dispenser would send is not sent")
    a("--late-rate", type=float, help="probability that an answer is held back beyond the reply timeout")
    a("--late-ms", type=int, help="how long a late answer is held back (default: reply timeout + 100 ms)")
    a("--power-cycle-every", type=float, help="power-cycle a random dispenser every S seconds")
    a("--power-off-s", type=float, help="how long a power-cycled dispenser stays off (default 5)")
    a("--log-level", help="TRACE (every byte), DEBUG, INFO (default), WARNING or ERROR")
    a(
        "--decides-everything-locally",
        metavar="LINE/POS-P,...",
        help="dispensers that ignore spec B10 and decide CNG cards on their own lists too ('all' for every one)",
    )
    a(
        "--card-answer-timeout-s",
        type=float,
        help="a card whose 0x36/0x35 gets no answer this long is refused (default 20; degraded mode)",
    )
    return p


def _setup_logging(level: str) -> None:
    logging.addLevelName(TRACE, "TRACE")
    logging.basicConfig(
        level=TRACE if level == "TRACE" else getattr(logging, level),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def main(argv: Sequence[str] | None = None) -> int:
    arm_from_environment()
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    table = config.extra.get("simulator", {})
    if not isinstance(table, dict):
        print(f"{config.path.name}: simulator: must be a table", file=sys.stderr)
        return EXIT_USAGE
    cli: dict[str, Any] = {k: v for k, v in vars(args).items() if k != "config"}
    try:
        settings = resolve(cli, table, config.path)
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    _setup_logging(settings.log_level)
    try:
        tanks = tank_setup(config) if settings.tanks else None
    except BadTankConfig as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    try:
        scales = scale_settings(config) if settings.scales else None
    except ValueError as exc:  # BadLpgConfig: every problem of [lpg] named
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    scenario = None
    if settings.scenario is not None:
        from station_sim.scenario import load_scenario

        try:
            scenario = load_scenario(settings.scenario, config)
        except ScenarioError as exc:
            print(exc, file=sys.stderr)
            return EXIT_USAGE
    try:
        return asyncio.run(_run(config, settings, scenario, tanks, scales))
    except SimError as exc:
        logging.getLogger("station_sim").error("%s", exc)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return 0


async def _run(config: Any, settings: Any, scenario: Any, tanks: TanksConfig | None, scales: Any) -> int:
    sim = Simulator(config, settings, scenario, tanks=tanks, scales=scales)
    return await sim.run()


if __name__ == "__main__":
    sys.exit(main())
