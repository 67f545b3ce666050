"""`station status`: a one-screen summary of the running daemon, read through its control socket.

Exit codes: 0 summary printed, 2 bad arguments or configuration, 3 the daemon is not running,
4 the daemon runs but refused the connection (every control connection taken by active clients).
The summary speaks the station's language (the daemon's `hello`; `STATION_LANGUAGE` overrides).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import sys
from pathlib import Path

from protocol.i18n import N_, Translator, ljust, translator
from protocol.words import ALARM_TEXT, centi, kind_words

NAME = "status"
HELP = "Print a one-screen summary of the running daemon (through its control socket)."
EXIT_NOT_RUNNING = 3
EXIT_BUSY = 4
MAX_NOZZLE_LINES = 16
ENGLISH = translator("en")


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
    from edge.control.client import DaemonBusy, DaemonNotRunning

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
    except DaemonBusy as exc:
        print(f"station: {exc}; try again", file=sys.stderr)
        return EXIT_BUSY
    except (TimeoutError, ConnectionError) as exc:
        print(f"station: the daemon did not answer on {path}: {exc or 'timeout'}", file=sys.stderr)
        return EXIT_NOT_RUNNING
    if args.json:
        from edge.control import messages as m

        doc = {"hello": m.to_json(hello), "snapshot": m.to_json(snapshot)}
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        from edge.commands.language import cli_translator
        from edge.control import messages as m

        language = hello.language if isinstance(hello, m.Hello) else ""
        print(render(hello, snapshot, cli_translator(language)))
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
    return centi(value)


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


STATE_WORDS = {
    "idle": N_("IDLE"),
    "card": N_("CARD IN"),
    "nozzle_up": N_("NOZZLE UP"),
    "fuelling": N_("FUELLING"),
    "finished": N_("FINISHED"),
    "offline": N_("OFFLINE"),
}


def render(hello: object, snapshot: object, tr: Translator = ENGLISH) -> str:
    """The summary as text (about one 80×24 screen) in `tr`'s language."""
    from edge.control import messages as m

    assert isinstance(hello, m.Hello) and isinstance(snapshot, m.Snapshot)

    def state(name: str) -> str:
        words = STATE_WORDS.get(name)
        return tr(words) if words else name.upper()

    st = snapshot.station
    out = [
        tr("Station {id} {name}").format(id=st.id, name=st.name).rstrip()
        + tr(" — up {uptime}").format(uptime=_uptime(st.uptime_s))
        + (tr(" — DEMO") if st.demo else "")
    ]
    shift = snapshot.shift
    out.append(
        tr("Shift #{id} open since {since} by {who}").format(
            id=shift.id, since=_clock(shift.opened_at), who=shift.opened_by
        )
        if shift
        else tr("No shift open")
    )
    for line in snapshot.lines:
        s = line.stats
        out.append(
            tr(
                "Line {line} ({mode}): polls {polls}, cycle {cycle} ms, CRC errors {crc}, timeouts {timeouts}"
            ).format(
                line=line.line,
                mode=line.mode,
                polls=_n(s.get("polls")),
                cycle=_n(s.get("avg_cycle_ms")),
                crc=_n(s.get("crc_errors")),
                timeouts=_n(s.get("timeouts")),
            )
        )
    online = sum(d.online for d in snapshot.dispensers)
    out.append(
        tr("Dispensers: {online}/{total} online").format(online=online, total=len(snapshot.dispensers))
    )
    offline = [f"{d.line}/{d.dispenser}" for d in snapshot.dispensers if not d.online]
    if offline:
        out.append(tr("  offline: {which}").format(which=", ".join(offline)))
    states: dict[str, int] = {}
    for n in snapshot.nozzles:
        states[n.state] = states.get(n.state, 0) + 1
    out.append(
        tr("Nozzles: {n} — {states}").format(
            n=len(snapshot.nozzles),
            states=", ".join(
                f"{v} {k if tr.language == 'en' else state(k)}" for k, v in sorted(states.items())
            ),
        )
    )
    busy = [n for n in snapshot.nozzles if n.state not in ("idle", "offline")]
    for n in busy[:MAX_NOZZLE_LINES]:
        who = "" if n.emp == m.EMP_NONE else " " + tr("emp {number}").format(number=n.emp)
        out.append(
            f"  {n.line}/{n.dispenser}/{n.nzn} {ljust(n.product, 6)} {ljust(state(n.state), 9)} ¥{_c(n.amn):>8}"
            f" {_c(n.vol):>7} {n.unit or 'L'}{who}"
        )
    if len(busy) > MAX_NOZZLE_LINES:
        out.append(tr("  … {n} more").format(n=len(busy) - MAX_NOZZLE_LINES))
    unacked = sum(1 for a in snapshot.alarms if not a.acknowledged_by)
    out.append(
        tr("Alarms: {active} active, {unacked} not acknowledged").format(
            active=len(snapshot.alarms), unacked=unacked
        )
    )
    for a in snapshot.alarms[:5]:
        ack = tr(" (ack {who})").format(who=a.acknowledged_by) if a.acknowledged_by else ""
        words = tr(ALARM_TEXT[a.code]) if a.code in ALARM_TEXT and tr.language != "en" else a.message
        out.append(f"  {a.severity.upper():<8} {a.source} {a.code}: {words}{ack}"[:100])
    up = snapshot.uplink
    if up:
        age = up.get("outbox_oldest_age_s")
        out.append(
            tr("Centre: {state}").format(state=up.get("state"))
            + (f" ({up.get('broker')})" if up.get("broker") else "")
            + tr("; outbox {n} messages").format(n=_n(up.get("outbox_depth")))
            + (tr(", oldest {age} s").format(age=age) if age is not None else "")
            + (
                tr(", draining {rate}/s").format(rate=up.get("drain_rate_per_s"))
                if up.get("drain_rate_per_s")
                else ""
            )
        )
    if snapshot.sales:
        last = snapshot.sales[0]
        out.append(
            tr("Last record: {where} #{ttc} {kind} ¥{amount} at {at} ({n} recent)").format(
                where=f"{last.line}/{last.dispenser}",
                ttc=last.pos_ttc,
                kind=kind_words(last.kind, tr) if tr.language != "en" else last.kind,
                amount=_c(last.amn),
                at=_clock(last.at),
                n=len(snapshot.sales),
            )
        )
    return "\n".join(out)
