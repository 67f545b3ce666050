"""`station web [--config FILE | --socket PATH]`: the terminal UI in a browser (see `edge.web`).

Exit codes: 0 stopped by a signal, 2 bad arguments or configuration (a non-loopback address
without `--allow-remote`, a port that is taken).
"""

from __future__ import annotations

import argparse
import sys

NAME = "web"
HELP = "Serve the terminal UI to browsers on 127.0.0.1 (each browser session logs in as an operator)."
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--config", help="station TOML configuration (its [control] socket is used)")
    where.add_argument("--socket", help="the daemon's control socket")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to listen on (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    parser.add_argument(
        "--public-url",
        help="the URL browsers use, when behind a reverse proxy (https://... makes the page use wss://)",
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host (plain HTTP: only on a trusted network; prefer a TLS proxy)",
    )


def run(args: argparse.Namespace) -> int:
    from edge.commands.status import socket_path
    from edge.config import ConfigError
    from edge.web import RemoteBindRefused, check_host, serve

    try:
        path = socket_path(args)
        check_host(args.host, args.allow_remote)
    except (ConfigError, RemoteBindRefused) as exc:
        print(f"station web: {exc}", file=sys.stderr)
        return 2
    public_url = args.public_url.rstrip("/") if args.public_url else None
    try:
        serve(path, args.host, args.port, public_url)
    except OSError as exc:  # the port is taken, the address is not this machine's
        print(
            f"station web: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr
        )
        return 2
    return 0
