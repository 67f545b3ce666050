"""A fake daemon for the terminal UI tests: the real wire protocol (`edge.control.messages`) on a real
Unix socket, with scripted state: a snapshot, operators, and events the test pushes.

It implements just enough of the daemon's behaviour for the UI: subscribe → snapshot → events, login
with a lockout after three failures and an optional card challenge, the demo login (only when `demo`),
acknowledging alarms (answered with an `alarm_acked` event), shifts and a canned handover report.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.control import messages as m

T = "2026-11-21T08:00:00+00:00"


@dataclass
class FakeOperator:
    password: str
    role: m.Role
    card: str = ""
    failures: int = 0
    locked: bool = False
    language: str = ""


def nozzle(line: str, dispenser: int, nzn: int, product: str = "92#", **kw: object) -> m.Nozzle:
    return m.Nozzle(line=line, dispenser=dispenser, nzn=nzn, state=str(kw.pop("state", "idle")), product=product,
                    g_code="0092" if product == "92#" else "0095", unit="L", at=T, **kw)  # type: ignore[arg-type]  # fmt: skip


def station_snapshot(dispensers: int = 3) -> m.Snapshot:
    """The demo station's shape: a multi-drop bus with `dispensers` × 2 nozzles and a point-to-point line."""
    nozzles = []
    for d in range(1, dispensers + 1):
        nozzles += [nozzle("bus1", d, 2 * d - 1, "92#"), nozzle("bus1", d, 2 * d, "95#")]
    p2p = dispensers + 1
    nozzles += [
        nozzle("p2p1", p2p, 2 * p2p - 1, "92#", state="fuelling", amn=12_345, vol=1_646, prc=750, emp=7,
               asn="10000111000000012345"),
        nozzle("p2p1", p2p, 2 * p2p, "95#", state="offline"),
    ]  # fmt: skip
    nozzles[0] = dataclasses.replace(nozzles[0], emp=12)
    sales = (
        m.Sale(line="bus1", dispenser=1, pos_ttc=102, t_type=0x10, kind="sale", nzn=1, asn="10000111000000054321",
               amn=22_500, vol=3_000, prc=750, g_code="0092", product="92#", emp=12, payment="bank_card", at=T),
        m.Sale(line="bus1", dispenser=2, pos_ttc=55, t_type=0x07, kind="cash", nzn=3, amn=7_500, vol=1_000,
               prc=750, g_code="0092", product="92#", payment="cash", at=T),
        m.Sale(line="bus1", dispenser=1, pos_ttc=101, t_type=0x05, kind="on_duty", nzn=1,
               asn="10000411000000009012", emp=12, at=T),
    )  # fmt: skip
    alarms = (
        m.Alarm(id=1, source="bus1/3", code="dispenser_offline", severity="warning",
                message="Dispenser 3 on line bus1 does not answer", raised_at=T),
        m.Alarm(id=2, source="p2p1", code="line_unavailable", severity="critical",
                message="cannot open /dev/ttyUSB1", raised_at=T, count=4, acknowledged_by="admin1"),
    )  # fmt: skip
    lines = (
        m.LineStats(line="bus1", mode="multi-drop", at=T, stats={
            "polls": 18_250, "avg_cycle_ms": 151.2, "crc_errors": 2, "timeouts": 14, "noise_bytes": 9,
            "last_frame_at": T}),
        m.LineStats(line="p2p1", mode="point-to-point", at=T, stats={
            "polls": 900, "avg_cycle_ms": 502.0, "crc_errors": 0, "timeouts": 0, "noise_bytes": 0,
            "last_frame_at": T}),
    )  # fmt: skip
    views = (
        *(
            m.DispenserView(line="bus1", dispenser=d, label=f"D{d}", online=d != 3, m_info="SIM-MD v1.0",
                            records_stored=40 + d)
            for d in range(1, dispensers + 1)
        ),
        m.DispenserView(line="p2p1", dispenser=p2p, label=f"D{p2p}", online=True, m_info="SIM-P2P v1.0"),
    )  # fmt: skip
    decisions = (
        m.Decision(line="bus1", dispenser=2, nzn=4, asn="10000111000000099999", allowed=False, reason="blacklisted",
                   words="the card is on the blacklist (base list v12)", at=T),
        m.Decision(line="bus1", dispenser=1, nzn=1, asn="10000111000000054321", allowed=True, at=T,
                   warnings=("Vehicle (京C54321) cylinder inspection is due in 6 days, on 2026-11-27. Remind the driver.",),
                   warning_facts=(m.DecisionWarning("cylinder_due", due="2026-11-27", plate="京C54321"),)),
    )  # fmt: skip
    return m.Snapshot(
        station=m.StationView(id="DEMO-0001", name="Demo station", uptime_s=3600),
        lines=lines, dispensers=views, nozzles=tuple(nozzles), sales=sales, alarms=alarms, decisions=decisions,
        shift=m.ShiftView(id=3, opened_at=T, opened_by="senior1"),
    )  # fmt: skip


