"""The card rules in the running daemon: construction, record hooks, tasks and the import appliers.

Layer: edge (wiring). `open_rules(...)` builds, from the configuration and the open stores:

    RulesAuthority  0x36 / 0x35 answers (edge.authority), with
      CardCache       card-inserted reports for the 0x36 that follows   ← Services.on_card
      CounterBook     today's per-card counters (loaded, catch-up)      ← Services.on_record
      GreyFinder      the journal + the centre's grey records
      CalendarHolder  the working-day calendar (storage.calendar)
      CardStatusBook  card statuses of the desk's registry and the centre's set (storage.desk)
      DecisionRecorder decisions table + CardDecision events
    PriceScheduler  the price table in force, its switch time, receipts ← Services.on_record
    Catalog         0x30 versions and downloads (lists + prices in force + station info)
    InboxWatcher    spooled imports from `station lists|prices import` (edge.spool)

and the daemon runs the price scheduler, the re-checks and the inbox as components
(`edge.rules_components`). The appliers
(`apply_*`) are shared by the daemon's inbox and by the CLI when no daemon runs; each changes everything
or nothing and raises `edge.spool.JobRejected` listing the problems.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.authority import CalendarHolder, RulesAuthority
from edge.cardfacts import CardCache
from edge.cardstatus import CardStatusBook, StatusEntry
from edge.catalog import Catalog
from edge.config import Config
from edge.core.alarms import AlarmSink
from edge.core.centre import CentreOutbox
from edge.counters import CounterBook
from edge.decisions import DecisionRecorder
from edge.events import EventBus
from edge.greys import GreyFinder, StationPlace
from edge.prices import PriceScheduler
from edge.rules import CardStatus
from edge.rules_config import RulesSettings, inbox_dir, rules_settings
from edge.spool import Applier, InboxWatcher, JobRejected
from protocol.downloads import ListKind
from protocol.messages import CardInserted
from protocol.record import TransactionRecord
from storage import desk as desk_store
from storage.calendar import CalendarStore
from storage.counters import CounterStore
from storage.db import Database
from storage.decisions import DecisionLog
from storage.greys import RemoteGreyStore
from storage.journal import Journal
from storage.lists import ListImportError, ListStore, ListStoreError, ListVersionError
from storage.pricefile import PriceFileError, read_price_file
from storage.prices import PriceStore, PriceVersionError
from storage.rulefiles import RuleFileError, read_calendar_file, read_grey_file

__all__ = [
    "RulesRuntime",
    "apply_calendar",
    "apply_grey",
    "apply_lists",
    "apply_prices",
    "load_statuses",
    "open_rules",
    "station_place",
]

log = logging.getLogger(__name__)


def station_place(config: Config) -> StationPlace:
    """This station as the rules see it: S_ID, province (0x11 form), and its configured id as an alias."""
    st = config.station
    return StationPlace(st.s_id, int(st.province, 16), frozenset({st.id}))


@dataclass
class RulesRuntime:
    settings: RulesSettings
    authority: RulesAuthority
    catalog: Catalog
    prices: PriceScheduler
    counters: CounterBook
    calendar: CalendarHolder
    inbox: InboxWatcher
    decisions: DecisionLog
    calendar_store: CalendarStore | None = None
    remote_greys: RemoteGreyStore | None = None
    place: StationPlace | None = None
    statuses: CardStatusBook = field(default_factory=CardStatusBook)
    db: Database | None = None

    async def on_record(self, line: str, dispenser: int, record: TransactionRecord, result: Any) -> None:
        """`Services.on_record`: counters, then price receipts."""
        await self.counters.on_record(line, dispenser, record, result)
        await self.prices.on_record(line, dispenser, record, result)

    def on_card(self, line: str, dispenser: int, entry: CardInserted) -> None:
        """`Services.on_card`: every card-inserted report."""
        self.authority.on_card(line, dispenser, entry)


async def open_rules(
    config: Config,
    db: Database,
    journal: Journal,
    lists: ListStore,
    bus: EventBus,
    alarms: AlarmSink,
    outbox: CentreOutbox,
    *,
    clock: Callable[[], dt.datetime] = dt.datetime.now,
    clock_trusted: Callable[[], bool] = lambda: True,
) -> RulesRuntime:
    """Build and load everything (see the module docstring); `ConfigError` for a bad `[rules]`.
    `clock_trusted` is False while the wall clock is in doubt (`edge.clock_guard`): counters keep their
    day, price changes wait, time-dependent grey unlocks are refused."""
    settings = rules_settings(config)
    place = station_place(config)
    calendar_store = CalendarStore(db)
    calendar = CalendarHolder()
    calendar.update(await calendar_store.load())
    counters = CounterBook(CounterStore(db), clock, clock_trusted=clock_trusted)
    await counters.load()
    prices = PriceScheduler(
        PriceStore(db),
        config,
        alarms=alarms,
        receipt_timeout_s=settings.price_receipt_timeout_s,
        clock=clock,
        clock_trusted=clock_trusted,
    )
    await prices.load()
    await prices.step()
    decisions = DecisionLog(db, outbox=outbox.for_decision)
    remote = RemoteGreyStore(db)
    statuses = await load_statuses(db)
    authority = RulesAuthority(
        lists=lists,
        greys=GreyFinder(journal, remote, place),
        recorder=DecisionRecorder(decisions, bus, alarms),
        counters=counters,
        cards=CardCache(settings.card_facts_ttl_s),
        station=place,
        config=settings.rules,
        calendar=calendar,
        prices=prices,
        alarms=alarms,
        clock=clock,
        require_report=settings.require_card_report,
        clock_trusted=clock_trusted,
        statuses=statuses,
    )
    catalog = Catalog(config, lists, price_table=prices.advertised)

    async def lists_job(path: Path, options: Mapping[str, Any]) -> str:
        kind = ListKind.from_label(options["kind"]) if options.get("kind") else None
        return await apply_lists(lists, path, kind, bool(options.get("force")), options.get("format", "auto"))

    async def grey_job(path: Path, options: Mapping[str, Any]) -> str:
        return await apply_grey(remote, path, place.province)

    async def calendar_job(path: Path, options: Mapping[str, Any]) -> str:
        return await apply_calendar(calendar_store, path, calendar)

    async def prices_job(path: Path, options: Mapping[str, Any]) -> str:
        return await apply_prices(prices, path, source=str(options.get("source", path)))

    appliers: dict[str, Applier] = {
        "lists": lists_job,
        "grey": grey_job,
        "calendar": calendar_job,
        "prices": prices_job,
    }
    inbox = InboxWatcher(inbox_dir(config, settings), appliers)
    runtime = RulesRuntime(
        settings,
        authority,
        catalog,
        prices,
        counters,
        calendar,
        inbox,
        decisions,
        calendar_store,
        remote,
        place,
        statuses,
        db,
    )
    log.info(
        "rules: station %s province %02X, calendar with %d holidays, price version %d in force, %d tables",
        place.station_id,
        place.province,
        len(calendar.calendar.holidays),
        prices.version,
        len(prices.schedules),
    )
    return runtime


async def load_statuses(db: Database) -> CardStatusBook:
    """The card statuses in force: the desk's registry and the centre's last set."""
    book = CardStatusBook()
    book.load_desk(
        StatusEntry(c.asn, CardStatus(c.status), c.status_since, c.status_grace, replaced_by=c.replaced_by)
        for c in await desk_store.registry(db)
        if c.status_since is not None
    )
    book.replace_centre(
        StatusEntry(c.asn, CardStatus(c.status), c.since, c.grace, "centre", c.replaced_by)
        for c in await desk_store.centre_statuses(db)
    )
    return book


# --- appliers --------------------------------------------------------------------------------------


async def apply_lists(
    store: ListStore, path: Path, kind: ListKind | None, force: bool, fmt: Any = "auto"
) -> str:
    try:
        lists = await asyncio.to_thread(store.import_file, path, kind=kind, fmt=fmt, force=force)
    except ListImportError as exc:
        where = f"line {exc.line}: " if exc.line is not None else ""
        where = where or (f"entry {exc.entry}: " if exc.entry is not None else "")
        raise JobRejected([f"{Path(exc.path).name}: {where}{exc.problem}"]) from exc
    except ListVersionError as exc:
        raise JobRejected([str(exc)]) from exc
    except ListStoreError as exc:
        raise JobRejected([str(exc)]) from exc
    counts = ", ".join(
        f"{k.label} v{s.version} ({s.count} cards)" for k in ListKind if (s := lists.get(k)) is not None
    )
    return f"lists generation {lists.generation} in force: {counts}"


async def apply_grey(store: RemoteGreyStore, path: Path, province: int) -> str:
    try:
        records = await asyncio.to_thread(read_grey_file, path, station_province=province)
    except RuleFileError as exc:
        raise JobRejected(exc.problems) from exc
    count = await store.replace_all(records)
    return f"{count} grey records of other stations held (the previous set replaced)"


async def apply_calendar(store: CalendarStore, path: Path, holder: CalendarHolder | None = None) -> str:
    try:
        data = await asyncio.to_thread(read_calendar_file, path)
    except RuleFileError as exc:
        raise JobRejected(exc.problems) from exc
    await store.replace(data)
    if holder is not None:
        holder.update(data)
    weekend = ",".join(str(d) for d in sorted(data.weekend))
    return (
        f"calendar in force: {len(data.holidays)} holidays, {len(data.shifted_working_days)} shifted working "
        f"days, weekend {weekend}"
    )


async def apply_prices(scheduler: PriceScheduler, path: Path, *, source: str = "") -> str:
    config = scheduler.config
    nozzles = [n.nzn for line in config.lines for d in line.dispensers for n in d.nozzles]
    try:
        schedule = await asyncio.to_thread(
            read_price_file, path, g_codes=[p.g_code for p in config.products], nozzles=nozzles
        )
        if source:
            schedule = type(schedule)(
                schedule.version, schedule.effective, schedule.products, schedule.nozzles, source=source
            )
        stored = await scheduler.add(schedule)
    except PriceFileError as exc:
        raise JobRejected(exc.problems) from exc
    except PriceVersionError as exc:
        raise JobRejected([f"{Path(source or path).name}: {exc}"]) from exc
    due = stored.effective <= dt.datetime.now()
    state = "due: in force at once" if due else "scheduled: in force at its effective time"
    return (
        f"price table version {stored.version} (PRC_VER {stored.wire_version}) {state}, effective "
        f"{stored.effective:%Y-%m-%d %H:%M}"
    )
