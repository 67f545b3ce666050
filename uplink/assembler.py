"""Reassembly of chunked downlink documents, bounded in count, bytes and time.

Layer: uplink (pure; the clock is injected). Parts of one document (same `doc` id) are kept until all
`parts` have arrived, then joined in index order and checked against the declared size and the
SHA-256 document id. The signature is verified by the caller on the complete body: a document is
used only whole. Memory is bounded: at most `max_docs` documents and `max_bytes` declared bytes are
pending; a new document beyond that evicts the oldest pending one, and a document not complete
within `timeout_s` of its first part is dropped. Dropped documents are reported by `take_dropped()`
so the caller can audit them (reason `incomplete`) and the centre can send them again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from uplink.envelope import Part, document_id
from uplink.errors import DownlinkRejected, Reason


@dataclass(slots=True)
class _Pending:
    first: Part
    started: float
    chunks: dict[int, bytes] = field(default_factory=dict)
    received: int = 0


@dataclass(frozen=True, slots=True)
class Dropped:
    """A document given up before it was complete."""

    doc: str
    size: int
    parts: int
    received_parts: int
    why: str


class Assembler:
    def __init__(
        self,
        *,
        max_docs: int = 4,
        max_bytes: int = 64 * 1024 * 1024,
        timeout_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_docs = max_docs
        self._max_bytes = max_bytes
        self._timeout_s = timeout_s
        self._clock = clock
        self._pending: dict[str, _Pending] = {}
        self._dropped: list[Dropped] = []

    @property
    def pending_docs(self) -> int:
        return len(self._pending)

    @property
    def pending_bytes(self) -> int:
        return sum(p.received for p in self._pending.values())

    def take_dropped(self) -> list[Dropped]:
        """Documents dropped (evicted or timed out) since the last call."""
        self.expire()
        out, self._dropped = self._dropped, []
        return out

    def next_deadline(self) -> float | None:
        """Clock value at which the oldest pending document times out (None: nothing pending)."""
        if not self._pending:
            return None
        return min(p.started for p in self._pending.values()) + self._timeout_s

    def expire(self) -> None:
        now = self._clock()
        for doc, pending in list(self._pending.items()):
            if now - pending.started >= self._timeout_s:
                self._drop(doc, f"not complete within {self._timeout_s:g} s")

    def _drop(self, doc: str, why: str) -> None:
        pending = self._pending.pop(doc)
        self._dropped.append(Dropped(doc, pending.first.size, pending.first.count, len(pending.chunks), why))

    def add(self, part: Part) -> bytes | None:
        """Take one part; returns the whole body once complete and intact, else None.

        Raises `DownlinkRejected` for a part that contradicts its document (the part is ignored, the
        rest of the document stays pending) or a complete document whose size or digest is wrong."""
        self.expire()
        if part.count == 1:
            return _checked(part, part.data)
        pending = self._pending.get(part.doc)
        if pending is None:
            declared = sum(p.first.size for p in self._pending.values())
            while self._pending and (
                len(self._pending) >= self._max_docs or declared + part.size > self._max_bytes
            ):
                oldest = min(self._pending, key=lambda d: self._pending[d].started)
                declared -= self._pending[oldest].first.size
                self._drop(oldest, "evicted by a newer document")
            if part.size > self._max_bytes:
                raise DownlinkRejected(Reason.OVERSIZED, f"document of {part.size} bytes cannot be held")
            pending = self._pending[part.doc] = _Pending(part, self._clock())
        first = pending.first
        if (part.count, part.size, part.sig) != (first.count, first.size, first.sig):
            raise DownlinkRejected(Reason.MALFORMED, f"part {part.index} disagrees with part {first.index}")
        known = pending.chunks.get(part.index)
        if known is not None:
            if known != part.data:
                raise DownlinkRejected(Reason.MALFORMED, f"part {part.index} received twice, different")
            return None
        if pending.received + len(part.data) > first.size:
            raise DownlinkRejected(Reason.MALFORMED, f"parts exceed the declared {first.size} bytes")
        pending.chunks[part.index] = part.data
        pending.received += len(part.data)
        if len(pending.chunks) < first.count:
            return None
        del self._pending[part.doc]
        body = b"".join(pending.chunks[i] for i in range(first.count))
        return _checked(first, body)


def _checked(part: Part, body: bytes) -> bytes:
    if len(body) != part.size:
        raise DownlinkRejected(Reason.TRUNCATED, f"document has {len(body)} of {part.size} bytes")
    if document_id(body) != part.doc:
        raise DownlinkRejected(Reason.TRUNCATED, "document bytes do not match their id (SHA-256)")
    return body
