"""The pure dispenser model: state plus handlers that return the messages to send.

Layer: firmware-sim (pure: no I/O, no asyncio; clocks, randomness and the two side effects — `persist`
and `emit` — are injected). The line runners (`multidrop`, `p2p`) feed it the controller's messages and
send what it returns; the traffic generator and scenarios drive the nozzles through its actions.

A nozzle's life (one `Session` at a time)::

    insert_card ──▶ CHECKING ──(local lists, or 0x36 answer)──▶ REFUSED ──pull_card──▶ idle
                        └──(no answer within card_answer_timeout_s)──▶ REFUSED, CONTROLLER_UNREACHABLE
                        │                                   └─▶ (grey card) 0x35 ─▶ T_TYPE 3, then
                        ▼                                                            AUTHORISED
                    AUTHORISED ──lift──▶ up ──fuel──▶ fuelling ──(target)──▶ done ──hang_up──▶ 0x32 T_TYPE 0x10
                                               pull_card while up with AMN > 0 ──▶ 0x32 T_TYPE 1 (grey)
    lift without a card ──▶ cash session ──fuel, hang_up──▶ 0x32 T_TYPE 7
    on_duty / off_duty (employee card) ──(white list check)──▶ 0x32 T_TYPE 5 / 6

Pending work and the order it goes out in (multi-drop answers one per poll; point-to-point sends at
most one job after each 0x31)::

    0x32 record (oldest unacknowledged) > 0x35 grey query > 0x36 list query > 0x3B error info
      > 0x33 / 0x34 download > 0x31 real-time info (N = 0 when idle; multi-drop only)

Who decides a card (spec B10): the dispenser decides on its own downloaded lists only a plain user card
without a CNG profile, or an internal card against its white list — and only while the lists it needs
are held and within their dates and the card's province is the station's (A6). Every other card is
asked with 0x36: a CNG card always. `DeviceSetup.decides_everything_locally` plays a dispenser that
ignores B10 and decides CNG cards on its lists too.

A card's 0x36 / 0x35 goes out only after a 0x31 has reported the card (ST=1, with its IC_DATA: the CNG
profile and the sale request with the preset and vehicle plate), so the controller has the card's data
before it answers. In multi-drop the report of a card waiting for its decision outranks everything but a
record (spec B1, revised): 0x32 > 0x31 (waiting card) > 0x35 > 0x36 > …

Degraded mode: a card whose question gets no answer within `card_answer_timeout_s` (controller down) is
refused (`CONTROLLER_UNREACHABLE`); plain user cards the lists can decide keep being sold.

A record stays pending until a 0x32 H acknowledges it (RESULT b0 = 1, T_MAC error, counts as
acknowledged); the acknowledgement applies to the record last sent (`outstanding`). Every change to
what must survive a power cycle (POS_TTC, pending and stored records, totals, duty, files) calls
`persist` before anything is sent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import random
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from protocol.cng import ConsumptionMode
from protocol.errors import EncodeError, ProtocolError
from protocol.messages import (
    CardInserted,
    Content,
    DispenserInfo,
    DownloadInfo,
    ErrorAck,
    ErrorInfo,
    Fuelling,
    GreyQuery,
    GreyReply,
    InfoRead,
    ListQuery,
    ListReply,
    Message,
    NoRecord,
    NozzleEntry,
    NozzleInfo,
    NozzleTotal,
    PollReply,
    RecordAck,
    RecordRead,
    RecordUpload,
    SegmentData,
    Totals,
    TotalsRead,
)
from protocol.reasons import RefusalReason, decode_m_flag
from protocol.record import EMP_NONE, TransactionRecord
from protocol.sale_request import SaleRequest, join_ic_data
from station_sim import records
from station_sim.cards import Card, GreyLock, province_of
from station_sim.files import Completed, FileStore
from station_sim.model import (
    DEFAULT_FUEL_SPEED,
    Decision,
    DeviceError,
    DeviceSetup,
    Jobs,
    Nozzle,
    NozzleSetup,
    Purpose,
    Session,
    StationIdentity,
)

log = logging.getLogger(__name__)

DEFAULT_PRICE_FEN = 750
STORED_RECORDS_MAX = 10_000
M_INFO = "STATION-SIM"
STATE_VERSION = 1

__all__ = [
    "DEFAULT_FUEL_SPEED",
    "Decision",
    "DeviceError",
    "DeviceSetup",
    "Dispenser",
    "NozzleSetup",
    "Purpose",
    "Session",
    "StationIdentity",
]

Emit = Callable[[dict[str, Any]], None]
Persist = Callable[["Dispenser"], None]


def _stable_rng(line: str, pos_p: int) -> random.Random:
    digest = hashlib.sha256(f"{line}/{pos_p}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


class Dispenser:
    """One simulated dispenser; see the module docstring."""

    def __init__(
        self,
        setup: DeviceSetup,
        *,
        rng: random.Random,
        clock: Callable[[], dt.datetime],
        mono: Callable[[], float],
        emit: Emit | None = None,
        persist: Persist | None = None,
    ) -> None:
        self.setup = setup
        self.rng = rng
        self.clock = clock
        self.mono = mono
        self._emit = emit or (lambda _e: None)
        self._persist = persist or (lambda _d: None)
        stable = _stable_rng(setup.line, setup.pos_p)
        self.psam = records.Psam.generate(stable)
        self.nozzles: dict[int, Nozzle] = {
            n.nzn: Nozzle(n.nzn, n.g_code, n.prices, v_tot=stable.randint(1_000_000, 90_000_000), unit=n.unit)
            for n in setup.nozzles
        }
        self.pos_ttc_next = 1
        self.psam_ttc = stable.randint(1, 100_000)
        self.pending: list[TransactionRecord] = []
        self.outstanding: int | None = None
        self.stored: OrderedDict[int, bytes] = OrderedDict()
        self.jobs = Jobs()
        self.files = FileStore()
        self.frame_no = 0

    # --- identity / helpers -----------------------------------------------------------------------

    @property
    def line(self) -> str:
        return self.setup.line

    @property
    def pos_p(self) -> int:
        return self.setup.pos_p

    def next_frame_no(self) -> int:
        """Frame number for a frame the dispenser initiates (B2)."""
        self.frame_no = (self.frame_no + 1) & 0x3F
        return self.frame_no

    def emit(self, event: str, **fields: Any) -> None:
        self._emit({"event": event, "line": self.line, "dispenser": self.pos_p, **fields})

    def nozzle(self, nzn: int) -> Nozzle:
        try:
            return self.nozzles[nzn]
        except KeyError:
            raise DeviceError(f"{self.line}/{self.pos_p}: no nozzle {nzn}") from None

    def station_province(self) -> int:
        prov = self.files.station.prov if self.files.station is not None else self.setup.station.province
        return int(prov, 16)

    def price(self, nozzle: Nozzle, level: int) -> tuple[str, int]:
        """(G_CODE, price) at `level`: the downloaded price table first, then the configuration."""
        found = self.files.price(nozzle.nzn, level, self.clock())
        if found is not None:
            return found
        if nozzle.prices:
            return nozzle.g_code, nozzle.prices[min(level, len(nozzle.prices) - 1)]
        return nozzle.g_code, DEFAULT_PRICE_FEN

    @property
    def idle(self) -> bool:
        """No record waiting for an acknowledgement."""
        return not self.pending

    def busy_nozzles(self) -> set[int]:
        return {n.nzn for n in self.nozzles.values() if n.session is not None}

    # --- records ----------------------------------------------------------------------------------

    def _next_counters(self) -> tuple[int, int]:
        pos_ttc, psam_ttc = self.pos_ttc_next, self.psam_ttc
        self.pos_ttc_next = (self.pos_ttc_next + 1) & 0xFFFFFFFF or 1
        self.psam_ttc = (self.psam_ttc + 1) & 0xFFFFFFFF
        return pos_ttc, psam_ttc

    def _add_record(self, record: TransactionRecord) -> None:
        raw = records.record_bytes(record)
        self.pending.append(record)
        self.stored[record.pos_ttc] = raw
        self.stored.move_to_end(record.pos_ttc)
        while len(self.stored) > STORED_RECORDS_MAX:
            self.stored.popitem(last=False)
        self._persist(self)
        self.emit("record", pos_ttc=record.pos_ttc, t_type=record.t_type, raw=raw.hex())

    def _figures(
        self, nozzle: Nozzle, s: Session | None = None, emp: int | None = None
    ) -> records.SaleFigures:
        if s is None:
            g_code, prc = self.price(nozzle, 0)
            return records.SaleFigures(
                nozzle.nzn, g_code, 0, prc, 0, nozzle.emp if emp is None else emp, nozzle.v_tot
            )
        return records.SaleFigures(
            nozzle.nzn, s.g_code, s.vol, s.prc, s.amn, nozzle.emp if emp is None else emp, nozzle.v_tot
        )

    # --- nozzle actions (traffic and scenarios) ---------------------------------------------------

    def insert_card(
        self, nzn: int, card: Card, purpose: Purpose = Purpose.SALE, *, request: SaleRequest | None = None
    ) -> Session:
        """A card goes into the nozzle's reader (with the preset and plate taken before, if any); the
        decision follows (local lists for the cards B10 allows, else 0x36)."""
        nozzle = self.nozzle(nzn)
        if nozzle.session is not None:
            raise DeviceError(f"{self.line}/{self.pos_p}/{nzn}: nozzle busy")
        if card.in_use:
            raise DeviceError(f"card {card.asn} is already in a reader")
        if request is not None:
            try:
                request.build()
            except EncodeError as exc:
                raise DeviceError(f"{self.line}/{self.pos_p}/{nzn}: {exc}") from exc
        card.in_use = True
        s = Session(purpose, card, Decision.CHECKING, request=request)
        nozzle.session = s
        if purpose is Purpose.SALE and not card.internal and card.balance <= 0 and card.grey is None:
            self._decided(nozzle, False, "local", RefusalReason.BALANCE_TOO_LOW)
            return s
        local: bool | None = None
        if province_of(card.asn) == self.station_province() and self.decides_locally(card):
            local = self.files.local_decision(card.asn, card.internal, self.clock().date())
        if local is None:
            self.jobs.lists.append((nzn, card.asn))
            s.asked_mono = self.mono()
        else:
            reason = (
                RefusalReason.NONE
                if local
                else (RefusalReason.NOT_WHITELISTED if card.internal else RefusalReason.BLACKLISTED)
            )
            self._decided(nozzle, local, "local", reason)
        return s

    def decides_locally(self, card: Card) -> bool:
        """Spec B10: only a plain user card (no CNG profile) or an internal card may be decided on the
        dispenser's own lists; everything else is asked (unless the dispenser ignores B10)."""
        return self.setup.decides_everything_locally or card.internal or card.cng is None

    def _decided(self, nozzle: Nozzle, allowed: bool, source: str, reason: RefusalReason | int) -> None:
        s = nozzle.session
        if s is None or s.card is None:
            return
        s.asked_mono = None
        card = s.card
        self.emit(
            "card",
            nozzle=nozzle.nzn,
            asn=card.asn,
            purpose=s.purpose.value,
            decision="allowed" if allowed else "refused",
            source=source,
            reason=int(reason),
            reason_name=reason.name if isinstance(reason, RefusalReason) else str(reason),
        )
        if not allowed:
            s.decision, s.reason = Decision.REFUSED, int(reason)
            if s.purpose is not Purpose.SALE:  # a refused employee card is handed back at once
                card.in_use = False
                nozzle.session = None
            return
        if s.purpose is Purpose.SALE and card.grey is not None:
            g = card.grey
            self.jobs.grey.append((nozzle.nzn, GreyQuery(card.asn, g.bal, g.ctc, g.ds, g.time)))
            s.asked_mono = self.mono()
            return
        if s.purpose is Purpose.SALE:
            s.decision = Decision.AUTHORISED
            return
        self._duty(nozzle, card, on=s.purpose is Purpose.ON_DUTY)

    def _duty(self, nozzle: Nozzle, card: Card, on: bool) -> None:
        pos_ttc, psam_ttc = self._next_counters()
        rec = records.duty(
            pos_ttc,
            self.clock(),
            card.asn,
            on,
            self._figures(nozzle, emp=card.emp),
            self.psam,
            psam_ttc,
            self.rng,
            bal=card.balance,
            ctc=card.ctc,
        )
        nozzle.emp = card.emp if on else EMP_NONE
        card.in_use = False
        nozzle.session = None
        self._add_record(rec)

    def on_duty(self, nzn: int, card: Card) -> Session:
        return self.insert_card(nzn, card, Purpose.ON_DUTY)

    def off_duty(self, nzn: int, card: Card) -> Session:
        return self.insert_card(nzn, card, Purpose.OFF_DUTY)

    def lift(self, nzn: int) -> Session:
        """Nozzle up: with an authorised card, or without a card for a cash sale."""
        nozzle = self.nozzle(nzn)
        s = nozzle.session
        if s is None:
            s = Session(Purpose.SALE, None, Decision.AUTHORISED)
            nozzle.session = s
        elif s.purpose is not Purpose.SALE or s.decision is not Decision.AUTHORISED or s.finished:
            raise DeviceError(f"{self.line}/{self.pos_p}/{nzn}: cannot lift, card is {s.decision.value}")
        if s.up:
            return s
        level = s.card.price_level if s.card is not None else 0
        s.g_code, s.prc = self.price(nozzle, level)
        s.up, s.start = True, self.clock()
        return s

    def fuel(self, nzn: int, amount: int | None = None, volume: int | None = None) -> Session:
        """Start (or extend) fuelling to a preset amount (fen) or volume (0.01 units)."""
        nozzle = self.nozzle(nzn)
        s = nozzle.session
        if s is None or not s.up or s.greyed:
            raise DeviceError(f"{self.line}/{self.pos_p}/{nzn}: fuel needs the nozzle up")
        if amount is None and volume is None:
            raise DeviceError("fuel needs amount or volume")
        s.target_amn, s.target_vol = amount, volume
        s.cap_amn = self._card_cap(s)
        s.fuelling, s.target_reached, s.last_mono = True, False, self.mono()
        self.advance()
        return s

    @staticmethod
    def _card_cap(s: Session) -> int | None:
        """The most money a card sale may reach: the balance, the card's per-fill cap (amount modes)
        and the preset taken with the card."""
        card = s.card
        if card is None:
            return None
        caps = [card.balance]
        profile = card.cng
        amount_mode = profile is not None and profile.mode in (
            ConsumptionMode.PREPAID_AMOUNT,
            ConsumptionMode.CREDIT_AMOUNT,
        )
        if profile is not None and amount_mode and profile.per_fill_cap:
            caps.append(profile.per_fill_cap)
        if s.request is not None and s.request.preset_amount is not None:
            caps.append(s.request.preset_amount)
        return min(caps)

    def _expire_questions(self, now: float) -> None:
        """Degraded mode: a card whose question the controller did not answer in time is refused."""
        timeout = self.setup.card_answer_timeout_s
        for nozzle in self.nozzles.values():
            s = nozzle.session
            if s is None or s.decision is not Decision.CHECKING or s.asked_mono is None:
                continue
            if now - s.asked_mono < timeout:
                continue
            nzn = nozzle.nzn
            self.jobs.lists = [j for j in self.jobs.lists if j[0] != nzn]
            self.jobs.grey = [j for j in self.jobs.grey if j[0] != nzn]
            log.info("%s/%s: no answer about the card at nozzle %d: refused", self.line, self.pos_p, nzn)
            self._decided(nozzle, False, "timeout", RefusalReason.CONTROLLER_UNREACHABLE)

    def advance(self) -> None:
        """Progress every fuelling nozzle to the current time (and give up on unanswered cards)."""
        now = self.mono()
        self._expire_questions(now)
        speed = self.setup.fuel_speed
        for nozzle in self.nozzles.values():
            s = nozzle.session
            if s is None or not s.fuelling:
                continue
            s.vol_f += max(0.0, now - s.last_mono) * speed
            s.last_mono = now
            vol = int(s.vol_f)
            amn = vol * s.prc // 100
            limits = [x for x in (s.target_amn, s.cap_amn) if x is not None]
            if limits and amn >= min(limits):
                amn = min(limits)
                vol = -(-amn * 100 // s.prc) if s.prc else vol
                s.fuelling, s.target_reached = False, True
            elif s.target_vol is not None and vol >= s.target_vol:
                vol = s.target_vol
                amn = vol * s.prc // 100
                s.fuelling, s.target_reached = False, True
            s.vol, s.amn = vol, amn

    def hang_up(self, nzn: int) -> TransactionRecord | None:
        """Nozzle down: the sale ends and its record is made (no record for nothing dispensed)."""
        nozzle = self.nozzle(nzn)
        s = nozzle.session
        if s is None or not s.up:
            raise DeviceError(f"{self.line}/{self.pos_p}/{nzn}: nozzle is not up")
        self.advance()
        s.fuelling, s.up = False, False
        if s.greyed:
            nozzle.session = None
            return None
        if s.amn == 0 and s.vol == 0:
            if s.card is None:
                nozzle.session = None
            else:
                s.finished = True
            return None
        assert s.start is not None
        nozzle.v_tot = (nozzle.v_tot + s.vol) & 0xFFFFFFFF
        pos_ttc, psam_ttc = self._next_counters()
        if s.card is None:
            rec = records.cash(pos_ttc, s.start, self._figures(nozzle, s), self.psam, psam_ttc, self.rng)
            nozzle.session = None
        else:
            card = s.card
            card.balance -= s.amn
            card.ctc = (card.ctc + 1) & 0xFFFF
            rec = records.sale(
                pos_ttc,
                s.start,
                card.asn,
                card.balance,
                card.ctc,
                self._figures(nozzle, s),
                self.psam,
                psam_ttc,
                self.rng,
            )
            s.finished = True
        self._add_record(rec)
        return rec

    def pull_card(self, nzn: int) -> TransactionRecord | None:
        """The card leaves the reader; mid-sale (nozzle up, AMN > 0) that makes a grey record."""
        nozzle = self.nozzle(nzn)
        s = nozzle.session
        if s is None or s.card is None:
            raise DeviceError(f"{self.line}/{self.pos_p}/{nzn}: no card in the reader")
        card = s.card
        card.in_use = False
        self.jobs.lists = [j for j in self.jobs.lists if j[0] != nzn]
        self.jobs.grey = [j for j in self.jobs.grey if j[0] != nzn]
        self.advance()
        if not (s.up and not s.finished and s.amn > 0):
            s.card = None
            if not s.up:
                nozzle.session = None
            else:
                s.greyed = True
            return None
        assert s.start is not None
        s.fuelling, s.greyed, s.card = False, True, None
        nozzle.v_tot = (nozzle.v_tot + s.vol) & 0xFFFFFFFF
        ctc = (card.ctc + 1) & 0xFFFF
        gtac, gmac = records.nonzero32(self.rng), records.nonzero32(self.rng)
        pos_ttc, psam_ttc = self._next_counters()
        rec = records.grey(
            pos_ttc,
            s.start,
            card.asn,
            card.balance,
            ctc,
            self._figures(nozzle, s),
            self.psam,
            psam_ttc,
            self.rng,
            gtac,
            gmac,
        )
        card.ctc = ctc
        card.grey = GreyLock(
            bal=card.balance,
            amn=s.amn,
            ctc=ctc,
            ds=0,
            time=rec.time if isinstance(rec.time, dt.datetime) else s.start,
            gtac=gtac,
            gmac=gmac,
            dispenser=self.pos_p,
            nozzle=nzn,
        )
        self._add_record(rec)
        return rec

    def resend_altered(self) -> TransactionRecord:
        """A firmware fault: the newest record is sent again with other bytes (its T_MAC changed), as
        spec B8 says real dispensers sometimes do. The copy goes out like a pending record; the stored
        original is unchanged (0x3E still returns it)."""
        if not self.stored:
            raise DeviceError(f"{self.line}/{self.pos_p}: no record to send again")
        pos_ttc, raw = next(reversed(self.stored.items()))
        original = records.record_from_bytes(raw)
        altered = dataclasses.replace(original, t_mac=(original.t_mac ^ 0x5A5A5A5A) or 1)
        self.pending.append(altered)
        self._persist(self)
        self.emit("record_altered", pos_ttc=pos_ttc, raw=records.record_bytes(altered).hex())
        return altered

    def error_info(self, text: str) -> None:
        """Queue a 0x3B text error report."""
        self.jobs.errors.append(text.encode("gbk", errors="replace")[:200])

    def release_cards(self) -> None:
        """Power loss: every card leaves its reader, every session is forgotten."""
        for nozzle in self.nozzles.values():
            if nozzle.session is not None and nozzle.session.card is not None:
                nozzle.session.card.in_use = False
            nozzle.session = None
        self.jobs = Jobs()

    # --- what goes out ----------------------------------------------------------------------------

    def realtime(self) -> NozzleInfo:
        """0x31: one entry per busy nozzle (ST=2 when up, ST=1 while only a card is in). Called when a
        0x31 is about to be sent: it marks the cards in it as reported."""
        self.advance()
        entries: list[NozzleEntry] = []
        for nozzle in self.nozzles.values():
            s = nozzle.session
            if s is None:
                continue
            if s.up:
                entries.append(Fuelling(nozzle.nzn, 0, s.amn, s.vol, s.prc))
            elif s.card is not None:
                c = s.card
                ic_data = join_ic_data(c.ic_data, s.request)
                entries.append(CardInserted(nozzle.nzn, c.asn, c.card_st, c.balance, ic_data))
                s.reported = True
        return NozzleInfo(tuple(entries))

    def _reported(self, nzn: int) -> bool:
        s = self.nozzles[nzn].session
        return s is not None and s.reported

    def card_waits_for_report(self) -> bool:
        """A card waits for its decision and has not been reported yet (its 0x31 must go first)."""
        waiting = [nzn for nzn, _ in self.jobs.lists] + [nzn for nzn, _ in self.jobs.grey]
        return any(not self._reported(nzn) for nzn in waiting)

    def next_job(self) -> Message | None:
        """The highest-priority request pending: 0x32 > 0x35 > 0x36 > 0x3B > 0x33/0x34."""
        if self.pending:
            head = self.pending[0]
            self.outstanding = head.pos_ttc
            return RecordUpload(head)
        grey = next((q for nzn, q in self.jobs.grey if self._reported(nzn)), None)
        if grey is not None:
            return grey
        asn = next((a for nzn, a in self.jobs.lists if self._reported(nzn)), None)
        if asn is not None:
            return ListQuery(asn)
        if self.jobs.errors:
            return ErrorInfo(0, self.jobs.errors[0])
        return self.files.next_request()

    def answer_poll(self, poll: PollReply) -> Message:
        """Multi-drop: the one answer to a controller poll. A card waiting for its decision is reported
        before anything but a record (spec B1, revised), so its 0x36 / 0x35 follows its data."""
        self.files.observe(poll)
        self.advance()
        if not self.pending and self.card_waits_for_report():
            return self.realtime()
        return self.next_job() or self.realtime()

    def observe_poll_reply(self, reply: PollReply) -> None:
        """Point-to-point: the controller answered our 0x30."""
        self.files.observe(reply)

    # --- what comes in ----------------------------------------------------------------------------

    def handle_host(self, msg: Message) -> Message | None:
        """Apply an answer (None back) or answer a controller read (the message to send)."""
        match msg:
            case RecordAck():
                self._on_ack(msg)
            case GreyReply():
                self._on_grey_reply(msg)
            case ListReply():
                self._on_list_reply(msg)
            case ErrorAck():
                if self.jobs.errors:
                    self.jobs.errors.pop(0)
            case DownloadInfo():
                self._on_download(self.files.on_info(msg))
            case SegmentData():
                self._on_download(self.files.on_segment(msg))
            case TotalsRead():
                return Totals(tuple(NozzleTotal(n.nzn, n.v_tot) for n in self.nozzles.values()))
            case InfoRead():
                return self.info()
            case RecordRead():
                return self._read_record(msg.pos_ttc)
            case PollReply():
                return self.answer_poll(msg)
            case _:
                raise DeviceError(f"{type(msg).__name__} is not a controller message a dispenser handles")
        return None

    def info(self) -> DispenserInfo:
        st = self.files.station
        ident = self.setup.station
        held = self.files.held_version
        return DispenserInfo(
            m_info=M_INFO,
            prov=st.prov if st else ident.province,
            city=st.city if st else ident.city,
            superior=st.superior if st else ident.superior,
            s_id=st.s_id if st else ident.s_id,
            time=self.clock().replace(microsecond=0),
            nozzles=tuple(self.nozzles),
            bl_ver=held(Content.BASE_BLACKLIST) & 0xFFFF,
            add_bl_ver=held(Content.ADDED_BLACKLIST) & 0xFF,
            del_bl_ver=held(Content.DELETED_BLACKLIST) & 0xFF,
            wh_ver=held(Content.WHITE_LIST) & 0xFF,
            prc_ver=held(Content.PRICE_TABLE) & 0xFF,
            sta_ver=held(Content.STATION_INFO) & 0xFF,
        )

    def _read_record(self, pos_ttc: int) -> Message:
        raw = self.stored.get(pos_ttc)
        if raw is None:
            return NoRecord(pos_ttc)
        if any(r.pos_ttc == pos_ttc for r in self.pending):
            self.outstanding = pos_ttc
        return RecordUpload(records.record_from_bytes(raw))

    def _on_ack(self, msg: RecordAck) -> None:
        target = self.outstanding
        self.outstanding = None
        if target is None:
            log.debug("%s/%s: 0x32 ack with no record outstanding: ignored", self.line, self.pos_p)
            return
        for i, rec in enumerate(self.pending):
            if rec.pos_ttc == target:
                del self.pending[i]
                self._persist(self)
                self.emit("ack", pos_ttc=target, result=msg.result)
                return

    def _on_list_reply(self, msg: ListReply) -> None:
        job = next((j for j in self.jobs.lists if j[1] == msg.asn), None)
        if job is None:
            log.debug("%s/%s: 0x36 answer for %s not asked: ignored", self.line, self.pos_p, msg.asn)
            return
        self.jobs.lists.remove(job)
        nozzle = self.nozzles[job[0]]
        internal = (
            nozzle.session is not None and nozzle.session.card is not None and nozzle.session.card.internal
        )
        refuse, reason = decode_m_flag(msg.m_flag, internal=internal)
        self.emit(
            "list_query",
            nozzle=job[0],
            asn=msg.asn,
            m_flag=msg.m_flag,
            refused=refuse,
            reason=int(reason),
            reason_name=reason.name if isinstance(reason, RefusalReason) else str(reason),
        )
        if refuse and reason == RefusalReason.NONE:
            reason = RefusalReason.NOT_WHITELISTED if internal else RefusalReason.BLACKLISTED
        self._decided(nozzle, not refuse, "controller", RefusalReason.NONE if not refuse else reason)

    def _on_grey_reply(self, msg: GreyReply) -> None:
        job = next((j for j in self.jobs.grey if j[1].asn == msg.asn), None)
        if job is None:
            log.debug("%s/%s: 0x35 answer for %s not asked: ignored", self.line, self.pos_p, msg.asn)
            return
        self.jobs.grey.remove(job)
        nozzle = self.nozzles[job[0]]
        found = (msg.m_flag & 1) == 0
        self.emit("grey_query", nozzle=job[0], asn=msg.asn, found=found, amn=msg.amn if found else 0)
        s = nozzle.session
        if s is None or s.card is None:
            return
        card = s.card
        if not found:
            self.emit(
                "card",
                nozzle=nozzle.nzn,
                asn=card.asn,
                purpose=s.purpose.value,
                decision="refused",
                source="controller",
                reason=int(RefusalReason.GREY_RECORD_NOT_FOUND),
                reason_name=RefusalReason.GREY_RECORD_NOT_FOUND.name,
            )
            s.decision, s.reason = Decision.REFUSED, int(RefusalReason.GREY_RECORD_NOT_FOUND)
            return
        grey = card.grey
        ctc = grey.ctc if grey is not None else card.ctc
        card.balance -= msg.amn
        card.grey = None
        g_code, prc = self.price(nozzle, card.price_level)
        figures = records.SaleFigures(nozzle.nzn, g_code, 0, prc, msg.amn, nozzle.emp, nozzle.v_tot)
        pos_ttc, psam_ttc = self._next_counters()
        rec = records.grey_unlock(
            pos_ttc,
            self.clock(),
            card.asn,
            card.balance,
            ctc,
            figures,
            self.psam,
            psam_ttc,
            self.rng,
            msg.gmac,
        )
        s.decision = Decision.AUTHORISED
        self.emit(
            "card",
            nozzle=nozzle.nzn,
            asn=card.asn,
            purpose=s.purpose.value,
            decision="grey_unlocked",
            source="controller",
            reason=0,
            reason_name="NONE",
            amn=msg.amn,
        )
        self._add_record(rec)

    def _on_download(self, done: Completed | None) -> None:
        if done is None:
            return
        self.emit(
            "download",
            content=done.content,
            version=done.version,
            bytes=len(done.data),
            **({"error": done.error} if done.error else {}),
        )
        if done.error:
            log.warning(
                "%s/%s: download of CONTENT %d failed: %s", self.line, self.pos_p, done.content, done.error
            )
            return
        if done.content == Content.PRICE_TABLE and self.files.prices is not None:
            pos_ttc, psam_ttc = self._next_counters()
            rec = records.price_receipt(
                pos_ttc, self.clock(), self.files.prices.version, self.psam, psam_ttc, self.rng
            )
            self._add_record(rec)
        else:
            self._persist(self)

    # --- persistence ------------------------------------------------------------------------------

    def snapshot(self) -> dict[str, Any]:
        """What survives a power cycle (JSON-ready; downloaded file bytes are saved beside it)."""
        return {
            "version": STATE_VERSION,
            "line": self.line,
            "pos_p": self.pos_p,
            "pos_ttc_next": self.pos_ttc_next,
            "psam_ttc": self.psam_ttc,
            "pending": [records.record_bytes(r).hex() for r in self.pending],
            "stored": [[k, v.hex()] for k, v in self.stored.items()],
            "nozzles": {str(n.nzn): {"v_tot": n.v_tot, "emp": n.emp} for n in self.nozzles.values()},
            "files": {str(int(k)): v for k, v in self.files.held.items()},
        }

    def restore(self, snap: dict[str, Any], files: dict[int, bytes]) -> None:
        """Load a `snapshot` (and the downloaded files) back; sessions start empty."""
        self.pos_ttc_next = int(snap.get("pos_ttc_next", 1))
        self.psam_ttc = int(snap.get("psam_ttc", self.psam_ttc))
        self.pending = [records.record_from_bytes(bytes.fromhex(h)) for h in snap.get("pending", [])]
        self.stored = OrderedDict((int(k), bytes.fromhex(v)) for k, v in snap.get("stored", []))
        for key, value in snap.get("nozzles", {}).items():
            nozzle = self.nozzles.get(int(key))
            if nozzle is not None:
                nozzle.v_tot, nozzle.emp = int(value["v_tot"]), int(value["emp"])
        for key, version in snap.get("files", {}).items():
            content = int(key)
            try:
                self.files.install(content, int(version), files.get(content, b""))
            except ProtocolError as exc:
                log.warning(
                    "%s/%s: stored CONTENT %d unreadable, dropped: %s", self.line, self.pos_p, content, exc
                )
        self.outstanding = None
