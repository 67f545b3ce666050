"""Card questions on the wire (0x36 list query, 0x35 grey query) answered by the local card rules.

Layer: edge (adapter between the session, the rules core and the stores). Both answers are decided by
`edge.rules` (spec card-and-rules §4, project reasons B6), stored (`decisions` table) and published
(`CardDecision`) before they are sent.

0x36 (`list_query`)::

    report = last 0x31 ST=1 of that card at that dispenser     spec B1 (revised): it comes BEFORE the 0x36
    no report (or unreadable IC_DATA)  ─▶ refused, CARD_DATA_MISSING  (the CNG profile, preset and plate
                                          are unknown, so the rules cannot be applied safely)
    lists snapshot = store.current            taken ONCE: a decision never mixes two list versions
    facts = card_facts(ASN, report)           kind/province from the ASN; balance, CNG profile, preset and
                                              vehicle plate from the report
    facts = statuses.apply(facts)             the status kept by the desk / sent by the centre
                                              (edge.cardstatus): lost, cancelled, replaced → refused
    decide(CardRequest(facts, nozzle product and prices, preset, plate), context(now, here, lists,
           calendar, today's counters, [rules]))
    answer ListReply(M_FLAG = decision.m_flag) b0 per card kind, reason code in bits 7..1

The grey state is not known on 0x36 (the dispenser asks 0x35 next for a grey card). A card number that is
not decimal digits is refused as `CARD_TYPE_UNKNOWN`.

0x35 (`grey_query`): the grey record is looked up (this station's journal, then the centre's grey
records); like on 0x36 a card without a readable report is refused (`CARD_DATA_MISSING`); the card is
decided as a grey card holding that lock, with the CNG profile, limits, preset and plate of its report (`may_unlock` with here = this station,
the asking dispenser, this province; now = the clock). Found and allowed → the record's AMN, GMAC,
PSAM_TID, PSAM_TTC (M_FLAG 0); anything else → "not found" (M_FLAG 1), and the decision keeps the real
reason (`GREY_WAIT_DELAY` with the moment it becomes unlockable, `GREY_RECORD_NOT_FOUND` …).

Re-check (0x31), the second line of defence: with `require_card_report = false` (dispensers that do not
report a card before asking) a card without a report is decided on its number and the lists; when its
report arrives afterwards the card is decided again with the full facts, the result is stored and
published as a `0x31` decision, and a refusal raises the critical `card_recheck_refused` alarm naming
the card, the nozzle and the rule, which the terminal UI shows as an action: "stop the sale at nozzle N".
With the default (`require_card_report = true`) it never fires: no card is allowed without its report.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol

from edge.cardfacts import CardCache, SeenCard, card_facts
from edge.cardstatus import CardStatusBook
from edge.core.alarms import AlarmSink
from edge.decisions import DecisionRecorder, stored_from
from edge.greys import GreyFinder, StationPlace
from edge.rules import (
    CardFacts,
    CardRequest,
    CounterView,
    Decision,
    DecisionContext,
    GreyLock,
    Place,
    RulesConfig,
    RulesError,
    WorkingCalendar,
    card_kind_from_asn,
    decide,
)
from edge.session import Where
from protocol.downloads import InvalidAsnError, PriceRecord
from protocol.messages import (
    GREY_FOUND,
    GREY_NOT_FOUND,
    CardInserted,
    GreyQuery,
    GreyReply,
    ListQuery,
    ListReply,
)
from protocol.reasons import RefusalReason
from storage.calendar import CalendarData
from storage.lists import ListSet

__all__ = ["CalendarHolder", "RulesAuthority", "SnapshotLists"]

log = logging.getLogger(__name__)

RECHECK_QUEUE_MAX = 256
RECHECK_ALARM = "card_recheck_refused"
RECHECK_ACTION = "stop_sale"
"""`details.action` of the re-check alarm: the attendant must stop the sale at `details.nzn`
(`edge.control.convert.alarm_action` turns it into the words the terminal UI shows)."""


class SnapshotLists:
    """The rules' `ListView` over one `ListSet` snapshot. A malformed number is on no list (logged)."""

    __slots__ = ("_lists",)

    def __init__(self, lists: ListSet) -> None:
        self._lists = lists

    def is_blacklisted(self, asn: str) -> bool:
        try:
            return self._lists.is_blacklisted(asn)
        except InvalidAsnError:
            log.warning("card number %r cannot be on the blacklist (not 20 digits)", asn)
            return False

    def is_whitelisted(self, asn: str) -> bool:
        try:
            return self._lists.is_whitelisted(asn)
        except InvalidAsnError:
            log.warning("card number %r cannot be on the white list (not 20 digits)", asn)
            return False


