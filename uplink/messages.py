"""Outbox messages for the facts the station reports: payload + topic + key, ready to enqueue.

Layer: uplink (pure). `MessageFactory` turns domain objects (a journal record, an alarm row, a totals
reading …) into `storage.outbox.OutboxMessage`s; the payload types and their serialisation live in
`uplink.payloads`, the topics in `uplink.topics`. Nothing here touches the database: the caller
writes the messages in the same transaction as the fact they report.

`RecordUplink.for_result` is the `Services.outbox_for_record` hook of the session:

    journal.store_record(line, pos_p, record, raw, received_at=now,
                         outbox=services.outbox_for_record(line, pos_p, record, raw))

so a record and its uplink message commit together; the journal calls the returned function with its
store result inside the transaction, so a conflicting copy (spec B8) is queued as `conflict: true`
under its own key (`rec:…:c:{digest}`) and a centre that drops duplicates by key still receives it. A record payload is a pure function of the
station, the line, the dispenser and the raw 95 bytes: a re-send (after an outage, or on the
centre's request from the `transactions` table) is byte-identical to the first copy.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from edge.core.centre import RecordOutbox
from edge.core.routes import DeviceFact
from protocol.codec import decode_message
from protocol.errors import ProtocolError
from protocol.messages import Direction, RecordUpload, Totals
from protocol.record import TransactionRecord
from protocol.words import kind_name
from storage.clock import iso_instant, iso_local
from storage.decisions import StoredDecision
from storage.journal import StoreOutcome, StoreResult
from storage.outbox import OutboxMessage
from storage.uplink_store import AlarmChange
from uplink import payloads as p
from uplink.topics import topic

RECORD_COMMAND = 0x32


def record_time(value: dt.datetime | str) -> str:
    return iso_local(value) if isinstance(value, dt.datetime) else str(value)


def decode_raw_record(raw: bytes) -> TransactionRecord:
    """The record in 95 raw bytes (as stored in `transactions.raw`); `ProtocolError` if it is not one."""
    msg = decode_message(bytes((RECORD_COMMAND,)) + raw, Direction.P)
    if not isinstance(msg, RecordUpload):  # pragma: no cover - 0x32 P always decodes to RecordUpload
        raise ProtocolError("not a record")
    return msg.record


class MessageFactory:
    """Builds the outbox messages of one station."""

    def __init__(self, station: str) -> None:
        topic(station, p.RecordPayload.STREAM)  # validates the station id
        self.station = station

    def message(self, payload: p.Payload, qos: int = 1) -> OutboxMessage:
        """The outbox row for any payload: its stream's topic, its key, its encoded bytes."""
        return OutboxMessage(topic(payload.station, payload.STREAM), payload.key, p.encode(payload), qos)

    # --- records ------------------------------------------------------------------------------

    def record_payload(
        self, line: str, dispenser: int, record: TransactionRecord, raw: bytes, *, conflict: bool = False
    ) -> p.RecordPayload:
        return p.RecordPayload(
            station=self.station,
            line=line,
            dispenser=dispenser,
            pos_ttc=record.pos_ttc,
            t_type=record.t_type,
            kind=kind_name(record.t_type),
            time=record_time(record.time),
            asn=record.asn,
            bal=record.bal,
            amn=record.amn,
            ctc=record.ctc,
            ds=record.ds,
            unit=record.unit,
            c_type=record.c_type,
            nzn=record.nzn,
            g_code=record.g_code,
            vol=record.vol,
            prc=record.prc,
            emp=record.emp,
            v_tot=record.v_tot,
            raw=raw.hex(),
            conflict=conflict,
        )

    def record(
        self, line: str, dispenser: int, record: TransactionRecord, raw: bytes, *, conflict: bool = False
    ) -> OutboxMessage:
        return self.message(self.record_payload(line, dispenser, record, raw, conflict=conflict))

    def record_from_raw(
        self, line: str, dispenser: int, raw: bytes, *, conflict: bool = False
    ) -> OutboxMessage:
        """The message of a stored record (re-send): the same bytes as when it was first queued."""
        return self.record(line, dispenser, decode_raw_record(raw), raw, conflict=conflict)

    # --- events -------------------------------------------------------------------------------

    def alarm(self, state: AlarmChange) -> OutboxMessage:
        return self.message(
            p.AlarmPayload(
                station=self.station,
                alarm_id=state.alarm_id,
                source=state.source,
                code=state.code,
                severity=state.severity,
                message=state.message,
                count=state.count,
                raised_at=state.raised_at,
                last_seen=state.last_seen,
                state="cleared" if state.cleared_at is not None else "raised",
                cleared_at=state.cleared_at,
                details=dict(state.details),
            )
        )

    def dispenser(self, line: str, dispenser: int, online: bool, at: dt.datetime) -> OutboxMessage:
        return self.message(p.DispenserPayload(self.station, line, dispenser, online, iso_instant(at)))

    def device(self, fact: DeviceFact) -> OutboxMessage:
        """A field device's report (`edge.core.routes.DeviceFact`), queued by the bus bridge."""
        return self.message(
            p.DevicePayload(
                self.station, fact.kind, fact.device, fact.event, iso_instant(fact.at), dict(fact.fields)
            )
        )

    def totals(self, line: str, dispenser: int, totals: Totals, read_at: dt.datetime) -> OutboxMessage:
        """For `Journal.store_totals(..., outbox=[factory.totals(...)])`: same transaction as the reading."""
        items = tuple(p.NozzleTotalItem(t.nzn, t.v_tot) for t in totals.totals)
        return self.message(p.TotalsPayload(self.station, line, dispenser, iso_instant(read_at), items))

    def decision(
        self,
        line: str,
        dispenser: int,
        nzn: int,
        asn: str,
        allowed: bool,
        reason: str,
        at: dt.datetime,
        *,
        kind: str = "",
        details: Mapping[str, Any] | None = None,
    ) -> OutboxMessage:
        """A rule decision; the rules write it in the transaction that logs the decision."""
        return self.message(
            p.DecisionPayload(
                self.station,
                line,
                dispenser,
                nzn,
                asn,
                allowed,
                reason,
                iso_instant(at),
                kind,
                dict(details or {}),
            )
        )

    def shift(
        self,
        shift_id: str,
        event: str,
        at: dt.datetime,
        operator: str,
        *,
        handed_to: str = "",
        summary: Mapping[str, Any] | None = None,
    ) -> OutboxMessage:
        """A shift opened / closed; written in the transaction of the shift row."""
        return self.message(
            p.ShiftPayload(
                self.station, shift_id, event, iso_instant(at), operator, handed_to, dict(summary or {})
            )
        )

    def day_close(
        self,
        day: str,
        closed_at: str,
        operator: str,
        last_record_id: int,
        digest: str,
        figures: Mapping[str, Any],
    ) -> OutboxMessage:
        """A business day closed; written in the closing transaction."""
        return self.message(
            p.DayClosePayload(self.station, day, closed_at, operator, last_record_id, digest, dict(figures))
        )

    def reply(
        self,
        audit_id: int,
        outcome: str,
        reason: str,
        detail: str,
        at: dt.datetime,
        *,
        doc: str = "",
        kind: str = "",
        version: int = 0,
    ) -> OutboxMessage:
        return self.message(
            p.ReplyPayload(
                self.station, audit_id, outcome, reason, detail[:500], iso_instant(at), doc, kind, version
            )
        )


