"""A rules authority on a real database with injected clocks, for the 0x36 / 0x35 tests (no pytest here)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge.authority import CalendarHolder, RulesAuthority
from edge.cardfacts import CardCache
from edge.counters import CounterBook
from edge.decisions import CardDecision, DecisionRecorder
from edge.events import EventBus, Subscription
from edge.greys import GreyFinder, StationPlace
from edge.rules import RulesConfig
from protocol import cng
from protocol.downloads import ListFile, ListKind
from protocol.messages import CardInserted
from protocol.record import RECORD_STRUCT, TransactionRecord
from protocol.sale_request import SaleRequest, join_ic_data
from storage.counters import CounterStore
from storage.db import Database
from storage.decisions import DecisionLog
from storage.greys import RemoteGreyStore
from storage.journal import Journal
from storage.lists import ListSet

STATION = StationPlace("00000042", 0x11, frozenset({"DEMO-0001"}))
WEDNESDAY = dt.datetime(2026, 1, 14, 10, 0, 0)
VALID = (dt.date(2024, 1, 1), dt.date(2030, 12, 31))


def asn(kind: str, serial: int, province: str = "11") -> str:
    """A 20-digit card number: issuer 1000, kind (01 user, 04 employee ...), province, serial."""
    return f"1000{kind}0{province}{serial:011d}"


USER = asn("01", 1)
BLACK = asn("01", 2)
STAFF = asn("04", 7)
STRANGER = asn("04", 8)


def list_set(black: list[str] = (), white: list[str] = (), generation: int = 1) -> ListSet:  # type: ignore[assignment]
    files = {ListKind.BASE: ListFile.from_asns(1, *VALID, 0x11, sorted(black))}
    if white:
        files[ListKind.WHITE] = ListFile.from_asns(1, *VALID, 0x11, sorted(white))
    return ListSet.from_files(files, generation)


@dataclass
class Lists:
    current: ListSet


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


class Mono:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class FakeAlarms:
    raised: list[tuple[str, str, str, str]] = field(default_factory=list)
    cleared: list[tuple[str, str]] = field(default_factory=list)
    details: list[dict[str, Any]] = field(default_factory=list)

    async def raise_alarm(
        self, source: str, code: str, severity: str, message: str, details: dict[str, Any] | None = None
    ) -> int:
        self.raised.append((source, code, severity, message))
        self.details.append(dict(details or {}))
        return len(self.raised)

    async def clear(self, source: str, code: str) -> None:
        self.cleared.append((source, code))


GREY_TEMPLATE = TransactionRecord(
    pos_ttc=1,
    t_type=0x01,
    time=WEDNESDAY - dt.timedelta(hours=1),
    asn=USER,
    bal=80_000,
    amn=1_234,
    ctc=17,
    tac=0x11223344,
    gmac=0x55667788,
    psam_tac=0,
    psam_asn="10000000000000000001",
    psam_tid=bytes.fromhex("010203040506"),
    psam_ttc=99,
    ds=0,
    unit=0,
    c_type=0,
    ver=0x11,
    nzn=1,
    g_code="0092",
    vol=100,
    prc=750,
    emp=255,
    v_tot=1_000_000,
)


def grey_record(**changes: Any) -> tuple[TransactionRecord, bytes]:
    record = dataclasses.replace(GREY_TEMPLATE, **changes)
    return record, RECORD_STRUCT.build(record.to_dict())


def sale_record(
    pos_ttc: int, card: str, time: dt.datetime, amn: int = 5_000, vol: int = 700
) -> tuple[TransactionRecord, bytes]:
    return grey_record(pos_ttc=pos_ttc, t_type=0x10, asn=card, time=time, amn=amn, vol=vol)


def cng_entry(
    card: str, nzn: int = 1, bal: int = 50_000, request: SaleRequest | None = None, **profile: Any
) -> CardInserted:
    fields: dict[str, Any] = {
        "card_class": 1,
        "mode": cng.ConsumptionMode.PREPAID_AMOUNT,
        "price_level": 0,
        "cylinder_valid_until": dt.date(2027, 6, 30),
        "plate": "京B12345",
    }
    fields.update(profile)
    return CardInserted(nzn, card, 0, bal, join_ic_data(cng.CngProfile(**fields).build(), request))


class Rig:
    """Everything an authority needs, over one database file."""

    def __init__(
        self, db: Database, config: RulesConfig | None = None, *, require_report: bool = True
    ) -> None:
        self.db = db
        self.clock = Clock(WEDNESDAY)
        self.mono = Mono()
        self.journal = Journal(db)
        self.lists = Lists(list_set([BLACK], [STAFF]))
        self.bus = EventBus()
        self.events: Subscription = self.bus.subscribe()
        self.decisions = DecisionLog(db)
        self.alarms = FakeAlarms()
        self.counters = CounterBook(CounterStore(db), self.clock)
        self.remote = RemoteGreyStore(db)
        self.calendar = CalendarHolder()
        self.cards = CardCache(600, mono=self.mono)
        self.authority = RulesAuthority(
            lists=self.lists,
            greys=GreyFinder(self.journal, self.remote, STATION),
            recorder=DecisionRecorder(self.decisions, self.bus, self.alarms),
            counters=self.counters,
            cards=self.cards,
            station=STATION,
            config=config or RulesConfig(),
            calendar=self.calendar,
            alarms=self.alarms,
            clock=self.clock,
            mono=self.mono,
            require_report=require_report,
        )

    def published(self) -> list[CardDecision]:
        return [e for e in self.events.drain() if isinstance(e, CardDecision)]


def tmp_db_path(tmp: Path) -> Path:
    return tmp / "data" / "station.db"