class CalendarHolder:
    """The working-day calendar in force; replaced as a whole when the centre sends a new one."""

    def __init__(self, calendar: WorkingCalendar | None = None) -> None:
        self.calendar = calendar or WorkingCalendar()

    def update(self, data: CalendarData) -> None:
        self.calendar = WorkingCalendar(data.holidays, data.shifted_working_days, data.weekend)


class ListSource(Protocol):
    @property
    def current(self) -> ListSet: ...


class NozzlePrices(Protocol):
    def nozzle_record(self, nzn: int) -> PriceRecord | None:
        """The prices in force at nozzle `nzn` (None: not known)."""
        ...


@dataclass(frozen=True, slots=True)
class _Answered:
    allowed: bool
    with_facts: bool
    mono: float


@dataclass(frozen=True, slots=True)
class _Recheck:
    line: str
    dispenser: int
    seen: SeenCard


class RulesAuthority:
    """Implements `edge.session.CardAuthority` with the rules; see the module docstring."""

    def __init__(
        self,
        *,
        lists: ListSource,
        greys: GreyFinder,
        recorder: DecisionRecorder,
        counters: CounterView,
        cards: CardCache,
        station: StationPlace,
        config: RulesConfig,
        calendar: CalendarHolder,
        prices: NozzlePrices | None = None,
        alarms: AlarmSink | None = None,
        clock: Callable[[], dt.datetime] = dt.datetime.now,
        mono: Callable[[], float] = time.monotonic,
        require_report: bool = True,
        clock_trusted: Callable[[], bool] = lambda: True,
        statuses: CardStatusBook | None = None,
    ) -> None:
        self.require_report = require_report
        self.statuses = statuses if statuses is not None else CardStatusBook()
        """Card statuses kept by the desk and sent by the centre (lost, cancelled, replaced ...)."""
        """Refuse a 0x36 for a card without a readable card-inserted report (`CARD_DATA_MISSING`)."""
        self.lists = lists
        self.greys = greys
        self.recorder = recorder
        self.counters = counters
        self.cards = cards
        self.station = station
        self.config = config
        self.calendar = calendar
        self.prices = prices
        self.alarms = alarms
        self._clock = clock
        self._mono = mono
        self._clock_trusted = clock_trusted
        self._answered: dict[tuple[str, int, str], _Answered] = {}
        self._rechecks: asyncio.Queue[_Recheck] = asyncio.Queue(RECHECK_QUEUE_MAX)

    def _now(self) -> dt.datetime:
        now = self._clock()
        return now.astimezone().replace(tzinfo=None) if now.tzinfo is not None else now

    # --- 0x36 -------------------------------------------------------------------------------------

    async def list_query(self, where: Where, query: ListQuery) -> ListReply:
        now = self._now()
        seen = self.cards.get(where.line, where.dispenser, query.asn)
        nzn = seen.nzn if seen is not None else where.nzn
        decision, generation = self._decide(where.line, where.dispenser, query.asn, seen, nzn, now)
        m_flag = decision.m_flag
        self._answered[(where.line, where.dispenser, query.asn)] = _Answered(
            decision.allowed, seen is not None, self._mono()
        )
        self._forget_old_answers()
        row = stored_from(
            decision,
            kind="0x36",
            line=where.line,
            dispenser=where.dispenser,
            nzn=nzn,
            asn=query.asn,
            now=now,
            m_flag=m_flag,
            generation=generation,
            extra={
                "card_report": seen is not None,
                **({"bal": seen.bal, "card_st": seen.card_st} if seen else {}),
                # the vehicle plate on a CNG card: plate statements (`station query plate`) find the card by it
                **({"plate": seen.profile.plate} if seen and seen.profile and seen.profile.plate else {}),
            },
        )
        await self.recorder.record(row, now)
        log.info(
            "0x36 %s at %s/%d: %s (%s), M_FLAG %#04x",
            query.asn,
            where.line,
            where.dispenser,
            "allowed" if decision.allowed else "refused",
            decision.reason.name,
            m_flag,
        )
        return ListReply(m_flag=m_flag, asn=query.asn)

    def _decide(
        self, line: str, dispenser: int, asn: str, seen: SeenCard | None, nzn: int, now: dt.datetime
    ) -> tuple[Decision, int]:
        snapshot = self.lists.current  # once per decision
        if self.require_report and (seen is None or seen.profile_error):
            return _missing_data(asn, seen), snapshot.generation
        context = DecisionContext(
            now,
            self.station.here(line, dispenser),
            SnapshotLists(snapshot),
            self.calendar.calendar,
            self.counters,
            self.config,
            clock_trusted=self._clock_trusted(),
        )
        record = self.prices.nozzle_record(nzn) if self.prices is not None and nzn else None
        try:
            facts = self.statuses.apply(card_facts(asn, seen))
            sale = seen.request if seen is not None else None
            request = CardRequest(
                facts,
                product_code=record.g_code if record is not None else None,
                nozzle_prices=record.prices if record is not None else (),
                preset_amount=sale.preset_amount if sale is not None else None,
                preset_volume=sale.preset_volume if sale is not None else None,
                vehicle_plate=sale.plate or None if sale is not None else None,
            )
            return decide(request, context), snapshot.generation
        except RulesError as exc:
            log.warning("card %r at %s/%d refused: %s", asn, line, dispenser, exc)
            reason = RefusalReason.CARD_TYPE_UNKNOWN
            return (
                Decision(
                    allowed=False, reason=reason, words=f"{reason.words} Card number {asn} is not valid."
                ),
                snapshot.generation,
            )

    def decide_here(self, request: CardRequest, here: Place) -> Decision:
        """The rules for a card presented at `here`, now, outside the wire (the desk's grey unlock): the
        same lists snapshot, calendar, counters, configuration, clock and card statuses as the nozzles."""
        context = DecisionContext(
            self._now(),
            here,
            SnapshotLists(self.lists.current),
            self.calendar.calendar,
            self.counters,
            self.config,
            clock_trusted=self._clock_trusted(),
        )
        return decide(replace(request, card=self.statuses.apply(request.card)), context)

    # --- 0x35 -------------------------------------------------------------------------------------

    async def grey_query(self, where: Where, query: GreyQuery) -> GreyReply:
        now = self._now()
        seen = self.cards.get(where.line, where.dispenser, query.asn)
        nzn = seen.nzn if seen is not None else where.nzn
        snapshot = self.lists.current
        found = None
        extra: dict[str, Any] = {}
        try:
            found = await self.greys.find(query)
            if self.require_report and (seen is None or seen.profile_error):
                decision = _missing_data(query.asn, seen)
            else:
                request = _grey_request(query.asn, seen, None if found is None else found.lock)
                request = replace(request, card=self.statuses.apply(request.card))
                decision = decide(
                    request,
                    DecisionContext(
                        now,
                        self.station.here(where.line, where.dispenser),
                        SnapshotLists(snapshot),
                        self.calendar.calendar,
                        self.counters,
                        self.config,
                        clock_trusted=self._clock_trusted(),
                    ),
                )
        except RulesError as exc:
            log.warning("0x35 for %r at %s/%d: %s", query.asn, where.line, where.dispenser, exc)
            reason = RefusalReason.GREY_RECORD_NOT_FOUND
            decision = Decision(allowed=False, reason=reason, words=reason.words)
        if found is not None:
            extra = {
                "grey_source": found.source,
                "locked_at": found.lock.locked_at.isoformat(),
                "locked_station": found.lock.where.station_id,
                "locked_dispenser": found.lock.where.terminal_id or found.lock.where.dispenser_id,
                "amn": found.amn,
            }
        give = found is not None and decision.allowed
        m_flag = GREY_FOUND if give else GREY_NOT_FOUND
        row = stored_from(
            decision,
            kind="0x35",
            line=where.line,
            dispenser=where.dispenser,
            nzn=nzn,
            asn=query.asn,
            now=now,
            m_flag=m_flag,
            generation=snapshot.generation,
            extra=extra,
        )
        await self.recorder.record(row, now)
        log.info(
            "0x35 %s at %s/%d: %s (%s)",
            query.asn,
            where.line,
            where.dispenser,
            "grey record given" if give else "not given",
            decision.reason.name,
        )
        if not give or found is None:
            return GreyReply(GREY_NOT_FOUND, query.asn, query.bal, 0, query.ctc, query.ds, query.time)
        return GreyReply(
            GREY_FOUND,
            query.asn,
            query.bal,
            found.amn,
            query.ctc,
            query.ds,
            query.time,
            gmac=found.gmac,
            psam_tid=found.psam_tid,
            psam_ttc=found.psam_ttc,
        )

    # --- 0x31 card reports and re-checks --------------------------------------------------------------

    def on_card(self, line: str, dispenser: int, entry: CardInserted) -> None:
        """The session's hook for every card-inserted report (`Services.on_card`); never blocks."""
        seen, previous = self.cards.saw(line, dispenser, entry)
        if previous is not None:
            return
        answered = self._answered.get((line, dispenser, entry.asn))
        if answered is None or answered.with_facts or not answered.allowed:
            return
        if self._mono() - answered.mono > self.cards.ttl_s:
            return
        self._answered[(line, dispenser, entry.asn)] = replace(answered, with_facts=True)
        try:
            self._rechecks.put_nowait(_Recheck(line, dispenser, seen))
        except asyncio.QueueFull:
            log.warning("re-check of card %s at %s/%d dropped: queue full", entry.asn, line, dispenser)

    async def run(self) -> None:
        """Decide again the cards whose report came after their 0x36 answer (a daemon task)."""
        while True:
            item = await self._rechecks.get()
            await self.recheck(item.line, item.dispenser, item.seen)

    async def recheck(self, line: str, dispenser: int, seen: SeenCard) -> Decision:
        now = self._now()
        decision, generation = self._decide(line, dispenser, seen.asn, seen, seen.nzn, now)
        row = stored_from(
            decision,
            kind="0x31",
            line=line,
            dispenser=dispenser,
            nzn=seen.nzn,
            asn=seen.asn,
            now=now,
            m_flag=None,
            generation=generation,
            extra={"recheck": True, "bal": seen.bal, "card_st": seen.card_st},
        )
        await self.recorder.record(row, now)
        if not decision.allowed:
            text = recheck_alarm_text(seen.asn, dispenser, seen.nzn, decision)
            log.error("%s/%d: %s", line, dispenser, text)
            if self.alarms is not None:
                await self.alarms.raise_alarm(
                    f"{line}/{dispenser}",
                    RECHECK_ALARM,
                    "critical",
                    text,
                    {
                        "action": RECHECK_ACTION,
                        "asn": seen.asn,
                        "nzn": seen.nzn,
                        "reason": decision.reason.name,
                        "rule": decision.words,
                    },
                )
        return decision

    def _forget_old_answers(self) -> None:
        if len(self._answered) < 4096:
            return
        horizon = self._mono() - self.cards.ttl_s
        for key in [k for k, v in self._answered.items() if v.mono < horizon]:
            del self._answered[key]


