"""The desk operations on the card in the reader: read, PIN, top-up, grey unlock, issue, replace,
cylinder date, clear — and the recovery of money writes left open.

Layer: edge (service over `edge.devices.desk.card.CardAccess`; the pure two-phase table is
`edge.devices.desk.topup`). One operation at a time (one reader). Every operation is recorded through
`DeskLedger` (row, audit entry, message for the centre in one transaction).

Money onto or off a card (top-up, grey unlock, a replaced card's balance) follows the two-phase rule:

    intent stored ──▶ INITIALIZE (card tells balance + counter) ──▶ `written` stored ──▶ the write APDU
        │                                   │ card gone: refused (nothing written)      │
        │                                   ▼                                           ▼ answered
        │                                                                     confirmed (message)
        ▼ the write's answer lost (torn, reader pulled, daemon killed):
          re-read the card now, else when it is inserted again / at start-up → `topup.judge` decides:
          balance before → refused (the payment is still owed), balance after → confirmed,
          neither → unresolved (replace the card)

Before any operation on a card, its operations left open are settled first (`recover`), so a card is
never loaded twice for one payment.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import signal
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from edge.authority import RulesAuthority
from edge.cardstatus import StatusEntry
from edge.control import messages as m
from edge.devices.desk import topup
from edge.devices.desk.card import CardAccess, CardImage
from edge.devices.desk.errors import (
    CardError,
    CardNotGenuine,
    CardNotGrey,
    CardRefused,
    CardRemoved,
    CardUnreadable,
    ForeignCard,
    LoadIntent,
    LoadTorn,
    NoCard,
    OperationTorn,
    PinIncorrect,
    PinLocked,
    ReaderGone,
    TornPhase,
    UnlockIntent,
    UnlockTorn,
)
from edge.devices.desk.ledger import Actor, new_key
from edge.devices.desk.service import DeskError, DeskService, check_asn
from edge.rules import CardFacts, CardRequest, CardStatus, CngProfile, ConsumptionMode, GreyLock, Place
from protocol.card.files import CreditFile, HolderFile, IssuerFile, IssueState, VehicleFile
from protocol.messages import GreyQuery
from storage import desk as store
from storage.db import Tx
from storage.desk import OperationRow, OpState

__all__ = ["CardOps", "CardSlot", "card_view"]

log = logging.getLogger(__name__)

PIN_LOCKED_WORDS = "PIN locked: go to an issuing outlet."
FAULT_KILL_ENV = "STATION_FAULT_DESK_KILL_AT"
"""Fault injection for the crash tests: SIGKILL this process at a step of a money write — `intent`
(stored), `written` (stored, the write not sent), `applied` (the card answered, the outcome not stored),
`finished` (the outcome stored)."""


def _fault(step: str) -> None:
    if os.environ.get(FAULT_KILL_ENV) == step:
        log.error("fault injection: killed at step %s of a desk write", step)
        os.kill(os.getpid(), signal.SIGKILL)


REFUSED_STATUSES = frozenset({"lost", "cancelled", "replaced", "blacklisted", "damaged"})


class CardSlot(Protocol):
    """The desk reader's card: a fresh `CardAccess` session on the card in it (`NoCard`, `ReaderGone`)."""

    async def open(self) -> CardAccess: ...


class Alarms(Protocol):
    async def raise_alarm(
        self, source: str, code: str, severity: str, message: str, details: dict[str, Any] | None = None
    ) -> int: ...


