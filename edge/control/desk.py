"""The control API's `desk.*` commands: requests in, `DeskService` calls, `DeskResult` out.

Layer: edge (adapter). The permission check and the audit of refusals and failures are done by
`edge.control.handlers.Commands.run` like for every command (a `DeskError` becomes a control API error
with its code there); the desk service writes the audit entry of each operation it does (in the
operation's own transaction).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from edge.auth.service import Session
from edge.control import messages as m
from edge.devices.desk.kind import station_desk
from edge.devices.desk.ledger import Actor
from edge.devices.desk.receipt import operation_json, receipt_text
from edge.devices.desk.service import DeskError, DeskService


class Commands(Protocol):
    @property
    def station(self) -> Any: ...


__all__ = ["desk_handlers", "desk_service", "error_code"]

_CODES = {code.value: code for code in m.ErrorCode}


def error_code(exc: DeskError) -> m.ErrorCode:
    """The control API's code of a desk refusal."""
    return _CODES.get(exc.code, m.ErrorCode.BAD_REQUEST)


def desk_service(station: Any) -> DeskService:
    """The station's desk service (with its reader when `[desk]` configured one)."""
    return station_desk(station)


def _actor(session: Session) -> Actor:
    return Actor(session.username, session.role.value)


def _date(text: str, what: str) -> dt.date | None:
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise DeskError("bad_request", f"{what} {text!r} is not a date YYYY-MM-DD") from None


def desk_handlers(commands: Commands) -> dict[str, Callable[[Any, Session], Awaitable[m.Reply]]]:
    def service() -> DeskService:
        return desk_service(commands.station)

    def language(session: Session) -> str:
        return session.language or getattr(commands.station.config.station, "language", "") or "zh_CN"

    def result(op: Any, session: Session, message: str, card: Any = None) -> m.DeskResult:
        return m.DeskResult(
            op=op.kind,
            state=op.state.value,
            op_key=op.op_key,
            message=message,
            card=_text(card),
            receipt=receipt_text(op, commands.station.config.station.id, language(session), card),
        )

    async def status(request: Any, session: Session) -> m.Reply:
        op_name = request.TYPE.removeprefix("desk.")
        grace = bool(getattr(request, "grace", False))
        op = await service().set_status(
            _actor(session), op_name, request.asn, reason=request.reason, grace=grace
        )
        details = op.details
        return result(op, session, f"card {op.asn}: {details.get('previous')} → {details.get('status')}")

    async def register(request: m.DeskRegister, session: Session) -> m.Reply:
        done = await service().register(
            _actor(session),
            name=request.name,
            phone=request.phone,
            id_number=request.id_number,
            company=request.company,
            plate=request.plate,
            vehicle_type=request.vehicle_type,
            cylinder_id=request.cylinder_id,
            cylinder_valid_until=_date(request.cylinder_valid_until, "cylinder_valid_until"),
        )
        vehicle = f", vehicle {done.vehicle_id}" if done.vehicle_id is not None else ""
        card = {"customer_id": done.customer_id, "vehicle_id": done.vehicle_id}
        return result(done.op, session, f"customer {done.customer_id}{vehicle} registered", card)

    async def operations(request: m.DeskOperations, session: Session) -> m.Reply:
        svc = service()
        rows = await svc.open_operations() if request.open_only else await svc.operations(request.asn or None,
                                                                                             request.limit)  # fmt: skip
        if request.open_only and request.asn:
            rows = [r for r in rows if r.asn == request.asn]
        listed = [operation_json(r) for r in rows]
        return m.DeskResult(op="operations", message=f"{len(listed)} operations", operations=_text(listed))

    async def card_op(request: Any, session: Session) -> m.Reply:
        op, message, card = await service().card_operation(_actor(session), request)
        if op is None:
            return m.DeskResult(op="read", message=message, card=_text(card))
        return result(op, session, message, card)

    handlers: dict[str, Callable[[Any, Session], Awaitable[m.Reply]]] = {
        "desk.lost": status,
        "desk.cancel": status,
        "desk.reinstate": status,
        "desk.register": register,
        "desk.operations": operations,
    }
    for name in ("desk.read", "desk.pin", "desk.topup", "desk.unlock", "desk.issue", "desk.replace",
                 "desk.cylinder", "desk.clear"):  # fmt: skip
        handlers[name] = card_op
    return handlers


def _text(value: Any) -> str:
    return "" if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)
