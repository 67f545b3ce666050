"""`station desk ACTION ...`: the attendant's desk operations through the running daemon, as an operator.

Layer: edge (CLI shell over the control API's `desk.*` commands). The operator logs in (password
prompted, or the first line of stdin with `--password-stdin`); the daemon checks the role and does the
operation on the card in the desk reader (or on the registry). `--json` prints the daemon's answer as
one JSON object (`op`, `state`, `op_key`, `message`, `card`, `receipt`, `operations`); otherwise the
message and the receipt are printed.
Exit status: 0 done (a top-up `refused` or `unresolved` exits 1), 1 refused, 2 bad arguments,
3 the daemon is not running.

    station desk read --config /etc/station/station.toml --user ann
    station desk topup 500.00 --payment cash --config ... --user ann
    station desk lost 10000101100000000051 --reason "holder called" --config ... --user ann
    station desk replace 10000101100000000051 --config ... --user manager     (the new card in the reader)
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

NAME = "desk"
HELP = "The attendant's desk: read, top up, unlock, PIN, issue, replace, lost/cancel/reinstate, ..."
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_NOT_RUNNING = 3

ACTIONS = {
    "read": "read the card in the desk reader",
    "topup": "load money onto the card in the reader (two-phase: never twice for one payment)",
    "unlock": "grey unlock of the card in the reader (the pumps' rules; the amount owed is debited)",
    "pin": "verify the card's PIN, or change it with --new-pin",
    "register": "register a customer (and their vehicle with --plate)",
    "issue": "issue the blank card in the reader to a registered customer",
    "replace": "replace a lost card by the card in the reader (its balance moves, once)",
    "lost": "report a card lost",
    "cancel": "cancel a card",
    "reinstate": "reinstate a lost or cancelled card",
    "cylinder": "write a new cylinder inspection date onto the CNG card in the reader",
    "clear": "clear the credit card in the reader",
    "operations": "list desk operations (of one card; --open: those not finished)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, text in ACTIONS.items():
        cmd = sub.add_parser(action, help=text)
        where = cmd.add_mutually_exclusive_group(required=True)
        where.add_argument("--config", help="station TOML configuration (its control socket)")
        where.add_argument("--socket", help="the daemon's control socket")
        cmd.add_argument("--user", required=True, help="operator user name")
        cmd.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
        cmd.add_argument("--json", action="store_true", help="print the answer as one JSON object")
        cmd.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the daemon")
        if action in ("lost", "cancel", "reinstate"):
            cmd.add_argument("asn", help="card number")
            cmd.add_argument("--reason", default="", help="why (kept with the status)")
        if action == "lost":
            cmd.add_argument(
                "--grace", action="store_true", help="in force after [rules] lost_card_grace_working_days"
            )
        if action == "topup":
            cmd.add_argument("amount", help="yuan, e.g. 500 or 500.00 (0.01 units for a volume card)")
            cmd.add_argument("--payment", default="cash", help="payment mode (cash, bank_card, wechat, ...)")
        if action in ("topup", "unlock", "cylinder", "clear"):
            cmd.add_argument("--asn", default="", help="the card expected in the reader")
        if action == "pin":
            cmd.add_argument("--pin-stdin", action="store_true", help="read PIN (and new PIN) from stdin")
            cmd.add_argument("--new-pin", action="store_true", help="change the PIN (asks for the new one)")
        if action == "register":
            cmd.add_argument("name")
            for key in ("phone", "id-number", "company", "plate", "vehicle-type", "cylinder-id"):
                cmd.add_argument(f"--{key}", default="")
            cmd.add_argument("--cylinder-valid-until", default="", help="YYYY-MM-DD")
        if action == "issue":
            cmd.add_argument("customer_id", type=int)
            cmd.add_argument("--plate", default="", help="the registered vehicle")
            cmd.add_argument("--mode", default="prepaid_amount",
                             choices=["prepaid_amount", "prepaid_volume", "credit_amount", "credit_volume"])  # fmt: skip
            cmd.add_argument("--price-level", type=int, default=0, choices=[0, 1, 2])
            cmd.add_argument("--card-class", type=int, default=1)
        if action == "replace":
            cmd.add_argument("old_asn", help="the lost card's number")
        if action == "cylinder":
            cmd.add_argument("valid_until", help="YYYY-MM-DD")
        if action == "operations":
            cmd.add_argument("--asn", default="")
            cmd.add_argument("--open", action="store_true")
            cmd.add_argument("--limit", type=int, default=50)


def fen(text: str) -> int:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount") from None
    cents = value * 100
    if cents != cents.to_integral_value() or cents <= 0:
        raise ValueError(f"{text!r} is not a positive amount with at most 2 decimals")
    return int(cents)


def build_request(args: argparse.Namespace, stdin_lines: list[str]) -> Any:
    from edge.control import messages as m

    action = args.action
    if action == "read":
        return m.DeskRead()
    if action == "topup":
        return m.DeskTopup(amount=fen(args.amount), payment=args.payment, asn=args.asn)
    if action == "unlock":
        return m.DeskUnlock(asn=args.asn)
    if action == "pin":
        pin = stdin_lines.pop(0) if args.pin_stdin and stdin_lines else getpass.getpass("PIN: ")
        new = ""
        if args.new_pin:
            new = stdin_lines.pop(0) if args.pin_stdin and stdin_lines else getpass.getpass("New PIN: ")
        return m.DeskPin(pin=pin, new_pin=new)
    if action == "register":
        return m.DeskRegister(
            name=args.name, phone=args.phone, id_number=args.id_number, company=args.company, plate=args.plate,
            vehicle_type=args.vehicle_type, cylinder_id=args.cylinder_id,
            cylinder_valid_until=args.cylinder_valid_until,
        )  # fmt: skip
    if action == "issue":
        return m.DeskIssue(customer_id=args.customer_id, plate=args.plate, mode=args.mode,
                           price_level=args.price_level, card_class=args.card_class)  # fmt: skip
    if action == "replace":
        return m.DeskReplace(old_asn=args.old_asn)
    if action == "lost":
        return m.DeskLost(asn=args.asn, reason=args.reason, grace=args.grace)
    if action == "cancel":
        return m.DeskCancel(asn=args.asn, reason=args.reason)
    if action == "reinstate":
        return m.DeskReinstate(asn=args.asn, reason=args.reason)
    if action == "cylinder":
        return m.DeskCylinder(valid_until=args.valid_until, asn=args.asn)
    if action == "clear":
        return m.DeskClear(asn=args.asn)
    return m.DeskOperations(asn=args.asn, limit=args.limit, open_only=args.open)


def run(args: argparse.Namespace) -> int:
    from edge.commands.status import socket_path
    from edge.config import ConfigError
    from edge.control.client import DaemonBusy, DaemonNotRunning

    try:
        path = socket_path(args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    lines = sys.stdin.read().splitlines() if args.password_stdin or getattr(args, "pin_stdin", False) else []
    password = lines.pop(0) if args.password_stdin and lines else ""
    if not args.password_stdin:
        password = getpass.getpass("Password: ")
    try:
        request = build_request(args, lines)
    except ValueError as exc:
        print(f"station desk: {exc}", file=sys.stderr)
        return EXIT_USAGE
    try:
        return asyncio.run(_run(path, args.user, password, request, args.json, args.timeout))
    except (DaemonNotRunning, DaemonBusy) as exc:
        print(f"station: {exc}", file=sys.stderr)
        return EXIT_NOT_RUNNING
    except (TimeoutError, ConnectionError) as exc:
        print(f"station: the daemon did not answer on {path}: {exc or 'timeout'}", file=sys.stderr)
        return EXIT_NOT_RUNNING


async def _run(path: Path, user: str, password: str, request: Any, as_json: bool, timeout_s: float) -> int:
    import dataclasses

    from edge.control import messages as m
    from edge.control.client import ControlClient

    client = await ControlClient.connect(path, timeout_s)
    try:
        login = await client.request(m.Login(username=user, password=password), timeout_s)
        if not isinstance(login, m.LoginOk):
            return _refused(as_json, "login", getattr(login, "message", login.TYPE), "bad_credentials")
        reply = await client.request(dataclasses.replace(request, token=login.token), timeout_s)
        await client.request(m.Logout(token=login.token), timeout_s)
    finally:
        await client.close()
    if isinstance(reply, m.Error):
        return _refused(as_json, request.TYPE, reply.message, str(reply.code))
    if not isinstance(reply, m.DeskResult):
        return _refused(as_json, request.TYPE, f"unexpected answer {reply.TYPE}", "internal")
    body = m.to_json(reply)
    body.pop("re", None)
    body["card"] = reply.card_view() or None
    body["operations"] = reply.operation_list() if reply.operations else None
    if as_json:
        print(json.dumps(body, ensure_ascii=False, sort_keys=True))
    else:
        print(reply.message)
        if reply.receipt:
            print(reply.receipt, end="")
        for op in reply.operation_list():
            print(f"{op['updated_at']}  {op['op']:<10} {op['asn']:<20} {op['state']:<10} {op['operator']}")
    return EXIT_REFUSED if reply.state in ("refused", "unresolved") else 0


def _refused(as_json: bool, op: str, message: str, code: str) -> int:
    if as_json:
        print(json.dumps({"op": op, "error": code, "message": message}, ensure_ascii=False, sort_keys=True))
    else:
        print(f"station desk: {message}", file=sys.stderr)
    return EXIT_REFUSED