def big_snapshot(count: int = 64) -> m.Snapshot:
    nozzles = tuple(
        nozzle("bus1" if i < count // 2 else "bus2", i // 2 + 1, i + 1, "92#" if i % 2 == 0 else "95#",
               state=("idle", "fuelling", "nozzle_up", "card", "finished", "offline")[i % 6],
               amn=(i * 731) % 20_000 if i % 6 in (1, 4) else 0, vol=(i * 97) % 3_000 if i % 6 in (1, 4) else 0,
               prc=750, emp=i % 9 + 1, asn="10000111000000012345" if i % 6 == 3 else "")
        for i in range(count)
    )  # fmt: skip
    return dataclasses.replace(station_snapshot(), nozzles=nozzles)


DESK_CARD: dict[str, Any] = {
    "asn": "10000101100000000017", "kind": "cng", "holder": "张三", "status": "normal", "balance": 50_000,
    "plate": "京A12345", "cylinder_valid_until": "2026-01-20", "cylinder_days_left": 6,
    "grey": {"grey": False}, "pin_tries_left": 3, "pin_locked": False,
    "log": [{"counter": 3, "amount": 2_000, "type": 9, "terminal": "000000000042", "at": "2026-01-13T09:12:00"}],
}  # fmt: skip
"""The card the fake daemon's desk reader holds."""


def canned_period_report(kind: str, value: str) -> m.PeriodReport:
    """A day report of two products, three payment modes and sales over the day's hours."""
    name = value or {"day": "2026-11-21", "month": "2026-11", "year": "2026"}[kind]

    def line(key: str, label: str, count: int, volume: int, amount: int, unit: str = "") -> m.ReportLine:
        return m.ReportLine(key, label, unit, count, volume, amount)

    total = line("", "TOTAL", 57, 182_450, 1_392_300)
    products = (
        line("0092", "0092 92#", 41, 131_000, 982_500, "L"),
        line("0095", "0095 95#", 16, 51_450, 409_800, "L"),
    )
    payments = (
        line("bank_card", "bank_card", 9, 30_000, 231_000),
        line("cash", "cash", 30, 95_450, 721_300),
        line("grey_unpaid", "grey_unpaid", 2, 4_000, 30_000),
        line("ticket", "ticket", 16, 53_000, 410_000),
    )
    hours = tuple(
        line(f"{h:02d}", f"{h:02d}", n, n * 3_200, n * 24_426)
        for h, n in zip(range(6, 20), (1, 2, 4, 6, 5, 3, 4, 7, 6, 5, 4, 5, 3, 2), strict=True)
    )
    section = m.ReportSectionView
    return m.PeriodReport(
        kind=kind, name=name, start=f"{name}T06:00:00" if kind == "day" else "2026-11-01T06:00:00",
        end="2026-11-22T06:00:00" if kind == "day" else "2026-12-01T06:00:00", station="TEST-0001", total=total,
        sections=(
            section("product", "By product", products, total),
            section("payment", "By payment mode", payments, total),
            section("hour", "By hour", hours, total),
        ),
        closed_at="2026-11-22T06:05:00+00:00" if kind == "day" else "", closed_by="senior1", verified=True,
        text="DAY REPORT\n",
    )  # fmt: skip