def recheck_alarm_text(asn: str, dispenser: int, nzn: int, decision: Decision) -> str:
    """The re-check alarm's message: the action first, then the card, the nozzle and the rule."""
    return (
        f"Stop the sale at nozzle {nzn}: card {asn} at dispenser {dispenser} was allowed before its card "
        f"data arrived and the rules refuse it ({decision.reason.name}): {decision.words}"
    )


def _grey_request(asn: str, seen: SeenCard | None, lock: GreyLock | None) -> CardRequest:
    """A grey card as the rules see it on 0x35: the lock, and from its report the CNG profile, limits,
    preset and plate (so unlocking never lets through a card the rules refuse). The balance is left out:
    the amount owed is debited first, the dispenser checks what remains."""
    facts = CardFacts(asn=asn, grey=True, grey_lock=lock)
    if seen is None:
        return CardRequest(facts)
    if seen.profile is not None and seen.limits is not None:
        facts = replace(facts, cng=seen.profile, limits=seen.limits)
    sale = seen.request
    return CardRequest(
        facts,
        preset_amount=sale.preset_amount if sale is not None else None,
        preset_volume=sale.preset_volume if sale is not None else None,
        vehicle_plate=sale.plate or None if sale is not None else None,
    )


def _missing_data(asn: str, seen: SeenCard | None) -> Decision:
    reason = RefusalReason.CARD_DATA_MISSING
    detail = (
        "No card report (0x31) came before the query."
        if seen is None
        else f"The card report's IC_DATA cannot be read: {seen.profile_error}"
    )
    return Decision(
        allowed=False, reason=reason, words=f"{reason.words} {detail}", card_kind=card_kind_from_asn(asn)
    )
