"""The downlink: signed documents from the centre, verified, applied whole, audited, answered.

Layer: uplink. `Downlink.handle(topic, message)` takes one MQTT message from `station/{id}/down` and
never raises for bad input. The pipeline (cheap checks first, nothing applied before the end):

    size ≤ max_part_bytes ─ JSON part ─ signature present ─ part schema ─ declared size ≤ limit
      └▶ assembler (chunks, bounded) ─ complete? ─ size and SHA-256 match the document id
           └▶ Ed25519 signature over the exact body bytes (any configured centre key)
                └▶ body schema ─ target station ─ kind payload schema (typed)
                     └▶ not expired ─ not already applied (replay) ─ version above the one in force
                          └▶ applier (all or nothing) ─▶ document + audit + reply: ONE transaction

Every refusal is one `uplink_audit` row plus a reply on `station/{id}/reply` (queued in the outbox in
the same transaction as the audit row), with the reason (`uplink.errors.Reason`). A document never
completed (parts missing) is audited `incomplete` when the assembler gives it up. Large bodies are
verified and parsed in a worker thread so that the event loop (the dispenser lines) keeps running.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from storage.clock import Clock, iso_instant, utc_now
from storage.errors import StorageError
from storage.uplink_store import AuditEntry, DocumentRow, UplinkStore
from uplink.appliers import Appliers
from uplink.assembler import Assembler
from uplink.documents import Document, ListsDocument, parse_payload, summary
from uplink.envelope import ANY_STATION, Part, parse_body, parse_part, verify
from uplink.errors import ApplyError, DownlinkRejected, Reason
from uplink.messages import MessageFactory

log = logging.getLogger(__name__)

INLINE_VERIFY_BYTES: Final = 64 * 1024
"""Bodies above this size are verified and parsed in a worker thread."""
BODY_KINDS_NOT_STORED: Final = frozenset({"lists"})
"""Kinds whose body is not kept in `uplink_documents` (the list store holds the lists)."""


class Outcome(StrEnum):
    PENDING = "pending"
    APPLIED = "applied"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class DownlinkLimits:
    max_part_bytes: int = 256 * 1024
    max_document_bytes: int = 32 * 1024 * 1024
    max_pending_docs: int = 4
    assembly_timeout_s: float = 600.0


@dataclass(slots=True)
class DownlinkStats:
    parts: int = 0
    applied: int = 0
    rejected: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    last: dict[str, Any] = field(default_factory=dict)


def verify_document(keys: Sequence[Ed25519PublicKey], station: str, part: Part, body: bytes) -> Document:
    """Signature, body schema, target station and payload schema of a complete body (pure, thread-safe)."""
    if not verify(keys, body, part.sig):
        raise DownlinkRejected(Reason.BAD_SIGNATURE, "the signature does not verify with any centre key")
    parsed = parse_body(body)
    if parsed.station not in (station, ANY_STATION):
        raise DownlinkRejected(Reason.WRONG_STATION, f"document is for station {parsed.station[:40]!r}")
    content = parse_payload(parsed.kind, parsed.payload)
    return Document(part.doc, parsed, content, body, part.sig)


class Downlink:
    def __init__(
        self,
        station: str,
        store: UplinkStore,
        factory: MessageFactory,
        keys: Sequence[Ed25519PublicKey],
        appliers: Appliers,
        *,
        limits: DownlinkLimits = DownlinkLimits(),
        clock: Clock = utc_now,
        on_reply: Callable[[], None] | None = None,
    ) -> None:
        self._station = station
        self._store = store
        self._factory = factory
        self._keys = tuple(keys)
        self._appliers = appliers
        self._limits = limits
        self._clock = clock
        self._on_reply = on_reply
        self._assembler = Assembler(
            max_docs=limits.max_pending_docs,
            max_bytes=2 * limits.max_document_bytes,
            timeout_s=limits.assembly_timeout_s,
        )
        self._lock = asyncio.Lock()
        self.stats = DownlinkStats()

    @property
    def pending_docs(self) -> int:
        return self._assembler.pending_docs

    def next_deadline(self) -> float | None:
        return self._assembler.next_deadline()

    async def handle(self, topic: str, message: bytes) -> Outcome:
        """Process one downlink message (in arrival order: callers serialise, and so does a lock)."""
        async with self._lock:
            self.stats.parts += 1
            part: Part | None = None
            doc: Document | None = None
            try:
                part = parse_part(
                    message,
                    max_part_bytes=self._limits.max_part_bytes,
                    max_document_bytes=self._limits.max_document_bytes,
                )
                body = self._assembler.add(part)
                if body is None:
                    return Outcome.PENDING
                if len(body) > INLINE_VERIFY_BYTES:
                    doc = await asyncio.to_thread(verify_document, self._keys, self._station, part, body)
                else:
                    doc = verify_document(self._keys, self._station, part, body)
                await self._check_fresh(doc)
                note = await self._apply(doc)
                await self._commit(doc, note, topic)
                return Outcome.APPLIED
            except DownlinkRejected as exc:
                doc_id = doc.id if doc else part.doc if part else ""
                kind, version = (doc.kind.value, doc.version) if doc else ("", 0)
                await self._reject(exc.reason, exc.detail, topic, len(message), doc_id, kind, version)
                return Outcome.REJECTED
            finally:
                await self._audit_dropped(topic)

    async def expire(self, topic: str = "") -> None:
        """Audit documents the assembler gave up (call when `next_deadline()` passes)."""
        async with self._lock:
            await self._audit_dropped(topic)

    async def _check_fresh(self, doc: Document) -> None:
        now = self._clock()
        if doc.body.expires_at is not None and doc.body.expires_at < now:
            raise DownlinkRejected(Reason.EXPIRED, f"expired at {iso_instant(doc.body.expires_at)}")
        if await self._store.has_document(doc.id):
            raise DownlinkRejected(Reason.REPLAYED, f"{doc.kind} v{doc.version} was applied already")
        current = await self._store.latest_version(doc.kind.value)
        if doc.version <= current:
            raise DownlinkRejected(
                Reason.STALE, f"{doc.kind} v{doc.version} is not above v{current} in force"
            )

    async def _apply(self, doc: Document) -> str | None:
        applier = self._appliers.get(doc.kind)
        if applier is None:
            return None
        try:
            return await applier(doc)
        except ApplyError as exc:
            raise DownlinkRejected(exc.reason, str(exc)) from exc

    async def _commit(self, doc: Document, note: str | None, topic: str) -> None:
        kind = doc.kind.value
        row = DocumentRow(
            kind=kind,
            version=doc.version,
            doc=doc.id,
            issued_at=iso_instant(doc.body.issued_at),
            sig=doc.sig.hex(),
            body=None if isinstance(doc.content, ListsDocument) else doc.raw,
            summary=summary(doc),
        )
        detail = note or "applied"
        entry = AuditEntry("applied", "ok", detail, doc.id, kind, doc.version, len(doc.raw), topic)
        now = self._clock()
        try:
            await self._store.commit_document(
                row,
                entry,
                lambda audit_id: self._factory.reply(
                    audit_id, "applied", "ok", detail, now, doc=doc.id, kind=kind, version=doc.version
                ),
            )
        except StorageError:
            log.exception("downlink: %s v%d applied but not recorded", kind, doc.version)
            raise
        self.stats.applied += 1
        self.stats.last = {"outcome": "applied", "kind": kind, "version": doc.version, "at": iso_instant(now)}
        log.info("downlink: %s v%d applied (%s)", kind, doc.version, detail)
        self._replied()

    async def _reject(
        self,
        reason: Reason,
        detail: str,
        topic: str,
        size: int,
        doc_id: str = "",
        kind: str = "",
        version: int = 0,
    ) -> None:
        self.stats.rejected += 1
        self.stats.by_reason[reason.value] = self.stats.by_reason.get(reason.value, 0) + 1
        now = self._clock()
        self.stats.last = {"outcome": "rejected", "reason": reason.value, "at": iso_instant(now)}
        log.warning("downlink: rejected (%s): %s [doc %s]", reason.value, detail, doc_id[:16] or "-")
        entry = AuditEntry("rejected", reason.value, detail, doc_id, kind, version, size, topic)
        try:
            await self._store.record_audit(
                entry,
                lambda audit_id: self._factory.reply(
                    audit_id, "rejected", reason.value, detail, now, doc=doc_id, kind=kind, version=version
                ),
            )
        except StorageError:
            log.exception("downlink: cannot audit a rejected message")
            return
        self._replied()

    async def _audit_dropped(self, topic: str) -> None:
        for dropped in self._assembler.take_dropped():
            detail = f"{dropped.received_parts} of {dropped.parts} parts: {dropped.why}"
            await self._reject(Reason.INCOMPLETE, detail, topic, dropped.size, dropped.doc)

    def _replied(self) -> None:
        if self._on_reply is not None:
            self._on_reply()
