"""`station run --config FILE`: the controller daemon in the foreground (systemd runs this)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from edge.config import Config

NAME = "run"
HELP = "Run the controller daemon (lines, journal, rules, control API) until SIGTERM."
EXIT_CONFIG = 2
EXIT_STORAGE = 3

log = logging.getLogger("edge.daemon")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", required=True, help="station TOML configuration (see docs/configuration.md)"
    )
    parser.add_argument("--log-level", help="override logging.level: TRACE, DEBUG, INFO, WARNING, ERROR")
    parser.add_argument("--check", action="store_true", help="validate the configuration and exit")


def run(args: argparse.Namespace) -> int:
    from edge.config import ConfigError, check_devices, load_config
    from edge.logsetup import setup_logging
    from edge.secret_files import exposed_secret_problems

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_CONFIG
    problems = component_problems(config) + exposed_secret_problems(config)
    missing = check_devices(config)
    if args.check:
        # A check at install time may run before the serial adapters are plugged in: a missing
        # device is reported, but only a problem in the file itself fails the check.
        if problems:
            print("invalid configuration:\n  " + "\n  ".join(problems), file=sys.stderr)
            return EXIT_CONFIG
        for problem in missing:
            print(f"warning: {problem} (the daemon will not start without it)", file=sys.stderr)
        print(f"{args.config}: OK ({len(config.lines)} lines)")
        return 0
    problems += missing
    if problems:
        print("invalid configuration:\n  " + "\n  ".join(problems), file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(args.log_level or config.logging.level, config.logging.json)
    return asyncio.run(_main(config))


def component_problems(config: Config) -> list[str]:
    """Validate `[rules]` and every table a registered component owns (`[uplink]` …), collecting every
    problem; a table no component owns is one too."""
    from edge.config import ConfigError
    from edge.housekeeping_config import housekeeping_settings
    from edge.registry import default_registry
    from edge.rules_config import rules_settings

    problems: list[str] = []
    for validate in (rules_settings, housekeeping_settings):
        try:
            validate(config)
        except ConfigError as exc:
            problems.extend(exc.problems)
    return problems + default_registry().problems(config)


async def _main(config: Config) -> int:
    from edge.daemon import install_signal_handlers, open_station, serve
    from edge.watchdog import Notifier, install_block_hook, supervised
    from storage.errors import DatabaseCorruptError, StorageError

    stop = asyncio.Event()
    try:
        station = await open_station(config)
    except StorageError as exc:
        log.critical("cannot open the station's storage: %s", exc)
        print(f"station: cannot open the station's storage: {exc}", file=sys.stderr)
        return EXIT_STORAGE
    install_signal_handlers(stop, station)
    notifier = Notifier.from_environment()
    install_block_hook()
    damaged: list[BaseException] = []
    try:
        async with supervised(notifier, f"station {config.station.id}: {len(config.lines)} lines", stop):
            await serve(config, stop, station)
    except* DatabaseCorruptError as group:
        # SQLite found a damaged page while running: stop writing, let an engineer restore a backup
        damaged.extend(group.exceptions)
    if damaged:
        first = damaged[0]
        log.critical(
            "the station database is damaged: %s; stopped (restore a backup: docs/operations.md)", first
        )
        print(f"station: the station database is damaged: {first}", file=sys.stderr)
        return EXIT_STORAGE
    return 0
