"""Signed documents from the centre applied to the local rules: prices, the working-day calendar and
grey records of other stations.

Layer: uplink (adapters between the downlink's appliers and the rules' stores, `edge.rules_runtime`). The downlink has verified the
signature, the version and the schema; each applier here applies all or nothing and raises
`ApplyError` (the downlink then audits and answers the refusal). Lists have their own applier in
`uplink.appliers`.

- prices   → a new price table (version = the document's version) scheduled at its effective time;
- calendar → the working-day calendar replaced (holidays, shifted working days, weekend);
- greys    → the set of grey records of other stations replaced by the document's set;
- card_status → the centre's set of card statuses replaced (stored, then in force for the rules).
"""

from __future__ import annotations

import datetime as dt

from edge.cardstatus import StatusEntry
from edge.rules import CardStatus
from edge.rules_runtime import RulesRuntime
from storage import desk as desk_store
from storage.calendar import CalendarData
from storage.errors import StorageError
from storage.greys import RemoteGrey
from storage.prices import NozzlePrices, PriceSchedule, PriceVersionError, ProductPrices
from uplink.appliers import Applier
from uplink.documents import CalendarDocument, CardStatusDocument, Document, GreyDocument, PricesDocument
from uplink.envelope import DocKind
from uplink.errors import ApplyError, Reason


def centre_appliers(rules: RulesRuntime) -> dict[DocKind, Applier]:
    return {
        DocKind.PRICES: PricesApplier(rules),
        DocKind.CALENDAR: CalendarApplier(rules),
        DocKind.GREY: GreysApplier(rules),
        DocKind.CARD_STATUS: CardStatusApplier(rules),
    }


class PricesApplier:
    def __init__(self, rules: RulesRuntime) -> None:
        self.rules = rules

    async def __call__(self, doc: Document) -> str | None:
        content = doc.content
        if not isinstance(content, PricesDocument):
            raise ApplyError("not a prices document")
        schedule = PriceSchedule(
            version=doc.body.version,
            effective=content.effective_at,
            products=tuple(ProductPrices(p.g_code, p.prices, p.density) for p in content.products),
            nozzles=tuple(NozzlePrices(n.nzn, n.prices, n.density) for n in content.nozzles),
            source=f"centre document {doc.id[:12]}",
        )
        try:
            stored = await self.rules.prices.add(schedule)
        except PriceVersionError as exc:
            raise ApplyError(str(exc), reason=Reason.STALE) from exc
        except StorageError as exc:
            raise ApplyError(str(exc)) from exc
        return (
            f"price table version {stored.version} effective {stored.effective.isoformat(timespec='minutes')}"
        )


class CalendarApplier:
    def __init__(self, rules: RulesRuntime) -> None:
        self.rules = rules

    async def __call__(self, doc: Document) -> str | None:
        content = doc.content
        if not isinstance(content, CalendarDocument) or self.rules.calendar_store is None:
            raise ApplyError("not a calendar document")
        data = CalendarData(content.holidays, content.shifted_working_days, content.weekend)
        await self.rules.calendar_store.replace(data)
        self.rules.calendar.update(data)
        return (
            f"calendar: {len(data.holidays)} holidays, {len(data.shifted_working_days)} shifted working days"
        )


class GreysApplier:
    def __init__(self, rules: RulesRuntime) -> None:
        self.rules = rules

    async def __call__(self, doc: Document) -> str | None:
        content = doc.content
        store, place = self.rules.remote_greys, self.rules.place
        if not isinstance(content, GreyDocument) or store is None or place is None:
            raise ApplyError("not a grey records document")
        records = []
        for g in content.records:
            rec = g.record
            if not isinstance(rec.time, dt.datetime):
                raise ApplyError(
                    f"grey record {g.station}/{g.dispenser}/{g.pos_ttc}: TIME {rec.time} is not a time"
                )
            records.append(
                RemoteGrey(
                    asn=rec.asn,
                    bal=rec.bal,
                    ctc=rec.ctc,
                    ds=rec.ds,
                    time=rec.time,
                    amn=rec.amn,
                    gmac=rec.gmac,
                    psam_tid=rec.psam_tid,
                    psam_ttc=rec.psam_ttc,
                    station_id=g.station,
                    province=g.province if g.province is not None else place.province,
                    dispenser=g.dispenser,
                    line=g.line,
                    locked_at=g.locked_at,
                    raw=g.raw,
                )
            )
        count = await store.replace_all(records)
        return f"{count} grey records of other stations held"


class CardStatusApplier:
    """The centre's card statuses: stored whole (one transaction), then handed to the rules."""

    def __init__(self, rules: RulesRuntime) -> None:
        self.rules = rules

    async def __call__(self, doc: Document) -> str | None:
        content = doc.content
        db = self.rules.db
        if not isinstance(content, CardStatusDocument) or db is None:
            raise ApplyError("not a card status document")
        entries = [
            desk_store.CentreStatus(c.asn, c.status, c.since, c.grace, c.station, c.replaced_by)
            for c in content.cards
        ]
        try:
            count = await desk_store.replace_centre_statuses(db, entries)
        except StorageError as exc:
            raise ApplyError(str(exc)) from exc
        self.rules.statuses.replace_centre(
            StatusEntry(e.asn, CardStatus(e.status), e.since, e.grace, "centre", e.replaced_by)
            for e in entries
        )
        refused = sum(1 for e in entries if e.status != "normal")
        return f"card statuses: {count} held, {refused} refused at the nozzles"
