"""The control API's authenticated commands: session check, permission check, the action, the audit row.

Layer: edge (service). One method per request type; `Commands.run()` is the only entry:

    request ─▶ session of request.token? ──no──▶ error unauthenticated
                    │ yes
                    ▼
               role allowed (edge.auth.roles)? ──no──▶ audit 'refused' ─▶ error forbidden
                    │ yes
                    ▼
               handler: does it, writes its audit row 'ok' (in the same transaction where it can)
                        ─▶ reply; a `CommandError` ─▶ audit 'failed' for state changes ─▶ error

Read-only commands (reports, lists, the audit itself) are not audited when they succeed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from edge.auth import passwords
from edge.auth.roles import allowed, may_manage
from edge.auth.service import AuthService, LoginRefused, Session
from edge.control import messages as m
from edge.control.convert import shift_message
from edge.control.dayclose import DayCloseService, DayNotClosable
from edge.control.desk import desk_handlers
from edge.control.desk import error_code as desk_error_code
from edge.control.shifts import ShiftRequestError, ShiftService
from edge.core.commands import Actor
from edge.devices.desk.service import DeskError
from edge.errors import EdgeError
from edge.events import AlarmAcknowledged
from storage import operators as ops
from storage.alarms import acknowledge_in
from storage.audit import AuditLog, Outcome, append_in
from storage.clock import Clock, iso_instant, utc_now

if TYPE_CHECKING:
    from edge.station import Station

log = logging.getLogger(__name__)

DEVICE_REQUESTS = frozenset({"lpg.fill", "lpg.customer", "lpg.handout", "lpg.return", "lpg.store"})
"""Requests served by a device component where it is configured (`Station.device_commands`)."""

READ_ONLY = frozenset(
    {
        "whoami",
        "get_report",
        "get_period_report",
        "list_shifts",
        "list_operators",
        "get_audit",
        "desk.operations",
    }
)


class CommandError(EdgeError):
    def __init__(self, code: m.ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def operator_view(row: ops.OperatorRow) -> m.OperatorView:
    return m.OperatorView(
        username=row.username,
        role=m.Role(row.role),
        display_name=row.display_name,
        locked=row.locked,
        failed_logins=row.failed_logins,
        has_card=bool(row.card_asn),
        demo=row.demo,
        last_login_at=iso_instant(row.last_login_at) if row.last_login_at else "",
        language=row.language,
    )


def login_ok(session: Session) -> m.LoginOk:
    return m.LoginOk(
        token=session.token,
        operator=m.OperatorView(
            username=session.username,
            role=session.role,
            display_name=session.display_name,
            has_card=session.has_card,
            demo=session.demo,
            language=session.language,
        ),
        permissions=session.permissions,
        demo=session.demo,
    )


Handler = Callable[[Any, Session], Awaitable[m.Reply]]


class Commands:
    def __init__(
        self, station: Station, auth: AuthService, shifts: ShiftService, *, clock: Clock = utc_now
    ) -> None:
        self.station = station
        self.auth = auth
        self.shifts = shifts
        self.clock = clock
        self.audit = AuditLog(station.db, clock=clock)
        self._handlers: dict[str, Handler] = {
            "whoami": self._whoami,
            "logout": self._logout,
            "ack_alarm": self._ack_alarm,
            "read_totals": self._read_totals,
            "open_shift": self._open_shift,
            "close_shift": self._close_shift,
            "get_report": self._get_report,
            "close_day": self._close_day,
            "get_period_report": self._get_period_report,
            "list_shifts": self._list_shifts,
            "list_operators": self._list_operators,
            "add_operator": self._add_operator,
            "set_password": self._set_password,
            "lock_operator": self._lock_operator,
            "unlock_operator": self._unlock_operator,
            "get_audit": self._get_audit,
        }
        self._handlers.update(desk_handlers(self))

    @property
    def commands(self) -> frozenset[str]:
        return frozenset(self._handlers)

    async def run(self, request: m.AuthRequest) -> m.Reply:
        session = self.auth.session(request.token)
        if session is None:
            return m.Error(code=m.ErrorCode.UNAUTHENTICATED, message="log in first (or the session expired)")
        if not session.demo:  # locked meanwhile (maybe with `station operators lock` on the box)?
            row = await self.auth.store.get(session.username)
            if row is None or row.locked:
                self.auth.revoke(session.username)
                return m.Error(code=m.ErrorCode.UNAUTHENTICATED, message=f"{session.username} is locked")
        handler = self._handlers.get(request.TYPE)
        device = self.station.device_commands.get(request.TYPE)
        if handler is None and device is None and request.TYPE not in DEVICE_REQUESTS:
            # pragma: no cover - every AuthRequest type has a handler (tested)
            return m.Error(code=m.ErrorCode.UNKNOWN_TYPE, message=f"no handler for {request.TYPE}")
        if not allowed(session.role, request.TYPE):
            await self._audit(session, request.TYPE, Outcome.REFUSED, details={"reason": "role"})
            return m.Error(
                code=m.ErrorCode.FORBIDDEN, message=f"the {session.role.value} role may not {request.TYPE}"
            )
        if handler is None:
            if device is None:
                return m.Error(code=m.ErrorCode.NOT_FOUND,
                               message=f"{request.TYPE}: this station has no such device configured")  # fmt: skip
            return await device(request, Actor(session.username, session.role))
        try:
            return await handler(request, session)
        except (CommandError, ShiftRequestError, LoginRefused) as exc:
            if request.TYPE not in READ_ONLY:
                outcome = Outcome.REFUSED if exc.code is m.ErrorCode.FORBIDDEN else Outcome.FAILED
                await self._audit(session, request.TYPE, outcome, details={"error": exc.message})
            return m.Error(code=exc.code, message=exc.message)
        except DeskError as exc:
            outcome = Outcome.REFUSED if exc.code in ("conflict", "bad_card") else Outcome.FAILED
            await self._audit(session, request.TYPE, outcome, details={"error": exc.message})
            return m.Error(code=desk_error_code(exc), message=exc.message)
        except ops.OperatorError as exc:
            await self._audit(session, request.TYPE, Outcome.FAILED, details={"error": str(exc)})
            code = m.ErrorCode.CONFLICT if "exists" in str(exc) else m.ErrorCode.BAD_REQUEST
            return m.Error(code=code, message=str(exc))

    # --- session ------------------------------------------------------------------------------------

    async def _whoami(self, request: m.WhoAmI, session: Session) -> m.Reply:
        return login_ok(session)

    async def _logout(self, request: m.Logout, session: Session) -> m.Reply:
        await self.auth.logout(session.token)
        return m.Ok(message="logged out")

    # --- station ------------------------------------------------------------------------------------

    async def _ack_alarm(self, request: m.AckAlarm, session: Session) -> m.Reply:
        alarm = await self.station.alarms.get(request.alarm_id)
        if alarm is None:
            raise CommandError(m.ErrorCode.NOT_FOUND, f"no alarm {request.alarm_id}")
        now = self.clock()
        async with self.station.db.transaction() as tx:  # the acknowledgement and its audit row together
            acknowledged = await acknowledge_in(tx, request.alarm_id, session.username, now=now)
            if acknowledged:
                await self._audit_in(
                    tx,
                    session,
                    "ack_alarm",
                    target=f"alarm {alarm.id}",
                    details={"source": alarm.source, "code": alarm.code},
                    now=now,
                )
        if not acknowledged:
            raise CommandError(
                m.ErrorCode.CONFLICT,
                f"alarm {request.alarm_id} was already acknowledged by {alarm.acknowledged_by}",
            )
        self.station.bus.publish(AlarmAcknowledged(alarm.id, session.username, self.clock()))
        return m.Ok(message=f"alarm {alarm.id} acknowledged")

    async def _read_totals(self, request: m.ReadTotals, session: Session) -> m.Reply:
        readings = await self.shifts.read_totals(request.line, request.dispenser)
        await self._audit(
            session,
            "read_totals",
            Outcome.OK,
            target=f"{request.line or '*'}/{request.dispenser if request.dispenser is not None else '*'}",
            details={"fresh": sum(r.fresh for r in readings), "stale": sum(not r.fresh for r in readings)},
        )
        return m.Totals(
            readings=tuple(
                m.TotalsReading(r.line, r.dispenser, r.nzn, r.v_tot, iso_instant(r.read_at), r.fresh)
                for r in readings
            )
        )

    async def _open_shift(self, request: m.OpenShift, session: Session) -> m.Reply:
        shift = await self.shifts.open(session.username, session.role.value, request.note)
        view = shift_message(shift)
        assert view is not None
        return m.Shifts(shifts=(view,))

    async def _close_shift(self, request: m.CloseShift, session: Session) -> m.Reply:
        report = await self.shifts.close(
            session.username,
            session.role.value,
            request.handover_to,
            request.note,
            language=request.language or session.language,
        )
        return m.Report(report=report)

    async def _get_report(self, request: m.GetReport, session: Session) -> m.Reply:
        language = request.language or session.language
        return m.Report(report=await self.shifts.report(request.shift_id, language=language))

    async def _get_period_report(self, request: m.GetPeriodReport, session: Session) -> m.Reply:
        from edge.control.reports import ReportRequestError, period_report

        try:
            return await period_report(
                self.station,
                request.kind,
                request.value,
                request.by,
                now=self.clock(),
                language=request.language or session.language,
            )
        except ReportRequestError as exc:
            raise CommandError(m.ErrorCode.BAD_REQUEST, str(exc)) from exc

    async def _close_day(self, request: m.CloseDay, session: Session) -> m.Reply:
        from edge.control.reports import report_translator
        from storage.reports.periods import PeriodError, parse_day
        from storage.reports.render import report_text

        service = getattr(self.station, "day_close", None)
        if service is None:
            service = DayCloseService(self.station, clock=self.clock)
        try:
            day = parse_day(request.day) if request.day else None
        except PeriodError as exc:
            raise CommandError(m.ErrorCode.BAD_REQUEST, str(exc)) from exc
        try:
            row = await service.close(session.username, session.role.value, day)
        except DayNotClosable as exc:
            raise CommandError(m.ErrorCode.CONFLICT, str(exc)) from exc
        total = row.report.total
        return m.DayClosed(
            day=row.day.isoformat(),
            closed_at=iso_instant(row.closed_at),
            closed_by=row.closed_by,
            records=total.count,
            volume=total.volume,
            amount=total.amount,
            last_record_id=row.last_record_id,
            digest=row.digest,
            adjustments=row.adjustments,
            text=report_text(
                row.report, report_translator(request.language or session.language, self.station)
            ),
        )

    async def _list_shifts(self, request: m.ListShifts, session: Session) -> m.Reply:
        rows = await self.shifts.recent(request.limit)
        return m.Shifts(shifts=tuple(v for v in (shift_message(r) for r in rows) if v is not None))

    # --- operators ----------------------------------------------------------------------------------

    async def _list_operators(self, request: m.ListOperators, session: Session) -> m.Reply:
        rows = await self.auth.store.all()
        return m.Operators(operators=tuple(operator_view(r) for r in rows))

    def _check_manage(self, session: Session, target_role: str) -> None:
        if not may_manage(session.role, m.Role(target_role)):
            raise CommandError(
                m.ErrorCode.FORBIDDEN, f"the {session.role.value} role may not manage {target_role} operators"
            )

    async def _target(self, username: str) -> ops.OperatorRow:
        row = await self.auth.store.get(username.strip())
        if row is None:
            raise CommandError(m.ErrorCode.NOT_FOUND, f"no operator {username!r}")
        return row

    async def _add_operator(self, request: m.AddOperator, session: Session) -> m.Reply:
        self._check_manage(session, request.role.value)
        password_hash = await self._hash(request.password)
        now = self.clock()
        async with self.station.db.transaction() as tx:
            row = await ops.add_in(
                tx,
                request.username,
                request.role.value,
                password_hash,
                now=now,
                display_name=request.display_name,
                card_asn=request.card_asn or None,
            )
            await self._audit_in(
                tx,
                session,
                "add_operator",
                target=row.username,
                details={"role": row.role, "card": bool(row.card_asn)},
                now=now,
            )
        return m.Ok(message=f"operator {row.username} added ({row.role})")

    async def _set_password(self, request: m.SetPassword, session: Session) -> m.Reply:
        own = not request.username or request.username.strip().lower() == session.username.lower()
        target = await self._target(request.username or session.username)
        if own:
            if session.demo:
                raise CommandError(m.ErrorCode.FORBIDDEN, "the demo operator has no password")
            ok = await asyncio.to_thread(
                passwords.verify_password, request.old_password, target.password_hash
            )
            if not ok:
                raise CommandError(m.ErrorCode.BAD_CREDENTIALS, "the current password is wrong")
        else:
            self._check_manage(session, target.role)
        password_hash = await self._hash(request.new_password)
        now = self.clock()
        async with self.station.db.transaction() as tx:
            await ops.set_password_in(tx, target.username, password_hash, now=now)
            await self._audit_in(
                tx, session, "set_password", target=target.username, details={"own": own}, now=now
            )
        if not own:
            self.auth.revoke(target.username)
        return m.Ok(message=f"password of {target.username} changed")

    async def _lock_operator(self, request: m.LockOperator, session: Session) -> m.Reply:
        target = await self._target(request.username)
        self._check_manage(session, target.role)
        if target.username.lower() == session.username.lower():
            raise CommandError(m.ErrorCode.CONFLICT, "you cannot lock yourself out")
        now = self.clock()
        async with self.station.db.transaction() as tx:
            changed = await ops.lock_in(
                tx, target.username, request.reason or f"locked by {session.username}", now=now
            )
            if changed:
                await self._audit_in(
                    tx,
                    session,
                    "lock_operator",
                    target=target.username,
                    details={"reason": request.reason},
                    now=now,
                )
        if not changed:
            raise CommandError(m.ErrorCode.CONFLICT, f"{target.username} is already locked")
        self.auth.revoke(target.username)
        return m.Ok(message=f"{target.username} locked")

    async def _unlock_operator(self, request: m.UnlockOperator, session: Session) -> m.Reply:
        target = await self._target(request.username)
        self._check_manage(session, target.role)
        now = self.clock()
        async with self.station.db.transaction() as tx:
            was_locked = await ops.unlock_in(tx, target.username)
            await self._audit_in(
                tx,
                session,
                "unlock_operator",
                target=target.username,
                details={"was_locked": was_locked},
                now=now,
            )
        return m.Ok(
            message=f"{target.username} unlocked" if was_locked else f"{target.username} was not locked"
        )

    async def _get_audit(self, request: m.GetAudit, session: Session) -> m.Reply:
        rows = await self.audit.recent(max(1, min(request.limit, 1000)))
        return m.Audit(
            entries=tuple(
                m.AuditEntry(
                    id=r.id,
                    at=iso_instant(r.at),
                    actor=r.actor,
                    action=r.action,
                    outcome=r.outcome.value,
                    role=r.role,
                    source=r.source,
                    target=r.target,
                    details=json.dumps(dict(r.details), ensure_ascii=False, sort_keys=True)
                    if r.details
                    else "",
                )
                for r in rows
            )
        )

    # --- helpers ------------------------------------------------------------------------------------

    async def _hash(self, password: str) -> str:
        try:
            passwords.check_policy(password)
        except passwords.PasswordPolicyError as exc:
            raise CommandError(m.ErrorCode.BAD_REQUEST, str(exc)) from exc
        return await asyncio.to_thread(passwords.hash_password, password)

    async def _audit(
        self,
        session: Session,
        action: str,
        outcome: Outcome,
        *,
        target: str = "",
        details: dict[str, Any] | None = None,
    ) -> None:
        await self.audit.append(
            actor=session.username,
            role=session.role.value,
            action=action,
            outcome=outcome,
            target=target,
            details=details,
        )

    async def _audit_in(
        self,
        tx: Any,
        session: Session,
        action: str,
        *,
        target: str = "",
        details: dict[str, Any] | None = None,
        now: dt.datetime,
    ) -> None:
        await append_in(
            tx,
            actor=session.username,
            role=session.role.value,
            action=action,
            target=target,
            details=details,
            now=now,
        )
