"""The centre's documents in force: what the rules and the daemon read after the downlink stored them.

Layer: uplink. Each applied document's exact signed body is kept in `uplink_documents` (newest
version per kind in force, a short history behind it); this module parses them back into the typed
contents of `uplink.documents`:

    docs = CentreDocuments(UplinkStore(db))
    prices = await docs.prices_in_force(now_local)     # the newest table whose effective_at <= now
    calendar = await docs.calendar()                   # CalendarDocument | None
    settings = await docs.config()                     # ConfigDocument | None
    greys = await docs.grey_records()                  # GreyDocument | None

Nothing here is cached: callers keep what they read and ask again when `version(kind)` changes.
"""

from __future__ import annotations

import datetime as dt

from storage.uplink_store import DocumentRow, UplinkStore
from uplink.documents import (
    CalendarDocument,
    ConfigDocument,
    Content,
    GreyDocument,
    PricesDocument,
    parse_payload,
)
from uplink.envelope import DocKind, parse_body


def _content(row: DocumentRow) -> Content | None:
    if row.body is None:
        return None
    body = parse_body(row.body)
    return parse_payload(body.kind, body.payload)


class CentreDocuments:
    def __init__(self, store: UplinkStore) -> None:
        self._store = store

    async def version(self, kind: DocKind) -> int:
        """The version in force (0: none received yet)."""
        return await self._store.latest_version(kind.value)

    async def current(self, kind: DocKind) -> Content | None:
        row = await self._store.document(kind.value)
        return None if row is None else _content(row)

    async def prices_in_force(self, at: dt.datetime) -> PricesDocument | None:
        """The newest price table already effective at the naive local time `at`."""
        for row in await self._store.documents(DocKind.PRICES.value):
            content = _content(row)
            if isinstance(content, PricesDocument) and content.effective_at <= at:
                return content
        return None

    async def prices_pending(self, at: dt.datetime) -> list[PricesDocument]:
        """Price tables received but not effective yet at `at`, soonest first."""
        pending = [
            c
            for row in await self._store.documents(DocKind.PRICES.value)
            if isinstance(c := _content(row), PricesDocument) and c.effective_at > at
        ]
        return sorted(pending, key=lambda c: c.effective_at)

    async def calendar(self) -> CalendarDocument | None:
        content = await self.current(DocKind.CALENDAR)
        return content if isinstance(content, CalendarDocument) else None

    async def config(self) -> ConfigDocument | None:
        content = await self.current(DocKind.CONFIG)
        return content if isinstance(content, ConfigDocument) else None

    async def grey_records(self) -> GreyDocument | None:
        content = await self.current(DocKind.GREY)
        return content if isinstance(content, GreyDocument) else None
