"""The LPG component's control-API commands: fill, customer look-up, hand-out, return, the store.

Layer: edge (thin shell: request → service → reply). The session and the role were checked by
`edge.control.handlers` (a refused role is audited there); refusals of the rules come back in words —
a refused fill as `lpg_fill{status: refused, reason}`, a refused hand-out or return as `error conflict`
naming every cylinder at fault — and are audited by the services. The operator is the login's user.
"""

from __future__ import annotations

import asyncio
from collections import Counter

from edge.control import messages as m
from edge.core.commands import Actor, DeviceCommand
from edge.devices.lpg.counter import CounterRefused, CounterService, Receipt
from edge.devices.lpg.fitness import Refusal
from edge.devices.lpg.hall import FillingHall, HallRefused
from edge.devices.lpg.service import FillOutcome
from storage import lpg

__all__ = ["LpgCommands"]


def _receipt(r: Receipt) -> m.LpgReceipt:
    return m.LpgReceipt(receipt=r.receipt, customer_id=r.customer_id, direction=r.direction, barcodes=r.barcodes,
                        warnings=r.warnings, net_kg=r.net_kg, residual_kg=r.residual_kg,
                        deposit_cents=r.deposit_cents)  # fmt: skip


def _outcome(barcode: str, scale: str, operator: str, outcome: FillOutcome) -> m.LpgFillResult:
    if outcome.refusal is not None:
        return m.LpgFillResult(status="refused", barcode=barcode, scale=scale, reason=outcome.refusal.reason,
                               code=outcome.refusal.code.value, operator=operator)  # fmt: skip
    r = outcome.record
    assert r is not None
    return m.LpgFillResult(status=r.status.value, barcode=barcode, scale=scale, reason=r.detail, fill_id=r.id,
                           tare_kg=r.tare_kg, target_kg=r.target_kg, gross_kg=r.gross_kg, net_kg=r.net_kg,
                           operator=r.operator)  # fmt: skip


class LpgCommands:
    def __init__(self, hall: FillingHall, counter: CounterService) -> None:
        self.hall = hall
        self.counter = counter

    def handlers(self) -> dict[str, DeviceCommand]:
        return {
            m.LpgFill.TYPE: self.fill,
            m.LpgCustomer.TYPE: self.customer,
            m.LpgHandout.TYPE: self.handout,
            m.LpgReturn.TYPE: self.take_back,
            m.LpgStore.TYPE: self.store,
        }

    async def fill(self, request: m.LpgFill, actor: Actor) -> m.Reply:
        barcode, scale = request.barcode.strip(), request.scale.strip()
        if not barcode or not scale:
            return m.Error(code=m.ErrorCode.BAD_REQUEST, message="lpg.fill needs a barcode and a scale")
        try:
            started = await self.hall.start_fill(barcode, scale, actor.username)
        except HallRefused as exc:
            return m.Error(code=m.ErrorCode.CONFLICT, message=str(exc))
        if isinstance(started, Refusal):
            return m.LpgFillResult(status="refused", barcode=barcode, scale=scale, reason=started.reason,
                                   code=started.code.value, operator=actor.username)  # fmt: skip
        if not request.wait:
            return m.LpgFillResult(status="filling", barcode=barcode, scale=scale, tare_kg=started.plan.tare_kg,
                                   target_kg=started.plan.target_kg, operator=actor.username)  # fmt: skip
        # the fill is the hall's task: this request going away (client gone) does not cancel it
        outcome = await asyncio.shield(started.task)
        return _outcome(barcode, scale, actor.username, outcome)

    async def customer(self, request: m.LpgCustomer, actor: Actor) -> m.Reply:
        key = request.key.strip()
        if not key:
            return m.Error(code=m.ErrorCode.BAD_REQUEST, message="lpg.customer needs an ID number or card number")
        view = await self.counter.find(key, operator=actor.username, role=actor.role.value)
        if view is None:
            return m.Error(code=m.ErrorCode.NOT_FOUND, message="no customer with that ID number or card number")
        owner = f"customer:{view.id}"
        out = tuple(c.barcode for c in await lpg.cylinders(self.counter.db) if c.owner == owner)
        return m.LpgCustomerView(customer_id=view.id, name=view.name, id_number=view.id_number, kind=view.kind,
                                 phone=view.phone, gas_address=view.gas_address,
                                 last_safety_check=view.last_safety_check.isoformat() if view.last_safety_check else "",
                                 warning=view.warning or "", cylinders_out=out)  # fmt: skip

    async def handout(self, request: m.LpgHandout, actor: Actor) -> m.Reply:
        if request.deposit_cents < 0:
            return m.Error(code=m.ErrorCode.BAD_REQUEST, message="a deposit cannot be negative")
        try:
            receipt = await self.counter.hand_out(request.customer_id, [b.strip() for b in request.barcodes],
                                                  operator=actor.username, role=actor.role.value,
                                                  deposit_cents=request.deposit_cents)  # fmt: skip
        except CounterRefused as exc:
            return m.Error(code=m.ErrorCode.CONFLICT, message="hand-out refused: " + "; ".join(exc.reasons))
        return _receipt(receipt)

    async def take_back(self, request: m.LpgReturn, actor: Actor) -> m.Reply:
        try:
            receipt = await self.counter.take_back(request.customer_id, [b.strip() for b in request.barcodes],
                                                   operator=actor.username, role=actor.role.value,
                                                   residual_kg=request.residual_kg)  # fmt: skip
        except CounterRefused as exc:
            return m.Error(code=m.ErrorCode.CONFLICT, message="return refused: " + "; ".join(exc.reasons))
        return _receipt(receipt)

    async def store(self, request: m.LpgStore, actor: Actor) -> m.Reply:
        counts = Counter((c.state.value, c.spec) for c in await lpg.cylinders(self.counter.db))
        return m.LpgStoreView(rows=tuple(m.LpgStoreRow(s, p, n) for (s, p), n in sorted(counts.items())))
