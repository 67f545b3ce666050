"""Real-name hand-out and return at the counter.

Layer: edge. Pure rules (`handout_verdict`, `mask_id`) and a thin service around them:

- a customer is found by ID number or customer card; the ID number is shown masked
  (`110101********1234`), in full only to the roles in `full_id_roles`, and every full read is audited
  (`lpg.customer.read_id`);
- a hand-out binds full cylinders to the customer. Any unfit cylinder (unknown, scrapped, overdue, not
  full — an over-filled one is `problem` — or already out) refuses the whole hand-out, audited, nothing
  stored. Warnings (the customer's safety inspection overdue, with the days; a cylinder whose inspection
  falls due within `due_warning_days`) are shown and stored with the hand-out and its audit row;
- a return takes cylinders back from that customer (optionally with the residual gas weighed: net of it is
  credited on the receipt); they go to `empty`, owned by the station;
- each hand-out / return is one receipt: its rows, the cylinders' state changes, the audit row and the
  record for the centre (`station/{id}/lpg/counter`) in one transaction.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from edge.devices.lpg.specs import LpgSettings
from edge.errors import EdgeError
from storage import lpg
from storage.audit import Outcome, append_in
from storage.clock import iso_instant, utc_now
from storage.db import Database
from storage.lpg_counter import (
    CounterMove,
    CustomerRow,
    add_move_in,
    customer_by_card,
    customer_by_id,
    customer_by_id_number,
    last_net_kg_in,
    set_owner_in,
)
from storage.outbox import OutboxMessage, enqueue_in

__all__ = [
    "CounterRefused",
    "CounterService",
    "CustomerView",
    "Receipt",
    "customer_warning",
    "handout_verdict",
    "mask_id",
]

FULL_ID_ROLES = ("senior", "admin")


class CounterRefused(EdgeError):
    """A hand-out or return refused; `reasons` in words, one per cylinder at fault."""

    def __init__(self, reasons: Sequence[str]) -> None:
        super().__init__("; ".join(reasons))
        self.reasons = list(reasons)


def mask_id(id_number: str) -> str:
    """First 6 and last 4 characters shown, the rest masked (short numbers: all but the last 2)."""
    s = id_number.strip()
    if len(s) <= 10:
        return "*" * max(len(s) - 2, 0) + s[-2:]
    return s[:6] + "*" * (len(s) - 10) + s[-4:]


def customer_warning(c: CustomerRow, today: dt.date) -> str | None:
    if c.last_safety_check is None:
        return f"customer {c.name}: no safety inspection on record"
    due = c.last_safety_check + dt.timedelta(days=c.safety_interval_days)
    if due < today:
        return (f"customer {c.name}: safety inspection overdue by {(today - due).days} days "
                f"(last {c.last_safety_check})")  # fmt: skip
    return None


def handout_verdict(
    barcode: str, cyl: lpg.CylinderRow | None, settings: LpgSettings, today: dt.date
) -> tuple[str | None, str | None]:
    """(refusal, warning) for one cylinder to be handed out."""
    if cyl is None:
        return f"cylinder {barcode} is not in the registry", None
    if cyl.state is lpg.CylinderState.SCRAPPED or cyl.scrap_on <= today:
        return f"cylinder {barcode} is scrapped (scrap date {cyl.scrap_on})", None
    if cyl.next_inspection < today:
        return (f"cylinder {barcode}: inspection overdue since {cyl.next_inspection} "
                f"({(today - cyl.next_inspection).days} days)"), None  # fmt: skip
    if cyl.state is lpg.CylinderState.PROBLEM:
        return (
            f"cylinder {barcode} is marked as a problem (over-filled or fill interrupted): correct it first",
            None,
        )
    if cyl.state is not lpg.CylinderState.FULL:
        return f"cylinder {barcode} is {cyl.state.value.replace('_', ' ')}, not full", None
    days = (cyl.next_inspection - today).days
    if days <= settings.due_warning_days:
        return None, f"cylinder {barcode}: inspection due in {days} days ({cyl.next_inspection})"
    return None, None


@dataclass(frozen=True, slots=True)
class CustomerView:
    """A customer as shown at the counter: the ID number masked unless the role may read it."""

    id: int
    name: str
    id_number: str
    kind: str
    phone: str
    gas_address: str
    last_safety_check: dt.date | None
    warning: str | None


@dataclass(frozen=True, slots=True)
class Receipt:
    receipt: str
    customer_id: int
    direction: str
    barcodes: tuple[str, ...]
    warnings: tuple[str, ...] = ()
    net_kg: float = 0.0
    residual_kg: float = 0.0
    deposit_cents: int = 0
    extra: Mapping[str, object] = field(default_factory=dict)


class CounterService:
    def __init__(
        self,
        db: Database,
        settings: LpgSettings,
        *,
        station: str,
        clock: Callable[[], dt.datetime] = utc_now,
        full_id_roles: Sequence[str] = FULL_ID_ROLES,
    ) -> None:
        self.db = db
        self.settings = settings
        self.station = station
        self.clock = clock
        self.full_id_roles = tuple(full_id_roles)

    async def find(self, key: str, *, operator: str, role: str) -> CustomerView | None:
        """By ID number, else by customer card number."""
        c = await customer_by_id_number(self.db, key) or await customer_by_card(self.db, key)
        if c is None:
            return None
        full = role in self.full_id_roles
        if full:
            async with self.db.transaction() as tx:
                await append_in(tx, actor=operator, role=role, action="lpg.customer.read_id", source="lpg",
                                target=str(c.id), details={"name": c.name}, now=self.clock())  # fmt: skip
        return CustomerView(c.id, c.name, c.id_number if full else mask_id(c.id_number), c.kind.value, c.phone,
                            c.gas_address, c.last_safety_check, customer_warning(c, self.clock().date()))  # fmt: skip

    async def _customer(self, customer_id: int) -> CustomerRow:
        c = await customer_by_id(self.db, customer_id)
        if c is None:
            raise CounterRefused([f"customer {customer_id} is not registered"])
        return c

    async def hand_out(
        self, customer_id: int, barcodes: Sequence[str], *, operator: str, role: str, deposit_cents: int = 0
    ) -> Receipt:
        now = self.clock()
        today = now.date()
        customer = await self._customer(customer_id)
        refusals: list[str] = []
        warnings: list[str] = []
        cw = customer_warning(customer, today)
        if cw:
            warnings.append(cw)
        cylinders: dict[str, lpg.CylinderRow] = {}
        for b in barcodes:
            c = await lpg.cylinder(self.db, b)
            refusal, warning = handout_verdict(b, c, self.settings, today)
            if refusal:
                refusals.append(refusal)
            if warning:
                warnings.append(warning)
            if c is not None:
                cylinders[b] = c
        if not barcodes:
            refusals.append("no cylinder scanned")
        if refusals:
            async with self.db.transaction() as tx:
                await append_in(tx, actor=operator, role=role, action="lpg.handout", outcome=Outcome.REFUSED,
                                source="lpg", target=str(customer_id),
                                details={"barcodes": list(barcodes), "reasons": refusals, "warnings": warnings},
                                now=now)  # fmt: skip
            raise CounterRefused(refusals)
        receipt = f"H-{uuid.uuid4().hex[:12]}"
        net_total = 0.0
        async with self.db.transaction() as tx:
            for b in barcodes:
                net = await last_net_kg_in(tx, b)
                net_total += net or 0.0
                await add_move_in(tx, CounterMove(receipt, customer_id, b, "out", iso_instant(now), operator, net,
                                                  None, deposit_cents, "; ".join(warnings)))  # fmt: skip
                await lpg.set_state_in(tx, b, lpg.CylinderState.AT_CUSTOMER, reason=f"handed out ({receipt})",
                                       actor=operator, now=now)  # fmt: skip
                await set_owner_in(tx, b, f"customer:{customer_id}")
            await append_in(tx, actor=operator, role=role, action="lpg.handout", source="lpg",
                            target=str(customer_id),
                            details={"receipt": receipt, "barcodes": list(barcodes), "warnings": warnings},
                            now=now)  # fmt: skip
            result = Receipt(receipt, customer_id, "out", tuple(barcodes), tuple(warnings), round(net_total, 3),
                             0.0, deposit_cents)  # fmt: skip
            await enqueue_in(tx, [self._message(result, now)], now=now)
        return result

    async def take_back(
        self,
        customer_id: int,
        barcodes: Sequence[str],
        *,
        operator: str,
        role: str,
        residual_kg: Mapping[str, float] | None = None,
    ) -> Receipt:
        now = self.clock()
        await self._customer(customer_id)
        refusals = []
        for b in barcodes:
            c = await lpg.cylinder(self.db, b)
            if c is None:
                refusals.append(f"cylinder {b} is not in the registry")
            elif c.state is not lpg.CylinderState.AT_CUSTOMER or c.owner != f"customer:{customer_id}":
                refusals.append(f"cylinder {b} was not handed out to this customer")
        residual = dict(residual_kg or {})
        refusals += [f"cylinder {b}: residual {kg} kg is negative" for b, kg in residual.items() if kg < 0]
        if refusals or not barcodes:
            refusals = refusals or ["no cylinder scanned"]
            async with self.db.transaction() as tx:
                await append_in(tx, actor=operator, role=role, action="lpg.return", outcome=Outcome.REFUSED,
                                source="lpg", target=str(customer_id),
                                details={"barcodes": list(barcodes), "reasons": refusals}, now=now)  # fmt: skip
            raise CounterRefused(refusals)
        receipt = f"R-{uuid.uuid4().hex[:12]}"
        async with self.db.transaction() as tx:
            for b in barcodes:
                await add_move_in(tx, CounterMove(receipt, customer_id, b, "in", iso_instant(now), operator, None,
                                                  residual.get(b), 0, ""))  # fmt: skip
                await lpg.set_state_in(tx, b, lpg.CylinderState.EMPTY, reason=f"returned ({receipt})",
                                       actor=operator, now=now)  # fmt: skip
                await set_owner_in(tx, b, "station")
            await append_in(tx, actor=operator, role=role, action="lpg.return", source="lpg", target=str(customer_id),
                            details={"receipt": receipt, "barcodes": list(barcodes)}, now=now)  # fmt: skip
            result = Receipt(receipt, customer_id, "in", tuple(barcodes), (), 0.0,
                             round(sum(residual.values()), 3))  # fmt: skip
            await enqueue_in(tx, [self._message(result, now)], now=now)
        return result

    def _message(self, r: Receipt, now: dt.datetime) -> OutboxMessage:
        payload = {
            "type": "lpg_counter",
            "station": self.station,
            "receipt": r.receipt,
            "direction": r.direction,
            "customer": r.customer_id,
            "barcodes": list(r.barcodes),
            "net_kg": r.net_kg,
            "residual_kg": r.residual_kg,
            "deposit_cents": r.deposit_cents,
            "warnings": list(r.warnings),
            "at": iso_instant(now),
        }
        return OutboxMessage(topic=f"station/{self.station}/lpg/counter", key=f"lpg-counter:{r.receipt}",
                             payload=json.dumps(payload, sort_keys=True, ensure_ascii=False).encode())  # fmt: skip