def canned_report(
    shift_id: int, by: str, handed_to: str, *, final: bool = True, language: str = ""
) -> m.ShiftReport:
    """A handover report rendered by the real renderer (`storage.shift_render`), as the daemon sends it (in
    the language asked for)."""
    from protocol.i18n import translator
    from storage import shift_report as sh
    from storage.shift_render import render

    cash = sh.ReportPayment("cash", 3, 2_500, 18_750)
    card = sh.ReportPayment("bank_card", 2, 2_000, 15_000)
    nozzles = (
        sh.ReportNozzle("bus1", 1, 1, "0092", "92#", 100_000, 103_500, T, T, 3_500, 4, 3_500, 26_250,
                        (card, sh.ReportPayment("cash", 2, 1_500, 11_250)), 0, False),
        sh.ReportNozzle("bus1", 2, 3, "0092", "92#", 20_000, 21_100, T, T, 1_100, 1, 1_000, 7_500,
                        (sh.ReportPayment("cash", 1, 1_000, 7_500),), 100, True),
    )  # fmt: skip
    duty = sh.ReportDuty("bus1", 1, 1, 12, T, T, 100_000, 103_500, 3_500, True, "10000611000000000077")
    employees = (sh.ReportEmployee(12, (duty,), 3_500, 4, 3_500, 26_250, (card, cash), 0, False),)
    view = sh.ShiftView(shift_id, T, "senior1", T if final else "", by if final else "", handed_to)
    report = sh.ShiftReport(view, T, final, nozzles, employees, (card, cash), 5, 4_500, 33_750, 1, 0)
    tr = translator(language or "en")
    title = tr("Station {id}").format(id="DEMO-0001") + " — Demo station"
    return m.from_json(m.ShiftReport, sh.report_json(render(report, tr, title=title)))


@dataclass(eq=False)
class _Conn:
    writer: asyncio.StreamWriter
    subscribed: bool = False
    task: asyncio.Task[None] | None = None


