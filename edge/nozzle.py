"""The nozzle state machine: pure `transition(status, event) -> (status, effects)`.

Layer: edge (pure core). Fed by what a dispenser reports:

    0x31 ST=1 card inserted ─────────▶ CARD_INSERTED
    0x31 ST=2 with AMN = VOL = 0 ─────▶ NOZZLE_UP
    0x31 ST=2 with AMN or VOL > 0 ────▶ FUELLING
    nozzle absent from a 0x31 report ─▶ IDLE (from CARD_INSERTED), FINISHED (from NOZZLE_UP/FUELLING)
    0x32 record of the nozzle ────────▶ FINISHED with the sale's figures
    FINISHED older than FINISHED_HOLD_S ▶ IDLE (on a Tick)
    dispenser offline / online ───────▶ OFFLINE / IDLE

Effects are the events to publish: a new `NozzleStatus` when anything visible changed, and a
`CardPresented` when a card was inserted.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from typing import Any

from edge.errors import EdgeError
from edge.events import CardPresented, NozzleState, NozzleStatus
from protocol.messages import CardInserted, Fuelling
from protocol.record import TransactionRecord, TxKind

FINISHED_HOLD_S = 5.0


@dataclass(frozen=True, slots=True)
class Reported:
    """The nozzle appears in a 0x31 report."""

    entry: CardInserted | Fuelling
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class NotReported:
    """A 0x31 report arrived that does not mention the nozzle (idle nozzles are not reported)."""

    at: dt.datetime


@dataclass(frozen=True, slots=True)
class RecordSeen:
    record: TransactionRecord
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class Connectivity:
    online: bool
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class Tick:
    at: dt.datetime


NozzleEvent = Reported | NotReported | RecordSeen | Connectivity | Tick


class UnknownNozzleEvent(EdgeError, TypeError):
    """`transition` was given something that is not a `NozzleEvent`."""


def transition(status: NozzleStatus, event: NozzleEvent) -> tuple[NozzleStatus, list[Any]]:
    """Next status of a nozzle and the events to publish."""
    new = status
    effects: list[Any] = []
    match event:
        case Reported(entry=CardInserted() as card, at=at):
            new = replace(status, state=NozzleState.CARD_INSERTED, asn=card.asn, amn=0, vol=0, at=at)
            if status.state is not NozzleState.CARD_INSERTED or status.asn != card.asn:
                effects.append(
                    CardPresented(status.line, status.dispenser, status.nzn, card.asn, card.bal, at)
                )
        case Reported(entry=Fuelling() as fuel, at=at):
            state = NozzleState.FUELLING if (fuel.amn or fuel.vol) else NozzleState.NOZZLE_UP
            new = replace(status, state=state, amn=fuel.amn, vol=fuel.vol, prc=fuel.prc, at=at)
        case NotReported(at=at):
            if status.state is NozzleState.CARD_INSERTED:
                new = replace(status, state=NozzleState.IDLE, asn="", amn=0, vol=0, at=at)
            elif status.state in (NozzleState.NOZZLE_UP, NozzleState.FUELLING):
                new = replace(status, state=NozzleState.FINISHED, at=at)
        case RecordSeen(record=rec, at=at):
            if rec.kind in (TxKind.ON_DUTY, TxKind.OFF_DUTY):
                new = replace(status, emp=rec.emp if rec.kind is TxKind.ON_DUTY else 255, at=at)
                if status.state is NozzleState.OFFLINE:
                    new = replace(new, state=NozzleState.OFFLINE)
            elif rec.kind is not TxKind.PRICE_RECEIPT:
                new = replace(
                    status,
                    state=NozzleState.FINISHED,
                    asn=rec.asn,
                    amn=rec.amn,
                    vol=rec.vol,
                    prc=rec.prc,
                    g_code=rec.g_code or status.g_code,
                    at=at,
                )
        case Connectivity(online=online, at=at):
            if not online:
                new = replace(status, state=NozzleState.OFFLINE, at=at)
            elif status.state is NozzleState.OFFLINE:
                new = replace(status, state=NozzleState.IDLE, asn="", amn=0, vol=0, at=at)
        case Tick(at=at):
            if status.state is NozzleState.FINISHED and (at - status.at).total_seconds() >= FINISHED_HOLD_S:
                new = replace(status, state=NozzleState.IDLE, asn="", amn=0, vol=0, at=at)
        case _:
            raise UnknownNozzleEvent(f"not a nozzle event: {event!r}")
    if _visible(new) != _visible(status):
        effects.insert(0, new)
    return new, effects


def _visible(status: NozzleStatus) -> tuple[object, ...]:
    return (status.state, status.asn, status.amn, status.vol, status.prc, status.emp, status.g_code)
