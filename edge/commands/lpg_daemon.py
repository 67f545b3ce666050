"""`station lpg fill|customer|handout|return`: the LPG operations through the running daemon's control
API, as a logged-in operator.

Layer: edge (CLI shell over the control API's `lpg.*` requests). The operator logs in (password
prompted, or the first line of stdin with `--password-stdin`); the daemon checks the role, runs the fill
on its scale or the counter operation, audits it, and says in words why it refused. `--json` prints the
reply as JSON. Exit status: 0 done, 1 failed (interrupted fill, daemon error), 2 refused (the rules, the
role, a bad login), 3 the daemon is not running.

    station lpg fill BARCODE --scale S1 --user op1 [--no-wait] [--json]
    station lpg customer KEY --user op1                      KEY: ID number or customer card number
    station lpg handout CUSTOMER_ID BARCODE... --user op1 [--deposit-cents N]
    station lpg return CUSTOMER_ID BARCODE... --user op1 [--residual BARCODE=KG ...]
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from pathlib import Path
from typing import Any

ACTIONS = ("fill", "customer", "handout", "return")
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_REFUSED = 2
EXIT_NOT_RUNNING = 3


def add_parsers(sub: Any) -> None:
    fill = sub.add_parser("fill", help="fill a cylinder on a scale of the running daemon")
    fill.add_argument("barcode")
    fill.add_argument("--scale", required=True, help="the scale's name in [[lpg.scales]]")
    fill.add_argument("--no-wait", dest="wait", action="store_false", help="return once the fill has started")
    customer = sub.add_parser("customer", help="look a customer up by ID number or customer card number")
    customer.add_argument("key")
    handout = sub.add_parser("handout", help="hand full cylinders out to a customer")
    handout.add_argument("customer_id", type=int)
    handout.add_argument("barcodes", nargs="+")
    handout.add_argument("--deposit-cents", type=int, default=0)
    back = sub.add_parser("return", help="take cylinders back from a customer")
    back.add_argument("customer_id", type=int)
    back.add_argument("barcodes", nargs="+")
    back.add_argument("--residual", action="append", default=[], metavar="BARCODE=KG",
                      help="residual gas weighed in a returned cylinder (repeatable)")  # fmt: skip
    for p in (fill, customer, handout, back):
        where = p.add_mutually_exclusive_group()
        where.add_argument("--config", type=Path, default=Path("station.toml"), help="station TOML (its socket)")
        where.add_argument("--socket", help="the daemon's control socket")
        p.add_argument("--user", required=True, help="operator user name")
        p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
        p.add_argument("--json", action="store_true", help="print the reply as JSON")
        p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the daemon (default 30)")


def _residuals(items: list[str]) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        barcode, _, kg = item.partition("=")
        try:
            out[barcode.strip()] = float(kg)
        except ValueError:
            raise ValueError(f"--residual {item!r}: expected BARCODE=KG") from None
    return out


def run(args: argparse.Namespace) -> int:
    from edge.commands.status import socket_path
    from edge.config import ConfigError
    from edge.control import messages as m
    from edge.control.client import DaemonNotRunning

    try:
        path = socket_path(args)
        residual = _residuals(args.residual) if args.action == "return" else {}
    except (ConfigError, ValueError) as exc:
        print(f"station lpg: error: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    request: m.AuthRequest
    if args.action == "fill":
        request = m.LpgFill(barcode=args.barcode, scale=args.scale, wait=args.wait)
    elif args.action == "customer":
        request = m.LpgCustomer(key=args.key)
    elif args.action == "handout":
        request = m.LpgHandout(customer_id=args.customer_id, barcodes=tuple(args.barcodes),
                               deposit_cents=args.deposit_cents)  # fmt: skip
    else:
        request = m.LpgReturn(customer_id=args.customer_id, barcodes=tuple(args.barcodes), residual_kg=residual)
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("Password: ")
    # a fill that is waited for may take minutes: the reply's wait is generous, the connect's is not
    reply_s = 900.0 if args.action == "fill" and args.wait else args.timeout
    try:
        return asyncio.run(_ask(path, args.user, password, request, args.timeout, reply_s, args.json))
    except DaemonNotRunning as exc:
        print(f"station: {exc}", file=sys.stderr)
        return EXIT_NOT_RUNNING
    except (TimeoutError, ConnectionError) as exc:
        print(f"station: the daemon did not answer on {path}: {exc or 'timeout'}", file=sys.stderr)
        return EXIT_NOT_RUNNING


async def _ask(path: Path, user: str, password: str, request: Any, timeout_s: float, reply_s: float,
               as_json: bool) -> int:  # fmt: skip
    import dataclasses

    from edge.control import messages as m
    from edge.control.client import ControlClient

    client = await ControlClient.connect(path, timeout_s)
    try:
        login = await client.request(m.Login(username=user, password=password), timeout_s)
        if not isinstance(login, m.LoginOk):
            print(f"station lpg: login refused: {getattr(login, 'message', login.TYPE)}", file=sys.stderr)
            return EXIT_REFUSED
        reply = await client.request(dataclasses.replace(request, token=login.token), reply_s)
    finally:
        await client.close()
    if as_json:
        print(json.dumps({"type": reply.TYPE, **m.to_json(reply)}, ensure_ascii=False))
    if isinstance(reply, m.Error):
        print(f"station lpg: {reply.message}", file=sys.stderr)
        return EXIT_FAILED if reply.code in (m.ErrorCode.INTERNAL,) else EXIT_REFUSED
    if not as_json:
        _print(reply)
    if isinstance(reply, m.LpgFillResult):
        if reply.status == "refused":
            print(f"station lpg: refused: {reply.reason}", file=sys.stderr)
            return EXIT_REFUSED
        if reply.status == "interrupted":
            return EXIT_FAILED
    return EXIT_OK


def _print(reply: Any) -> None:
    from edge.control import messages as m

    if isinstance(reply, m.LpgFillResult):
        if reply.status == "filling":
            print(f"fill of {reply.barcode} started on {reply.scale}: target {reply.target_kg:.2f} kg")
        elif reply.status != "refused":
            print(f"fill {reply.fill_id} of {reply.barcode} on {reply.scale}: {reply.status}; gross "
                  f"{_kg(reply.gross_kg)}, tare {_kg(reply.tare_kg)}, net {_kg(reply.net_kg)}"
                  + (f" — {reply.reason}" if reply.reason else ""))  # fmt: skip
    elif isinstance(reply, m.LpgCustomerView):
        print(f"customer {reply.customer_id}: {reply.name} ({reply.kind}), ID {reply.id_number}, phone {reply.phone}")
        print(f"  gas-use address: {reply.gas_address}; last safety inspection: {reply.last_safety_check or '-'}")
        if reply.warning:
            print(f"  WARNING: {reply.warning}")
        print(f"  cylinders held: {', '.join(reply.cylinders_out) or 'none'}")
    elif isinstance(reply, m.LpgReceipt):
        what = "handed out" if reply.direction == "out" else "returned"
        print(f"receipt {reply.receipt}: {len(reply.barcodes)} cylinder(s) {what} ({', '.join(reply.barcodes)})"
              f" to/from customer {reply.customer_id}; net {reply.net_kg:.2f} kg, residual {reply.residual_kg:.2f} kg,"
              f" deposit {reply.deposit_cents} fen")  # fmt: skip
        for w in reply.warnings:
            print(f"  WARNING: {w}")


def _kg(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} kg"