class RecordUplink:
    """The `Services.outbox_for_record` hook: the uplink message of a newly stored record."""

    def __init__(self, factory: MessageFactory) -> None:
        self._factory = factory

    def __call__(
        self, line: str, pos_p: int, record: TransactionRecord, raw: bytes
    ) -> Sequence[OutboxMessage]:
        """The message for a NEW record (the journal queues nothing for a duplicate)."""
        return [self._factory.record(line, pos_p, record, raw)]

    def for_result(
        self, line: str, pos_p: int, record: TransactionRecord, raw: bytes
    ) -> Callable[[StoreResult], Sequence[OutboxMessage]]:
        """Result-aware variant for `store_record(outbox=...)`: a CONFLICT copy gets its own key
        (`…:c:<digest>`), so the centre receives it instead of dropping it as a duplicate."""

        def build(result: StoreResult) -> Sequence[OutboxMessage]:
            conflict = result.outcome is StoreOutcome.CONFLICT
            return [self._factory.record(line, pos_p, record, raw, conflict=conflict)]

        return build


class CentreMessages:
    """The station's `edge.core.centre.CentreOutbox`: what each stored fact queues for the centre in its
    own transaction (records, totals readings, rule decisions, shifts)."""

    def __init__(self, factory: MessageFactory) -> None:
        self.factory = factory
        self._records = RecordUplink(factory)

    def for_record(self, line: str, dispenser: int, record: TransactionRecord, raw: bytes) -> RecordOutbox:
        """Result-aware: a conflicting copy (B8) is queued as `conflict: true` under its own key."""
        return self._records.for_result(line, dispenser, record, raw)

    def for_totals(
        self, line: str, dispenser: int, totals: Totals, read_at: dt.datetime
    ) -> Sequence[OutboxMessage]:
        return [self.factory.totals(line, dispenser, totals, read_at)]

    def for_decision(self, decision: StoredDecision, row_id: int) -> Sequence[OutboxMessage]:
        d = decision
        return [
            self.factory.decision(
                d.line,
                d.dispenser,
                d.nzn,
                d.asn,
                d.allowed,
                d.reason_name,
                d.at or dt.datetime.now(dt.UTC),
                kind=d.kind,
                details={"decision_id": row_id, "reason": d.reason, "words": d.words, **dict(d.details)},
            )
        ]

    def for_shift(
        self,
        shift_id: str,
        event: str,
        at: dt.datetime,
        operator: str,
        *,
        handed_to: str = "",
        summary: Mapping[str, Any] | None = None,
    ) -> Sequence[OutboxMessage]:
        return [self.factory.shift(shift_id, event, at, operator, handed_to=handed_to, summary=summary)]

    def for_day_close(
        self,
        day: str,
        closed_at: str,
        operator: str,
        last_record_id: int,
        digest: str,
        figures: Mapping[str, Any],
    ) -> Sequence[OutboxMessage]:
        return [self.factory.day_close(day, closed_at, operator, last_record_id, digest, figures)]

    def for_device(self, fact: DeviceFact) -> Sequence[OutboxMessage]:
        return [self.factory.device(fact)]
