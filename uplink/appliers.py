"""Applying verified downlink documents: the `Applier` protocol and the appliers the uplink ships.

Layer: uplink. The downlink verifies a document completely, then calls the applier registered for
its kind, then records it (`uplink_documents`), its audit row and its reply in one transaction. An
applier must apply all or nothing and raise `ApplyError` when it changed nothing; it may return a
short text for the reply. Kinds without an applier are only stored durably (today: configuration;
read it with `uplink.docstore.CentreDocuments`).

The daemon wires (see `uplink.wiring.default_appliers`):

    lists   → ListsApplier(station.lists)     ListStore.replace_many: atomic, versions checked
    resend  → Resender(...)                   re-queues stored records (uplink.resend)

and adds the rules' appliers (`uplink.centre_documents`): prices, calendar, grey records.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Protocol

from storage.lists import ListStore, ListStoreError, ListVersionError
from uplink.documents import Document, ListsDocument
from uplink.envelope import DocKind
from uplink.errors import ApplyError, Reason


class Applier(Protocol):
    async def __call__(self, doc: Document) -> str | None:
        """Apply `doc` completely or not at all (raise `ApplyError`); return a note for the reply."""
        ...


Appliers = Mapping[DocKind, Applier]


class ListsApplier:
    """Full and delta list documents into the list store, in one atomic generation."""

    def __init__(self, store: ListStore) -> None:
        self._store = store

    async def __call__(self, doc: Document) -> str | None:
        content = doc.content
        if not isinstance(content, ListsDocument):  # pragma: no cover - the downlink dispatches by kind
            raise ApplyError("not a lists document")
        try:
            lists = await asyncio.to_thread(self._store.replace_many, content.lists)
        except ListVersionError as exc:
            raise ApplyError(str(exc), reason=Reason.STALE) from exc
        except ListStoreError as exc:
            raise ApplyError(str(exc)) from exc
        counts = ", ".join(f"{k.label} v{lst.version} ({lst.count})" for k, lst in content.lists.items())
        return f"lists generation {lists.generation}: {counts}"
