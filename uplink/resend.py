"""The centre's "send records again since …" request: stored records back into the outbox.

Layer: uplink. Reads the `transactions` table a page at a time (each page its own short read and its
own enqueue transaction, so the dispenser lines keep the database between pages), builds each
record's message exactly as when it was first queued (same bytes, same key) and queues it with
INSERT OR IGNORE: a record still waiting in the outbox is not queued twice. At most `max_records`
records per request; the reply says where to continue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Final

from protocol.errors import ProtocolError
from storage.outbox import OutboxMessage
from storage.uplink_store import UplinkStore
from uplink.documents import Document, ResendDocument
from uplink.errors import ApplyError
from uplink.messages import MessageFactory

log = logging.getLogger(__name__)

PAGE_ROWS: Final = 250


class Resender:
    def __init__(
        self,
        store: UplinkStore,
        factory: MessageFactory,
        *,
        max_records: int = 200_000,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        self._store = store
        self._factory = factory
        self._max_records = max_records
        self._on_queued = on_queued

    async def __call__(self, doc: Document) -> str | None:
        content = doc.content
        if not isinstance(content, ResendDocument):  # pragma: no cover - dispatched by kind
            raise ApplyError("not a resend document")
        after = 0
        seen = queued = 0
        while seen < self._max_records:
            rows = await self._store.transactions_page(
                after,
                content.since,
                min(PAGE_ROWS, self._max_records - seen),
                line=content.line,
                dispenser=content.dispenser,
            )
            if not rows:
                break
            msgs: list[OutboxMessage] = []
            for row in rows:
                try:
                    msgs.append(
                        self._factory.record_from_raw(
                            row.line, row.dispenser, row.raw, conflict=row.conflict_of is not None
                        )
                    )
                except ProtocolError as exc:  # pragma: no cover - the journal stores only decodable records
                    log.error("re-send: stored record %d does not decode: %s", row.id, exc)
            queued += await self._store.enqueue(msgs)
            seen += len(rows)
            after = rows[-1].id
            if self._on_queued is not None:
                self._on_queued()
            await asyncio.sleep(0)
        note = f"{seen} records since {content.since.isoformat()}, {queued} queued ({seen - queued} were still queued)"
        if seen >= self._max_records:
            note += f"; limit {self._max_records} reached after transaction id {after}: ask again"
        log.info("re-send: %s", note)
        return note
