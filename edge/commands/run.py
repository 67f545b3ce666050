"""`station run --config FILE`: the controller daemon in the foreground (systemd runs this)."""

from __future__ import annotations

import argparse
import asyncio
import sys

NAME = "run"
HELP = "Run the controller daemon (lines, journal, rules, control API) until SIGTERM."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", required=True, help="station TOML configuration (see docs/configuration.md)"
    )
    parser.add_argument("--log-level", help="override logging.level: TRACE, DEBUG, INFO, WARNING, ERROR")
    parser.add_argument("--check", action="store_true", help="validate the configuration and exit")


def run(args: argparse.Namespace) -> int:
    from edge.config import ConfigError, check_devices, load_config
    from edge.logsetup import setup_logging

    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    problems = check_devices(config)
    if problems:
        print("invalid configuration:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 2
    if args.check:
        print(f"{args.config}: OK ({len(config.lines)} lines)")
        return 0
    setup_logging(args.log_level or config.logging.level, config.logging.json)
    return asyncio.run(_main(config))


async def _main(config: object) -> int:
    from edge.daemon import install_signal_handlers, serve

    stop = asyncio.Event()
    install_signal_handlers(stop)
    await serve(config, stop)  # type: ignore[arg-type]
    return 0