def _json(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.hex().upper()
    return value


def card_view(
    image: CardImage,
    *,
    status: str,
    today: dt.date,
    grey: Mapping[str, Any] | None = None,
    open_ops: Sequence[OperationRow] = (),
) -> dict[str, Any]:
    """The card as the desk shows it (JSON object; docs/desk.md "Card view")."""
    vehicle, limits, credit = image.vehicle, image.limits, image.credit
    mode = ConsumptionMode(vehicle.consumption_mode).name.lower() if vehicle is not None else "prepaid_amount"
    view: dict[str, Any] = {
        "asn": image.asn,
        "kind": image.kind.value,
        "issued": image.issued,
        "valid_from": _json(image.issuer.valid_from),
        "valid_until": _json(image.issuer.valid_until),
        "holder": image.holder.name,
        "status": status,
        "balance": image.balance,
        "balance_ed": None if image.ed is None else image.ed.balance,
        "online_counter": image.ep.online_counter,
        "offline_counter": image.ep.offline_counter,
        "mode": mode,
        "price_level": image.price_level,
        "plate": "" if vehicle is None else vehicle.plate,
        "cylinder_valid_until": _json(image.cylinder_valid_until),
        "cylinder_days_left": image.cylinder_days_left(today),
        "limits": None
        if limits is None
        else {
            "products": limits.product_code,
            "plate": limits.plate,
            "fixed_station": limits.fixed_station,
            "fills_per_day": limits.fills_per_day,
            "max_per_sale": limits.max_per_sale,
            "max_per_day": limits.max_per_day,
        },
        "credit": None
        if credit is None
        else {
            "credit_line": credit.credit_line,
            "last_cleared": _json(credit.last_cleared),
            "last_cleared_amount": credit.last_cleared_amount,
        },
        "grey": dict(grey) if grey is not None else {"grey": image.is_grey},
        "pin_tries_left": image.pin_tries_left,
        "pin_locked": image.pin_blocked,
        "pin_words": PIN_LOCKED_WORDS if image.pin_blocked else "",
        "log": [
            {
                "counter": r.counter,
                "amount": r.amount,
                "type": r.tx_type,
                "terminal": r.terminal_id.hex().upper(),
                "at": _json(r.when),
            }
            for r in image.log
        ],
        "open_operations": [
            {"op_key": o.op_key, "op": o.kind, "state": o.state.value, "amount": o.amount} for o in open_ops
        ],
    }
    return view


@dataclass(frozen=True, slots=True)
class _Outcome:
    op: OperationRow | None
    words: str
    card: dict[str, Any] | None


class CardOps:
    """`DeskService.cards`: see the module docstring."""

    def __init__(
        self,
        service: DeskService,
        slot: CardSlot,
        authority: RulesAuthority,
        *,
        alarms: Alarms | None = None,
        source: str = "desk",
    ) -> None:
        self.service = service
        self.slot = slot
        self.authority = authority
        self.alarms = alarms
        self.source = source
        self._lock = asyncio.Lock()
        station = authority.station
        self.here = Place(station.station_id, 0, station.province, source)

    # --- dispatch ------------------------------------------------------------------------------------

    async def run(self, actor: Actor, request: Any) -> tuple[OperationRow | None, str, Any]:
        handlers: dict[type, Callable[[Actor, Any], Awaitable[_Outcome]]] = {
            m.DeskRead: self._read,
            m.DeskPin: self._pin,
            m.DeskTopup: self._topup,
            m.DeskUnlock: self._unlock,
            m.DeskIssue: self._issue,
            m.DeskReplace: self._replace,
            m.DeskCylinder: self._cylinder,
            m.DeskClear: self._clear,
        }
        handler = handlers.get(type(request))
        if handler is None:
            raise DeskError("bad_request", f"{request.TYPE} is not a card operation")
        async with self._lock:
            try:
                outcome = await handler(actor, request)
            except (NoCard, CardRemoved) as exc:
                raise DeskError("not_found", f"no card in the desk reader ({exc})") from exc
            except ReaderGone as exc:
                raise DeskError("not_found", f"the desk reader is gone: {exc}") from exc
            except ForeignCard as exc:
                raise DeskError("bad_card", f"not a fuel card: {exc}") from exc
            except CardUnreadable as exc:
                raise DeskError("bad_card", f"the card cannot be read: {exc}") from exc
            except CardNotGenuine as exc:
                raise DeskError("bad_card", f"the card is not one of this system: {exc}") from exc
            except CardError as exc:
                raise DeskError("bad_card", str(exc)) from exc
        return outcome.op, outcome.words, outcome.card

    # --- common ------------------------------------------------------------------------------------

    def _now(self) -> dt.datetime:
        return self.service.local_clock()

    async def _status(self, asn: str) -> str:
        row = await store.card(self.service.db, asn)
        book = self.service.statuses.lookup(asn)
        if book is not None and (row is None or row.status_since is None or book.since > row.status_since):
            return book.status.value
        return "normal" if row is None else row.status

    async def _open_card(self, expect: str = "") -> tuple[CardAccess, CardImage]:
        access = await self.slot.open()
        image = await access.read()
        if expect and image.asn != check_asn(expect):
            raise DeskError("conflict", f"the card in the reader is {image.asn}, not {expect}")
        await self.recover(image)
        return access, image

    async def _view(self, image: CardImage, grey: Mapping[str, Any] | None = None) -> dict[str, Any]:
        open_ops = await store.open_operations(self.service.db, image.asn)
        today = self._now().date()
        return card_view(
            image, status=await self._status(image.asn), today=today, grey=grey, open_ops=open_ops
        )

    async def _refuse_status(self, image: CardImage) -> None:
        status = await self._status(image.asn)
        if status in REFUSED_STATUSES:
            raise DeskError("conflict", f"card {image.asn} is {status}: refused")

    async def _note_balance(self, asn: str, balance: int) -> None:
        async with self.service.db.transaction() as tx:
            await store.note_balance_in(tx, asn, balance, now=self.service.clock())

    async def on_inserted(self) -> dict[str, Any]:
        """A card was put into the reader: settle its open operations (re-insertion) and give its view.
        Not recorded as an operation (nobody asked); errors are the typed `CardError`s."""
        async with self._lock:
            access = await self.slot.open()
            image = await access.read()
            settled = await self.recover(image)
            for op in settled:
                log.warning(
                    "card %s inserted: %s %s settled as %s", image.asn, op.kind, op.op_key, op.state.value
                )
            grey, _ = await self._grey_view(image)
            return await self._view(image, grey)

    # --- recovery (two-phase) -------------------------------------------------------------------------

    async def recover(self, image: CardImage) -> list[OperationRow]:
        """Settle the open money operations of this card from what the card shows (re-insertion)."""
        settled = []
        for op in await store.open_operations(self.service.db, image.asn):
            if op.balance_before is None or op.balance_after is None:
                action = topup.Action.REFUSE if op.state is OpState.INTENT else topup.Action.WAIT_FOR_CARD
                verdict = None
            else:
                verdict = _verdict(op, image)
                action = topup.recover(op.state.value, verdict)
            done = await self._apply(
                op, action, f"card read again: {verdict.value if verdict else 'no write'}"
            )
            if done is not None:
                settled.append(done)
        return settled

    async def startup(self) -> list[OperationRow]:
        """At start-up, without the card: intents never sent are refused; writes wait for their card
        (an alarm names each)."""
        settled = []
        for op in await self.service.open_operations():
            action = topup.startup_action(op.state.value)
            if action is topup.Action.REFUSE:
                done = await self._apply(op, action, "not written before the restart")
                if done is not None:
                    settled.append(done)
            elif action is topup.Action.WAIT_FOR_CARD and self.alarms is not None:
                await self.alarms.raise_alarm(
                    self.source, "desk_pending", "warning",
                    f"desk {op.kind} {op.op_key[:12]} of card {op.asn} is not settled: insert the card at the desk",
                    {"op_key": op.op_key, "asn": op.asn, "op": op.kind},
                )  # fmt: skip
        return settled

    async def _apply(self, op: OperationRow, action: topup.Action, why: str) -> OperationRow | None:
        if action is topup.Action.CONFIRM:
            done = await self.service.ledger.finish(
                op.op_key, OpState.CONFIRMED, why, steps=self._confirm_steps(op)
            )
            self._after(done)
            return done
        if action is topup.Action.REFUSE:
            words = f"{why}; nothing was written" + (
                "; the payment is owed to the customer" if op.payment else ""
            )
            done = await self.service.ledger.finish(
                op.op_key, OpState.REFUSED, words, steps=self._refuse_steps(op)
            )
            self._after(done)
            return done
        if action is topup.Action.UNRESOLVED and op.state is not OpState.UNRESOLVED:
            done = await self.service.ledger.finish(
                op.op_key, OpState.UNRESOLVED, f"{why}: the card shows neither balance: replace the card"
            )
            return done
        return None

    def _confirm_steps(self, op: OperationRow) -> list[Callable[[Tx], Awaitable[None]]]:
        now = self.service.clock()

        async def note(tx: Tx) -> None:
            if op.balance_after is not None:
                await store.note_balance_in(tx, op.asn, op.balance_after, now=now)

        return [note]

    def _refuse_steps(self, op: OperationRow) -> list[Callable[[Tx], Awaitable[None]]]:
        if op.kind != "replace" or not op.other_asn:
            return []
        previous = str(op.details.get("old_status", "lost"))
        now = self.service.clock()

        async def revert(tx: Tx) -> None:
            await store.unreplace_in(tx, op.other_asn, previous, actor=op.operator, now=now, op_key=op.op_key)

        return [revert]

    def _after(self, op: OperationRow) -> None:
        """Status book after a replacement settled."""
        if op.kind != "replace" or not op.other_asn:
            return
        if op.state is OpState.REFUSED:
            previous = CardStatus(str(op.details.get("old_status", "lost")))
            self.service.statuses.set_desk(StatusEntry(op.other_asn, previous, self.service.clock()))

    # --- read and PIN ---------------------------------------------------------------------------------

    async def _grey_view(self, image: CardImage) -> tuple[dict[str, Any], Any]:
        grey = image.grey
        info: dict[str, Any] = {"grey": grey.is_grey}
        if not grey.is_grey:
            return info, None
        info.update(locked_at=_json(grey.locked_at), terminal=grey.terminal_id.hex().upper(),
                    balance_at_lock=grey.balance)  # fmt: skip
        found = await self.authority.greys.find(
            GreyQuery(image.asn, grey.balance, grey.offline_counter, 0, grey.locked_at or self._now())
        )
        if found is None:
            info.update(record=False, may_unlock=False, words="No grey record of this card is held here.")
            return info, None
        decision = self.authority.decide_here(CardRequest(self._facts(image, found.lock)), self.here)
        verdict = decision.grey_unlock
        info.update(
            record=True,
            source=found.source,
            amount_owed=found.amn,
            locked_station=found.lock.where.station_id,
            may_unlock=decision.allowed,
            reason=decision.reason.name,
            words=decision.words,
            unlockable_from=_json(verdict.unlockable_from) if verdict is not None else None,
        )
        return info, (found, decision)

    def _facts(self, image: CardImage, lock: GreyLock | None) -> CardFacts:
        profile = None
        if image.vehicle is not None:
            profile = CngProfile(
                card_class=image.vehicle.vehicle_class, mode=ConsumptionMode(image.vehicle.consumption_mode),
                price_level=image.price_level or 0, cylinder_valid_until=image.vehicle.cylinder_valid_until,
                plate=image.vehicle.plate,
            )  # fmt: skip
        return CardFacts(
            asn=image.asn, grey=image.is_grey, grey_lock=lock, cng=profile, pin_locked=image.pin_blocked,
            valid_from=image.issuer.valid_from, valid_until=image.issuer.valid_until,
        )  # fmt: skip

    async def _read(self, actor: Actor, request: m.DeskRead) -> _Outcome:
        _access, image = await self._open_card()
        grey, _ = await self._grey_view(image)
        view = await self._view(image, grey)

        async def note(tx: Tx) -> None:
            await self._register_seen(tx, image)
            await store.note_balance_in(tx, image.asn, image.balance, now=self.service.clock())

        op = await self.service.ledger.done(
            actor, "read", image.asn, steps=[note], details={"balance": image.balance, "grey": image.is_grey}
        )
        words = f"card {image.asn}: balance {image.balance}, {view['status']}"
        if image.pin_blocked:
            words += f"; {PIN_LOCKED_WORDS}"
        return _Outcome(op, words, view)

    async def _register_seen(self, tx: Tx, image: CardImage) -> None:
        if await store.card_in(tx, image.asn) is None:
            kind = image.kind.value
            await store.put_card_in(tx, store.CardRow(image.asn, kind, holder=image.holder.name),
                                    actor="desk", now=self.service.clock())  # fmt: skip

    async def _pin(self, actor: Actor, request: m.DeskPin) -> _Outcome:
        access, image = await self._open_card()
        change = bool(request.new_pin)
        try:
            if change:
                await access.change_pin(request.pin, request.new_pin)
            else:
                await access.verify_pin(request.pin)
        except PinLocked as exc:
            await self.service.ledger.done(actor, "pin", image.asn, state=OpState.REFUSED,
                                           details={"change": change, "locked": True}, resolution=PIN_LOCKED_WORDS)  # fmt: skip
            raise DeskError("bad_card", PIN_LOCKED_WORDS) from exc
        except PinIncorrect as exc:
            words = f"wrong PIN: {exc.tries_left} tries left"
            if exc.tries_left == 0:
                words = PIN_LOCKED_WORDS
            await self.service.ledger.done(actor, "pin", image.asn, state=OpState.REFUSED,
                                           details={"change": change, "tries_left": exc.tries_left}, resolution=words)  # fmt: skip
            raise DeskError("bad_card", words) from exc
        except ValueError as exc:
            raise DeskError("bad_request", f"PIN: {exc}") from exc
        op = await self.service.ledger.done(actor, "pin", image.asn, details={"change": change})
        return _Outcome(op, "PIN changed" if change else "PIN correct", await self._view(image))

    # --- money: top-up ----------------------------------------------------------------------------------

    async def _topup(self, actor: Actor, request: m.DeskTopup) -> _Outcome:
        if request.amount <= 0:
            raise DeskError("bad_request", f"a top-up is a positive amount, not {request.amount}")
        access, image = await self._open_card(request.asn)
        await self._refuse_status(image)
        if not image.issued:
            raise DeskError("bad_card", f"card {image.asn} is not issued")
        if image.is_grey:
            raise DeskError("conflict", f"card {image.asn} is grey-locked: unlock it first")
        if any(
            o.state is OpState.UNRESOLVED for o in await store.open_operations(self.service.db, image.asn)
        ):
            raise DeskError("conflict", f"card {image.asn} has an unresolved operation: replace the card")
        op = OperationRow(
            new_key(), "topup", image.asn, OpState.INTENT, actor.username, actor.role, amount=request.amount,
            payment=request.payment, balance_before=image.balance, balance_after=image.balance + request.amount,
            counter_before=image.ep.online_counter,
        )  # fmt: skip

        async def register(tx: Tx) -> None:
            await self._register_seen(tx, image)

        await self.service.ledger.intent(op, steps=[register])
        _fault("intent")
        return await self._load(access, op, request.amount)

    async def _load(self, access: CardAccess, op: OperationRow, amount: int) -> _Outcome:
        async def on_intent(intent: LoadIntent) -> None:
            await self.service.ledger.written(
                op.op_key,
                balance_before=intent.balance_before,
                balance_after=intent.balance_after,
                counter_before=intent.online_counter,
            )
            _fault("written")

        try:
            result = await access.load(amount, self._now(), on_intent=on_intent)
        except LoadTorn as exc:
            return await self._torn(op, exc)
        except CardRefused as exc:  # refused before the write: nothing applied
            done = await self._settle(op, topup.Action.REFUSE, f"the card refused: {exc}")
            return _Outcome(done, f"refused by the card: {exc}; nothing loaded", None)
        _fault("applied")
        done = await self._settle(op, topup.Action.CONFIRM, "the card confirmed the write" +
                                  ("" if result.tac_ok else " (its TAC did not verify)"))  # fmt: skip
        _fault("finished")
        return await self._after_write(access, done, f"loaded {amount}: balance {result.balance_after}")

    async def _after_write(self, access: CardAccess, done: OperationRow, words: str) -> _Outcome:
        """The card view after a confirmed write; the write stands when the card cannot be read again."""
        try:
            image = await access.read()
        except CardError as exc:
            log.warning(
                "desk %s %s confirmed; the card could not be read again: %s", done.kind, done.op_key, exc
            )
            return _Outcome(done, f"{words}; the card could not be read again ({exc})", None)
        return _Outcome(done, words, await self._view(image))

    async def _settle(self, op: OperationRow, action: topup.Action, why: str) -> OperationRow:
        current = await store.operation(self.service.db, op.op_key)
        assert current is not None
        done = await self._apply(current, action, why)
        return done if done is not None else current

    async def _torn(self, op: OperationRow, exc: OperationTorn) -> _Outcome:
        """The card went away during a money write: settle now if it is readable again, else wait."""
        current = await store.operation(self.service.db, op.op_key)
        assert current is not None
        if exc.phase is TornPhase.BEFORE_WRITE or current.state is OpState.INTENT:
            done = await self._settle(
                current, topup.Action.REFUSE, f"the card left before the write ({exc.cause})"
            )
            return _Outcome(done, "the card left before anything was written: nothing done", None)
        try:
            image = await (await self.slot.open()).read()
        except CardError as again:
            log.warning("desk %s %s: the write's answer was lost and the card cannot be read (%s)",
                        current.kind, current.op_key, again)  # fmt: skip
            if self.alarms is not None:
                await self.alarms.raise_alarm(
                    self.source, "desk_pending", "warning",
                    f"desk {current.kind} of card {current.asn} is not settled: insert the card again",
                    {"op_key": current.op_key, "asn": current.asn, "op": current.kind},
                )  # fmt: skip
            raise DeskError(
                "conflict",
                f"the card left during the write: insert card {current.asn} again to settle operation "
                f"{current.op_key} (it will not be written twice)",
            ) from exc
        if image.asn != current.asn:
            raise DeskError("conflict", f"another card ({image.asn}) is in the reader: insert {current.asn}")
        verdict = _verdict(current, image)
        done = await self._settle(current, topup.recover(current.state.value, verdict),
                                  f"answer lost; card read again: {verdict.value}")  # fmt: skip
        return _Outcome(
            done, f"{done.kind} {done.state.value} after the card was read again", await self._view(image)
        )

    # --- money: grey unlock ------------------------------------------------------------------------------

    async def _unlock(self, actor: Actor, request: m.DeskUnlock) -> _Outcome:
        access, image = await self._open_card(request.asn)
        if not image.is_grey:
            raise DeskError("conflict", f"card {image.asn} is not grey-locked")
        info, found = await self._grey_view(image)
        if found is None:
            op = await self.service.ledger.done(actor, "unlock", image.asn, state=OpState.REFUSED,
                                                details=info, resolution=str(info.get("words", "")))  # fmt: skip
            raise DeskError("conflict", f"card {image.asn}: {info.get('words')} ({op.op_key})")
        grey_record, decision = found
        if not decision.allowed:
            await self.service.ledger.done(actor, "unlock", image.asn, state=OpState.REFUSED, details=info,
                                           resolution=decision.words)  # fmt: skip
            raise DeskError("conflict", f"card {image.asn} may not be unlocked here now: {decision.words}")
        owed = grey_record.amn
        op = OperationRow(
            new_key(), "unlock", image.asn, OpState.INTENT, actor.username, actor.role, amount=owed,
            balance_before=image.balance, balance_after=image.balance - owed,
            counter_before=image.ep.offline_counter, details={"source": grey_record.source},
        )  # fmt: skip
        await self.service.ledger.intent(op)
        _fault("intent")

        async def on_intent(intent: UnlockIntent) -> None:
            await self.service.ledger.written(
                op.op_key, balance_before=intent.balance_before, balance_after=intent.balance_after,
                counter_before=None,
            )  # fmt: skip
            _fault("written")

        try:
            result = await access.unlock_grey(owed, self._now(), on_intent=on_intent)
        except UnlockTorn as exc:
            return await self._torn(op, exc)
        except (CardRefused, CardNotGrey) as exc:
            done = await self._settle(op, topup.Action.REFUSE, f"the card refused: {exc}")
            return _Outcome(done, f"refused by the card: {exc}; nothing debited", None)
        _fault("applied")
        done = await self._settle(op, topup.Action.CONFIRM, "the card confirmed the unlock")
        _fault("finished")
        return await self._after_write(
            access, done, f"unlocked: {owed} debited, balance {result.balance_after}"
        )

    # --- issue and replace ---------------------------------------------------------------------------

    async def _issue(self, actor: Actor, request: m.DeskIssue) -> _Outcome:
        customer = await store.customer(self.service.db, request.customer_id)
        if customer is None:
            raise DeskError("not_found", f"no customer {request.customer_id}: register them first")
        vehicle = await store.vehicle_by_plate(self.service.db, request.plate) if request.plate else None
        if request.plate and (vehicle is None or vehicle.customer_id != customer.id):
            raise DeskError(
                "not_found", f"vehicle {request.plate} is not registered to customer {customer.id}"
            )
        if request.mode not in store.MODES:
            raise DeskError("bad_request", f"unknown consumption mode {request.mode!r}")
        access, image = await self._open_card()
        if image.issued:
            raise DeskError("conflict", f"card {image.asn} is already issued")
        await self._refuse_status(image)
        await self._write_issue(access, image, customer.name, vehicle, request.mode, request.price_level,
                                request.card_class)  # fmt: skip
        now = self.service.clock()
        row = store.CardRow(image.asn, "cng" if vehicle else "user", customer_id=customer.id,
                            vehicle_id=None if vehicle is None else vehicle.id, holder=customer.name,
                            mode=request.mode, price_level=request.price_level, issued_at=now)  # fmt: skip

        async def put(tx: Tx) -> None:
            await store.put_card_in(tx, row, actor=actor.username, now=now)
            await store.note_balance_in(tx, image.asn, image.balance, now=now)

        details = {"customer_id": customer.id, "plate": request.plate, "mode": request.mode,
                   "price_level": request.price_level}  # fmt: skip
        op = await self.service.ledger.done(actor, "issue", image.asn, steps=[put], details=details)
        image = await (await self.slot.open()).read()
        return _Outcome(op, f"card {image.asn} issued to {customer.name}", await self._view(image))

    async def _write_issue(self, access: CardAccess, image: CardImage, holder: str, vehicle: store.VehicleRow | None,
                           mode: str, price_level: int, card_class: int) -> None:  # fmt: skip
        today = self._now().date()
        issuer = IssuerFile(
            asn=image.asn, valid_from=today, valid_until=today.replace(year=today.year + 10),
            issuer_id=image.issuer.issuer_id, issue_state=IssueState.ISSUED,
        )  # fmt: skip
        cng = vehicle is not None
        holder_file = HolderFile(name=holder, price_level=price_level if cng else None)
        vehicle_file = None
        if vehicle is not None:
            vehicle_file = VehicleFile(
                cylinder_valid_until=vehicle.cylinder_valid_until, plate=vehicle.plate,
                cylinder_id=vehicle.cylinder_id, vehicle_class=card_class,
                consumption_mode=int(ConsumptionMode[mode.upper()]),
            )  # fmt: skip
        await access.issue(issuer, holder_file, vehicle_file)

    async def _replace(self, actor: Actor, request: m.DeskReplace) -> _Outcome:
        old_asn = check_asn(request.old_asn)
        old = await store.card(self.service.db, old_asn)
        if old is None:
            raise DeskError("not_found", f"card {old_asn} is not registered here: report it lost first")
        if old.replaced_by is not None or old.status == "replaced":
            raise DeskError("conflict", f"card {old_asn} was already replaced by {old.replaced_by}")
        if old.status not in ("lost", "damaged"):
            raise DeskError(
                "conflict", f"card {old_asn} is {old.status}: only a lost or damaged card is replaced"
            )
        async with self.service.db.transaction() as tx:
            known = await store.last_known_balance_in(tx, old_asn)
        if known is None:
            raise DeskError(
                "conflict",
                f"the balance of card {old_asn} is not known at this station (never read at the desk, no sale "
                "record): it cannot be moved safely",
            )
        access, image = await self._open_card()
        if image.asn == old_asn:
            raise DeskError("conflict", "the card in the reader is the old card itself")
        await self._refuse_status(image)
        if not image.issued:
            vehicle = await store.vehicle(self.service.db, old.vehicle_id) if old.vehicle_id else None
            await self._write_issue(access, image, old.holder, vehicle, old.mode, old.price_level, 1)
            image = await access.read()
        now = self.service.clock()
        amount = max(known[0], 0)
        new_row = store.CardRow(image.asn, old.kind, customer_id=old.customer_id, vehicle_id=old.vehicle_id,
                                holder=old.holder, mode=old.mode, price_level=old.price_level, issued_at=now)  # fmt: skip

        async def move(tx: Tx) -> None:
            await store.put_card_in(tx, new_row, actor=actor.username, now=now)
            await store.set_status_in(tx, old_asn, "replaced", actor=actor.username, now=now,
                                      reason=f"replaced by {image.asn}", replaced_by=image.asn)  # fmt: skip

        details = {"old_status": old.status, "balance_source": known[1]}
        self.service.statuses.set_desk(StatusEntry(old_asn, CardStatus.REPLACED, now))
        if amount == 0:
            op = await self.service.ledger.done(actor, "replace", image.asn, steps=[move], other_asn=old_asn,
                                                amount=0, details=details)  # fmt: skip
            return _Outcome(
                op, f"card {old_asn} replaced by {image.asn} (no balance to move)", await self._view(image)
            )
        op = OperationRow(
            new_key(), "replace", image.asn, OpState.INTENT, actor.username, actor.role, amount=amount,
            balance_before=image.balance, balance_after=image.balance + amount,
            counter_before=image.ep.online_counter, other_asn=old_asn, details=details,
        )  # fmt: skip
        await self.service.ledger.intent(op, steps=[move])
        _fault("intent")
        return await self._load(access, op, amount)

    # --- CNG and credit files --------------------------------------------------------------------------

    async def _cylinder(self, actor: Actor, request: m.DeskCylinder) -> _Outcome:
        try:
            until = dt.date.fromisoformat(request.valid_until)
        except ValueError:
            raise DeskError("bad_request", f"{request.valid_until!r} is not a date YYYY-MM-DD") from None
        if until < self._now().date():
            raise DeskError("bad_request", f"the new inspection date {until} is already past")
        access, image = await self._open_card(request.asn)
        await self._refuse_status(image)
        if image.vehicle is None:
            raise DeskError("bad_card", f"card {image.asn} is not a CNG card (no vehicle file)")
        previous = image.vehicle.cylinder_valid_until
        await access.set_cylinder_date(until)
        row = await store.card(self.service.db, image.asn)

        async def vehicle(tx: Tx) -> None:
            await self._register_seen(tx, image)
            if row is not None and row.vehicle_id is not None:
                await store.set_cylinder_in(tx, row.vehicle_id, until)

        op = await self.service.ledger.done(actor, "cylinder", image.asn, steps=[vehicle],
                                            details={"previous": previous, "valid_until": until})  # fmt: skip
        image = await access.read()
        return _Outcome(op, f"cylinder inspection valid until {until}", await self._view(image))

    async def _clear(self, actor: Actor, request: m.DeskClear) -> _Outcome:
        access, image = await self._open_card(request.asn)
        await self._refuse_status(image)
        credit = image.credit
        mode = image.vehicle.consumption_mode if image.vehicle is not None else 0
        if credit is None or ConsumptionMode(mode) not in (
            ConsumptionMode.CREDIT_AMOUNT,
            ConsumptionMode.CREDIT_VOLUME,
        ):
            raise DeskError("bad_card", f"card {image.asn} is not a credit card")
        used = image.balance
        await access.write(CreditFile(credit_line=credit.credit_line, last_cleared=self._now().date(),
                                      last_cleared_amount=used))  # fmt: skip
        op = await self.service.ledger.done(actor, "clear", image.asn, amount=used,
                                            details={"credit_line": credit.credit_line})  # fmt: skip
        image = await access.read()
        return _Outcome(op, f"credit card cleared: {used} settled", await self._view(image))


def _verdict(op: OperationRow, image: CardImage) -> topup.Verdict:
    assert op.balance_before is not None and op.balance_after is not None
    if op.kind == "unlock":
        return topup.judge_unlock(op.balance_before, op.balance_after, image.balance, image.is_grey)
    return topup.judge(topup.Expectation(op.balance_before, op.balance_after, op.counter_before),
                       image.balance, image.ep.online_counter)  # fmt: skip
