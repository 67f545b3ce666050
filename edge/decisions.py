"""Card decisions as events and as stored rows: `CardDecision` and the `DecisionRecorder`.

Layer: edge (adapter between the rules, the event bus and `storage.decisions`). Every decision the
station makes on the wire (0x36 list query, 0x35 grey query, and a 0x31 re-check) is stored durably
and published on the bus as a `CardDecision` (an ordered event: never coalesced), which the terminal UI
shows to the attendant as `{asn, line, dispenser, nzn, allowed, reason, reason_name, words, warnings}`.
A decision that cannot be stored is still answered and published; the failure is logged and raised as
the `decisions_not_stored` alarm.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Mapping
from typing import Any

from edge.core.alarms import AlarmSink
from edge.events import CardDecision, EventBus
from edge.rules import Decision, RuleWarning
from edge.storage_health import StorageHealth
from storage.decisions import DecisionLog, StoredDecision
from storage.errors import StorageError

__all__ = ["CardDecision", "DecisionRecorder", "card_decision", "warning_dict"]

log = logging.getLogger(__name__)

ALARM_SOURCE = "rules"
ALARM_NOT_STORED = "decisions_not_stored"


def warning_dict(warning: RuleWarning) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": warning.kind.value, "words": warning.words}
    if warning.due is not None:
        out["due"] = warning.due.isoformat()
    if warning.amount is not None:
        out["amount"] = warning.amount
    if warning.plate:
        out["plate"] = warning.plate
    return out


def decision_details(decision: Decision) -> dict[str, Any]:
    """The parts of a rules `Decision` worth keeping beside the reason."""
    out: dict[str, Any] = {
        "price_level": decision.price_level,
        "mode": decision.consumption_mode.name.lower(),
    }
    if decision.detail:
        out["detail"] = decision.detail
        out["detail_facts"] = dict(decision.detail_facts)
    for name in ("unit_price", "max_amount", "max_volume"):
        value = getattr(decision, name)
        if value is not None:
            out[name] = value
    if decision.grey_unlock is not None:
        verdict = decision.grey_unlock
        out["grey_unlock"] = {
            "allowed": verdict.allowed,
            "rule": None if verdict.rule is None else verdict.rule.value,
            "unlockable_from": None
            if verdict.unlockable_from is None
            else verdict.unlockable_from.isoformat(),
        }
    return out


class DecisionRecorder:
    """Stores each decision (`DecisionLog`) and publishes it (`CardDecision`)."""

    def __init__(self, log_: DecisionLog, bus: EventBus, alarms: AlarmSink | None = None) -> None:
        self._log = log_
        self._bus = bus
        self._alarms = alarms
        self._health = (
            None
            if alarms is None
            else StorageHealth(
                ALARM_SOURCE,
                alarms,
                bus,
                dt.datetime.now,
                code=ALARM_NOT_STORED,
                severity="major",
                what="card decisions",
            )
        )
        self.stored = 0
        self.failed = 0

    async def record(self, decision: StoredDecision, now: dt.datetime) -> CardDecision:
        """Store, then publish; returns the event published."""
        try:
            await self._log.append(decision)
            self.stored += 1
            if self._health is not None and self._health.failing:
                await self._health.stored()
        except StorageError as exc:
            self.failed += 1
            if self._health is not None:  # one alarm, rate-limited log lines, cleared on recovery
                await self._health.failed(exc)
            else:
                log.error("card decision for %s not stored: %s", decision.asn, exc)
        event = CardDecision(
            asn=decision.asn,
            line=decision.line,
            dispenser=decision.dispenser,
            nzn=decision.nzn,
            allowed=decision.allowed,
            reason=decision.reason,
            reason_name=decision.reason_name,
            words=decision.words,
            warnings=tuple(str(w.get("words", "")) for w in decision.warnings),
            warning_facts=tuple(decision.warnings),
            kind=decision.kind,
            m_flag=decision.m_flag,
            generation=decision.generation,
            at=now,
            details=dict(decision.details),
        )
        self._bus.publish(event)
        return event


def card_decision(stored: StoredDecision) -> CardDecision:
    """The event of a decision read back from the table (what viewers get after a restart)."""
    return CardDecision(
        asn=stored.asn,
        line=stored.line,
        dispenser=stored.dispenser,
        nzn=stored.nzn,
        allowed=stored.allowed,
        reason=stored.reason,
        reason_name=stored.reason_name,
        words=stored.words,
        warnings=tuple(str(w.get("words", "")) for w in stored.warnings),
        warning_facts=tuple(stored.warnings),
        kind=stored.kind,
        m_flag=stored.m_flag,
        generation=stored.generation,
        at=stored.local_at,
        details=dict(stored.details),
    )


def stored_from(
    decision: Decision,
    *,
    kind: str,
    line: str,
    dispenser: int,
    nzn: int,
    asn: str,
    now: dt.datetime,
    m_flag: int | None,
    generation: int,
    extra: Mapping[str, Any] | None = None,
) -> StoredDecision:
    """The row for a rules `Decision`."""
    details = decision_details(decision)
    details.update(extra or {})
    return StoredDecision(
        line=line,
        dispenser=dispenser,
        nzn=nzn,
        asn=asn,
        kind=kind,
        allowed=decision.allowed,
        reason=int(decision.reason),
        reason_name=decision.reason.name,
        words=decision.words,
        local_at=now,
        warnings=tuple(warning_dict(w) for w in decision.warnings),
        m_flag=m_flag,
        generation=generation,
        details=details,
    )


def replace_words(decision: StoredDecision, words: str) -> StoredDecision:
    return dataclasses.replace(decision, words=words)