@dataclass
class FakeDaemon:
    path: Path
    snapshot: m.Snapshot = field(default_factory=station_snapshot)
    demo: bool = False
    language: str = ""
    """The station's language, sent in the hello ('' = not said)."""
    operators: dict[str, FakeOperator] = field(default_factory=dict)
    requests: list[m.Request] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)
    shift_id: int = 3
    challenges: dict[str, tuple[str, int, _Conn]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._conns: set[_Conn] = set()
        self._change = asyncio.Event()

    # --- lifecycle and observation ------------------------------------------------------------------

    async def start(self) -> None:
        self._server = await asyncio.start_unix_server(self._client, str(self.path), limit=m.MAX_LINE_BYTES)
        self._changed()

    async def stop(self) -> None:
        """The daemon stops: every connection is cut and sessions are forgotten (as a restart would)."""
        if self._server is not None:
            self._server.close()
        for conn in list(self._conns):
            conn.writer.transport.abort()
        if self._server is not None:
            await self._server.wait_closed()
        self._server = None
        self.tokens.clear()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._changed()

    def _changed(self) -> None:
        self._change.set()
        self._change = asyncio.Event()

    async def wait_until(self, predicate: Callable[[], bool], timeout_s: float = 10.0) -> None:
        async with asyncio.timeout(timeout_s):
            while True:
                change = self._change
                if predicate():
                    return
                await change.wait()

    async def wait_request(self, kind: type[m.Request], timeout_s: float = 10.0) -> m.Request:
        await self.wait_until(lambda: any(isinstance(r, kind) for r in self.requests), timeout_s)
        return next(r for r in reversed(self.requests) if isinstance(r, kind))

    @property
    def subscribers(self) -> int:
        return sum(1 for c in self._conns if c.subscribed)

    def push(self, *events: m.Message) -> None:
        for conn in list(self._conns):
            if conn.subscribed:
                for event in events:
                    conn.writer.write(m.encode(event))

    # --- protocol -----------------------------------------------------------------------------------

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = _Conn(writer)
        self._conns.add(conn)
        hello = m.Hello(
            self.snapshot.station.id, self.snapshot.station.name, demo=self.demo, language=self.language
        )
        writer.write(m.encode(hello))
        self._changed()
        try:
            while line := await reader.readline():
                request = m.decode(line)
                assert isinstance(request, m.Request), request
                self.requests.append(request)
                reply = self._handle(conn, request)
                if reply is not None:
                    writer.write(m.encode(m.reply_to(request, reply)))
                self._changed()
        except (ConnectionError, OSError):
            pass
        finally:
            self._conns.discard(conn)
            writer.close()
            self._changed()

    def _session(self, request: m.AuthRequest) -> str | None:
        return self.tokens.get(request.token)

    def _login_ok(self, username: str) -> m.LoginOk:
        from edge.auth.roles import permissions_of

        token = secrets.token_hex(8)
        self.tokens[token] = username
        known = self.operators.get(username)
        role = known.role if known is not None else m.Role.SENIOR
        language = known.language if known is not None else ""
        view = m.OperatorView(username=username, role=role, demo=username == "demo", language=language)
        return m.LoginOk(
            token=token,
            operator=view,
            permissions=permissions_of(role),
            demo=username == "demo",
        )

    def _handle(self, conn: _Conn, request: m.Request) -> m.Reply | None:
        match request:
            case m.Subscribe():
                conn.subscribed = True
                return self.snapshot
            case m.Login(username=username, password=password):
                op = self.operators.get(username)
                if op is None:
                    return m.Error(code=m.ErrorCode.BAD_CREDENTIALS, message="wrong user name or password")
                if op.locked:
                    return m.Error(
                        code=m.ErrorCode.LOCKED, message=f"{username} is locked: ask a senior operator"
                    )
                if password != op.password:
                    op.failures += 1
                    if op.failures >= 3:
                        op.locked = True
                        return m.Error(
                            code=m.ErrorCode.LOCKED, message=f"{username} is now locked after 3 failed logins"
                        )
                    return m.Error(
                        code=m.ErrorCode.BAD_CREDENTIALS,
                        message=f"wrong user name or password ({3 - op.failures} tries left before the account locks)",
                    )  # fmt: skip
                op.failures = 0
                if op.card:
                    challenge = secrets.token_hex(4)
                    self.challenges[challenge] = (username, request.id, conn)
                    return m.LoginChallenge(challenge=challenge, seconds=60, message="card")
                return self._login_ok(username)
            case m.LoginCard(challenge=challenge, asn=asn):
                username, login_id, login_conn = self.challenges[challenge]
                if asn != self.operators[username].card:
                    return m.Error(
                        code=m.ErrorCode.BAD_CARD,
                        message="wrong card (2 tries left before the account locks)",
                    )
                del self.challenges[challenge]
                login_conn.writer.write(m.encode(dataclasses.replace(self._login_ok(username), re=login_id)))
                return m.Ok(message="card accepted")
            case m.DemoLogin():
                if not self.demo:
                    return m.Error(
                        code=m.ErrorCode.DEMO_DISABLED, message="this station is not a demo station"
                    )
                return self._login_ok("demo")
            case m.AuthRequest() if self._session(request) is None:
                return m.Error(
                    code=m.ErrorCode.UNAUTHENTICATED, message="log in first (or the session expired)"
                )
            case m.WhoAmI():
                user = self._session(request) or ""
                return dataclasses.replace(self._login_ok(user), token=request.token)
            case m.Logout():
                self.tokens.pop(request.token, None)
                return m.Ok(message="logged out")
            case m.AckAlarm(alarm_id=alarm_id):
                self.push(m.AlarmAcked(id=alarm_id, by=self._session(request) or "", at=T))
                return m.Ok(message=f"alarm {alarm_id} acknowledged")
            case m.OpenShift():
                self.shift_id += 1
                view = m.ShiftView(id=self.shift_id, opened_at=T, opened_by=self._session(request) or "")
                self.push(m.Shift(shift=view))
                return m.Shifts(shifts=(view,))
            case m.CloseShift(handover_to=handover_to, language=language):
                report = canned_report(
                    self.shift_id, self._session(request) or "", handover_to, language=language
                )
                self.push(m.Shift(shift=report.shift))
                return m.Report(report=report)
            case m.GetReport(language=language):
                return m.Report(report=canned_report(self.shift_id, "", "", final=False, language=language))
            case m.GetPeriodReport(kind=kind, value=value):
                return canned_period_report(kind, value)
            case m.ReadTotals():
                return m.Totals(readings=(m.TotalsReading("bus1", 1, 1, 103_500, T, True),))
            case m.DeskRead():
                return m.DeskResult(op="read", state="done", op_key="k1", message="card read",
                                    card=json.dumps(DESK_CARD))  # fmt: skip
            case m.DeskTopup(amount=amount, payment=payment):
                card = {**DESK_CARD, "balance": DESK_CARD["balance"] + amount}
                receipt = f"TOP-UP {amount} {payment}\nBalance after {card['balance']}\n"
                return m.DeskResult(op="topup", state="confirmed", op_key="k2", message="loaded",
                                    card=json.dumps(card), receipt=receipt)  # fmt: skip
            case m.Ping():
                return m.Ok(message="pong")
            case _:
                return m.Error(code=m.ErrorCode.UNKNOWN_TYPE, message=request.TYPE)
