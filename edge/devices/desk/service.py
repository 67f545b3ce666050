"""DeskService: the attendant's desk operations, each with its record, audit entry and centre message.

Layer: edge (service). Roles are checked by the control API before a call arrives here (the table is
`edge.auth.roles`, docs/desk.md "Roles"); every operation is written through `DeskLedger` (row, status
change, audit, outbox in one transaction). Status changes reach the rules at once
(`edge.cardstatus.CardStatusBook`): a card reported lost here is refused at the next nozzle it meets.

This module holds the operations that need no card in the reader (registry and statuses); the card
operations (read, PIN, top-up, grey unlock, issue, replace, cylinder date, clear) are in `cardops.py`.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from edge.cardstatus import CardStatusBook, StatusEntry
from edge.devices.desk.ledger import Actor, DeskLedger
from edge.errors import EdgeError
from edge.rules import CardStatus, card_kind_from_asn
from storage import desk as store
from storage.clock import Clock, utc_now
from storage.db import Database, Tx
from storage.desk import OperationRow

__all__ = ["DeskError", "DeskService", "Registered"]

log = logging.getLogger(__name__)

STATUS_OPS = {"lost": "lost", "cancel": "cancelled", "reinstate": "normal"}
"""Operation name → the status it sets."""
_MAY_BECOME: dict[str, frozenset[str]] = {
    "lost": frozenset({"normal"}),
    "cancelled": frozenset({"normal", "lost", "damaged"}),
    "normal": frozenset({"lost", "cancelled", "damaged"}),
}
"""From which statuses each status may be set (replaced is final: its balance lives on the new card)."""


class DeskError(EdgeError):
    """A desk operation refused; `code` is the control API's error code (bad_request, not_found,
    conflict, bad_card, busy)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, slots=True)
class Registered:
    customer_id: int
    vehicle_id: int | None
    op: OperationRow


class CardOperations(Protocol):
    async def run(self, actor: Actor, request: Any) -> tuple[OperationRow | None, str, Any]: ...


def check_asn(asn: str) -> str:
    text = asn.strip()
    if not text.isdigit() or not 8 <= len(text) <= 20:
        raise DeskError("bad_request", f"card number {asn!r} is not 8 to 20 digits")
    return text


class DeskService:
    """See the module docstring. `statuses` is the rules' book (the daemon's `RulesRuntime.statuses`)."""

    def __init__(
        self,
        db: Database,
        station_id: str,
        statuses: CardStatusBook,
        *,
        clock: Clock = utc_now,
        local_clock: Callable[[], dt.datetime] = dt.datetime.now,
    ) -> None:
        self.db = db
        self.station_id = station_id
        self.statuses = statuses
        self.clock = clock
        self.local_clock = local_clock
        self.ledger = DeskLedger(db, station_id, clock=clock)
        self.cards: CardOperations | None = None
        """The operations on the card in the desk reader (None: no desk reader at this station)."""

    # --- statuses ------------------------------------------------------------------------------------

    async def set_status(
        self, actor: Actor, op: str, asn: str, *, reason: str = "", grace: bool = False
    ) -> OperationRow:
        """Report lost / cancel / reinstate. A card not in this station's registry (issued elsewhere) is
        registered by its number first. Refused: a replaced card (final), a change that does not apply
        (lost → lost, normal → normal)."""
        status = STATUS_OPS.get(op)
        if status is None:
            raise DeskError("bad_request", f"unknown status operation {op!r}")
        asn = check_asn(asn)
        row = await store.card(self.db, asn)
        current = "normal" if row is None else row.status
        if current == "replaced":
            raise DeskError(
                "conflict", f"card {asn} was replaced by {row.replaced_by if row else '?'}: final"
            )
        if current not in _MAY_BECOME[status]:
            raise DeskError("conflict", f"card {asn} is {current}: cannot {op}")
        now = self.clock()
        kind = card_kind_from_asn(asn)
        op_name = {"lost": "lost", "cancelled": "cancel", "normal": "reinstate"}[status]

        async def change(tx: Tx) -> None:
            if await store.card_in(tx, asn) is None:
                label = kind.name.lower() if kind is not None else "unknown"
                await store.put_card_in(tx, store.CardRow(asn, label), actor=actor.username, now=now)
            await store.set_status_in(
                tx,
                asn,
                status,
                actor=actor.username,
                now=now,
                reason=reason,
                grace=grace and status == "lost",
            )

        details: dict[str, Any] = {"previous": current, "status": status}
        if reason:
            details["reason"] = reason
        if status == "lost":
            details["grace"] = grace
        record = await self.ledger.done(actor, op_name, asn, steps=[change], details=details)
        self.statuses.set_desk(StatusEntry(asn, CardStatus(status), now, grace and status == "lost"))
        log.warning(
            "card %s: %s → %s by %s (%s)", asn, current, status, actor.username, reason or "no reason"
        )
        return record

    # --- customers and vehicles ------------------------------------------------------------------------

    async def register(
        self,
        actor: Actor,
        *,
        name: str,
        phone: str = "",
        id_number: str = "",
        company: str = "",
        plate: str = "",
        vehicle_type: str = "",
        cylinder_id: str = "",
        cylinder_valid_until: dt.date | None = None,
    ) -> Registered:
        """A customer, and their vehicle when a plate is given (the CNG profile a card is issued from)."""
        if not name.strip():
            raise DeskError("bad_request", "a customer needs a name")
        plate = plate.strip()
        if plate and await store.vehicle_by_plate(self.db, plate) is not None:
            raise DeskError("conflict", f"vehicle {plate} is already registered")
        now = self.clock()
        ids: dict[str, int | None] = {"customer": None, "vehicle": None}

        async def add(tx: Tx) -> None:
            cid = await store.add_customer_in(
                tx, store.CustomerRow(0, name.strip(), phone, id_number, company), now=now
            )
            ids["customer"] = cid
            if plate:
                vehicle = store.VehicleRow(0, plate, cid, vehicle_type, cylinder_id, cylinder_valid_until)
                ids["vehicle"] = await store.add_vehicle_in(tx, vehicle, now=now)

        details = {"name": name.strip(), "plate": plate, "cylinder_valid_until": cylinder_valid_until}
        op = await self.ledger.done(actor, "register", "", steps=[add], details=details)
        customer_id = ids["customer"]
        assert customer_id is not None
        return Registered(customer_id, ids["vehicle"], op)

    # --- the card in the reader ------------------------------------------------------------------------

    async def card_operation(self, actor: Actor, request: Any) -> tuple[OperationRow | None, str, Any]:
        """A `desk.*` request that needs the card in the reader: (operation, words, card view)."""
        if self.cards is None:
            raise DeskError("not_found", "no desk reader at this station ([desk] table) or it is gone")
        return await self.cards.run(actor, request)

    # --- queries -----------------------------------------------------------------------------------------

    async def operations(self, asn: str | None = None, limit: int = 50) -> list[OperationRow]:
        return await store.operations(self.db, check_asn(asn) if asn else None, limit)

    async def open_operations(self) -> list[OperationRow]:
        return await store.open_operations(self.db)
