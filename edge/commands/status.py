"""`station status`: a one-screen summary of the running daemon, read through its control socket.

Exit codes: 0 summary printed, 2 bad arguments or configuration, 3 the daemon is not running.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from pathlib import Path

NAME = "status"
HELP = "Print a one-screen summary of the running daemon (through its control socket)."
EXIT_NOT_RUNNING = 3
MAX_NOZZLE_LINES = 16


def add_arguments(parser: argparse.ArgumentParser) -> None:
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--config", help="station TOML configuration (its [control] socket is used)")
    where.add_argument("--socket", help="the daemon's control socket")
    parser.add_argument("--json", action="store_true", help="the daemon's snapshot as JSON (for scripts)")
    parser.add_argument(
        "--timeout", type=float, default=5.0, help="seconds to wait for the daemon (default 5)"
    )


def socket_path(args: argparse.Namespace) -> Path:
    """The control socket from `--socket` or from the configuration (raises `ConfigError`)."""
    if getattr(args, "socket", None):
        return Path(args.socket)
    from edge.config import load_config

    config = load_config(args.config)
    control = config.control
    return control.socket if control is not None else config.storage.database.parent / "control.sock"


def run(args: argparse.Namespace) -> int:
    from edge.config import ConfigError
    from edge.control.client import DaemonNotRunning

    try:
        path = socket_path(args)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        hello, snapshot = asyncio.run(_fetch(path, args.timeout))
    except DaemonNotRunning as exc:
        print(f"station: {exc}", file=sys.stderr)
        return EXIT_NOT_RUNNING
    except (TimeoutError, ConnectionError) as exc:
        print(f"station: the daemon did not answer on {path}: {exc or 'timeout'}", file=sys.stderr)
        return EXIT_NOT_RUNNING
    if args.json:
        from edge.control import messages as m

        doc = {"hello": m.to_json(hello), "snapshot": m.to_json(snapshot)}
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        print(render(hello, snapshot))
    return 0


async def _fetch(path: Path, timeout_s: float) -> tuple[object, object]:
    from edge.control import messages as m
    from edge.control.client import ControlClient

    client = await ControlClient.connect(path, timeout_s)
    try:
        reply = await client.request(m.GetSnapshot(), timeout_s)
    finally:
        await client.close()
    if not isinstance(reply, m.Snapshot):
        raise ConnectionError(f"unexpected answer {reply.TYPE}")
    return client.hello, reply


def _c(value: int) -> str:
    sign = "-" if value < 0 else ""
    whole, cents = divmod(abs(value), 100)
    return f"{sign}{whole}.{cents:02d}"


def _n(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.0f}"
    return "0" if value is None else str(value)


def _uptime(seconds: float) -> str:
    return str(dt.timedelta(seconds=int(seconds)))


def _clock(text: str) -> str:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        return text
    return (value.astimezone() if value.tzinfo else value).strftime("%H:%M:%S")


def render(hello: object, snapshot: object) -> str:
    """The summary as text (about one 80×24 screen)."""
    from edge.control import messages as m

    assert isinstance(hello, m.Hello) and isinstance(snapshot, m.Snapshot)
    st = snapshot.station
    out = [
        f"Station {st.id} {st.name}".rstrip()
        + f" — up {_uptime(st.uptime_s)}"
        + (" — DEMO" if st.demo else "")
    ]
    shift = snapshot.shift
    out.append(
        f"Shift #{shift.id} open since {_clock(shift.opened_at)} by {shift.opened_by}"
        if shift
        else "No shift open"
    )
    for line in snapshot.lines:
        s = line.stats
        out.append(
            f"Line {line.line} ({line.mode}): polls {_n(s.get('polls'))}, cycle {_n(s.get('avg_cycle_ms'))} ms,"
            f" CRC errors {_n(s.get('crc_errors'))}, timeouts {_n(s.get('timeouts'))}"
        )
    online = sum(d.online for d in snapshot.dispensers)
    out.append(f"Dispensers: {online}/{len(snapshot.dispensers)} online")
    offline = [f"{d.line}/{d.dispenser}" for d in snapshot.dispensers if not d.online]
    if offline:
        out.append("  offline: " + ", ".join(offline))
    states: dict[str, int] = {}
    for n in snapshot.nozzles:
        states[n.state] = states.get(n.state, 0) + 1
    out.append(
        f"Nozzles: {len(snapshot.nozzles)} — " + ", ".join(f"{v} {k}" for k, v in sorted(states.items()))
    )
    busy = [n for n in snapshot.nozzles if n.state not in ("idle", "offline")]
    for n in busy[:MAX_NOZZLE_LINES]:
        who = "" if n.emp == m.EMP_NONE else f" emp {n.emp}"
        out.append(
            f"  {n.line}/{n.dispenser}/{n.nzn} {n.product:<6} {n.state.upper():<9} ¥{_c(n.amn):>8}"
            f" {_c(n.vol):>7} {n.unit or 'L'}{who}"
        )
    if len(busy) > MAX_NOZZLE_LINES:
        out.append(f"  … {len(busy) - MAX_NOZZLE_LINES} more")
    unacked = sum(1 for a in snapshot.alarms if not a.acknowledged_by)
    out.append(f"Alarms: {len(snapshot.alarms)} active, {unacked} not acknowledged")
    for a in snapshot.alarms[:5]:
        ack = f" (ack {a.acknowledged_by})" if a.acknowledged_by else ""
        out.append(f"  {a.severity.upper():<8} {a.source} {a.code}: {a.message}{ack}"[:100])
    up = snapshot.uplink
    if up:
        age = up.get("outbox_oldest_age_s")
        out.append(
            f"Centre: {up.get('state')}"
            + (f" ({up.get('broker')})" if up.get("broker") else "")
            + f"; outbox {_n(up.get('outbox_depth'))} messages"
            + (f", oldest {age} s" if age is not None else "")
            + (f", draining {up.get('drain_rate_per_s')}/s" if up.get("drain_rate_per_s") else "")
        )
    if snapshot.sales:
        last = snapshot.sales[0]
        out.append(
            f"Last record: {last.line}/{last.dispenser} #{last.pos_ttc} {last.kind} ¥{_c(last.amn)}"
            f" at {_clock(last.at)} ({len(snapshot.sales)} recent)"
        )
    return "\n".join(out)
