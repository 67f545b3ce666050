"""One dispenser as the controller sees it: what to answer, what to read, what to remember.

Layer: edge (controller logic; I/O only through the injected services). Independent of the line
mode: both line drivers hand every message from the dispenser to `DispenserSession.handle()` and
send back the reply it returns. The contract that matters most lives here:

    0x32 record ─▶ journal.store_record() COMMITS ─▶ only then RecordAck is returned and sent.

If the journal cannot store the record (disk full, database error) no acknowledgement is sent: the
dispenser keeps the record and re-sends it later; an alarm is raised.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from edge.core.alarms import AlarmSink
from edge.errors import EdgeError
from edge.events import (
    AlarmCleared,
    AlarmRaised,
    DispenserError,
    DispenserOnline,
    EventBus,
    NozzleState,
    NozzleStatus,
    SaleStored,
)
from edge.nozzle import Connectivity, NotReported, NozzleEvent, RecordSeen, Reported, Tick, transition
from edge.storage_health import StorageHealth
from protocol.messages import (
    ACK_ACCEPTED,
    CardInserted,
    DispenserInfo,
    DownloadInfo,
    DownloadStart,
    ErrorAck,
    ErrorInfo,
    GreyQuery,
    GreyReply,
    InfoRead,
    ListQuery,
    ListReply,
    Message,
    NoRecord,
    NozzleInfo,
    Poll,
    PollReply,
    RecordAck,
    RecordRead,
    RecordUpload,
    SegmentData,
    SegmentRequest,
    Totals,
    TotalsRead,
)
from protocol.record import TransactionRecord
from storage.errors import DatabaseCorruptError, StorageError

log = logging.getLogger(__name__)

SEGMENT_BYTES = 16
MAX_QUEUED_READS = 256
LISTS_HELD_ALARM = "lists_held_while_withheld"


@dataclass(frozen=True, slots=True)
class Versions:
    """What the controller advertises in every 0x30 reply."""

    bl_ver: int = 0
    add_bl_ver: int = 0
    del_bl_ver: int = 0
    wh_ver: int = 0
    prc_ver: int = 0
    sta_ver: int = 0


class DownloadCatalog(Protocol):
    def versions(self) -> Versions: ...
    def content(self, content: int, pos_p: int) -> bytes | None: ...


class CardAuthority(Protocol):
    async def list_query(self, where: Where, query: ListQuery) -> ListReply: ...
    async def grey_query(self, where: Where, query: GreyQuery) -> GreyReply: ...


class RecordJournal(Protocol):
    async def store_record(
        self,
        line: str,
        dispenser: int,
        record: TransactionRecord,
        raw: bytes,
        *,
        received_at: dt.datetime,
        outbox: Any = (),
    ) -> Any: ...
    async def note_gaps(self, line: str, dispenser: int, pos_ttc: int) -> list[int]: ...
    async def open_gaps(self, line: str, dispenser: int, limit: int) -> list[int]: ...
    async def mark_gap_absent(self, line: str, dispenser: int, pos_ttc: int) -> None: ...
    async def store_totals(
        self, line: str, dispenser: int, totals: Totals, read_at: dt.datetime, *, outbox: Sequence[Any] = ()
    ) -> Any: ...
    async def store_dispenser_info(
        self, line: str, dispenser: int, info: DispenserInfo, read_at: dt.datetime
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class Where:
    """Where a card is being presented."""

    line: str
    dispenser: int
    nzn: int = 0


@dataclass(slots=True)
class Services:
    journal: RecordJournal
    alarms: AlarmSink
    catalog: DownloadCatalog
    authority: CardAuthority
    bus: EventBus
    clock: Callable[[], dt.datetime] = dt.datetime.now
    on_record: Callable[[str, int, TransactionRecord, Any], Any] | None = None
    outbox_for_record: Callable[[str, int, TransactionRecord, bytes], Any] | None = None
    """Uplink messages to write in the same transaction as a new record (store-and-forward): a list,
    or a function of the journal's store result (a conflicting copy gets its own key)."""
    outbox_for_totals: Callable[[str, int, Totals, dt.datetime], Sequence[Any]] | None = None
    """Uplink messages to write in the same transaction as a 0x38 totals reading."""
    on_card: Callable[[str, int, CardInserted], None] | None = None
    """Called (line, POS-P, entry) for every card-inserted 0x31 sub-record, before the 0x36 it precedes."""


class RecordNotStored(EdgeError):
    """The journal failed: the record is not acknowledged (the dispenser will re-send it)."""


@dataclass(slots=True)
class DispenserSession:
    line: str
    pos_p: int
    nozzles: dict[int, NozzleStatus]
    services: Services
    offline_after: int = 3
    online: bool = False
    misses: int = 0
    last_seen: float = 0.0
    next_offline_poll: float = 0.0
    reads: deque[Message] = field(default_factory=deque)
    info: DispenserInfo | None = None
    totals: Totals | None = None
    records_stored: int = 0
    duplicates: int = 0
    conflicts: int = 0
    withhold_lists: bool = False
    """Announce blacklist versions 0 in every 0x30 reply: the dispenser never downloads the blacklists
    and must ask 0x36 for every user card (`[rules] withhold_lists`, spec B10)."""
    _deferred: list[tuple[TransactionRecord, Any]] = field(default_factory=list)
    _journal: StorageHealth | None = None

    @classmethod
    def create(
        cls,
        line: str,
        pos_p: int,
        nozzles: dict[int, str],
        services: Services,
        offline_after: int = 3,
        *,
        withhold_lists: bool = False,
    ) -> DispenserSession:
        statuses = {
            nzn: NozzleStatus(line, pos_p, nzn, NozzleState.OFFLINE, g_code=g_code)
            for nzn, g_code in nozzles.items()
        }
        session = cls(line, pos_p, statuses, services, offline_after, withhold_lists=withhold_lists)
        session.reads.extend((InfoRead(), TotalsRead()))
        return session

    @property
    def source(self) -> str:
        return f"{self.line}/{self.pos_p}"

    def _journal_health(self) -> StorageHealth:
        if self._journal is None:
            svc = self.services
            self._journal = StorageHealth(
                self.source, svc.alarms, svc.bus, svc.clock, label=f"dispenser {self.source}"
            )
        return self._journal

    # --- connectivity ---------------------------------------------------------------------------

    async def answered(self, now_mono: float) -> None:
        self.misses = 0
        self.last_seen = now_mono
        if not self.online:
            self.online = True
            log.info("dispenser %s online", self.source)
            self.services.bus.publish(DispenserOnline(self.line, self.pos_p, True, self.services.clock()))
            self._feed_all(Connectivity(True, self.services.clock()))
            await self.services.alarms.clear(self.source, "dispenser_offline")
            await self._queue_open_gaps()
            if not any(isinstance(r, InfoRead) for r in self.reads):
                self.reads.extend((InfoRead(), TotalsRead()))

    async def missed(self) -> bool:
        """Count a missed reply; returns True when the dispenser just went offline."""
        self.misses += 1
        if self.online and self.misses >= self.offline_after:
            self.online = False
            log.warning("dispenser %s offline after %d missed replies", self.source, self.misses)
            now = self.services.clock()
            self.services.bus.publish(DispenserOnline(self.line, self.pos_p, False, now))
            self._feed_all(Connectivity(False, now))
            await self._alarm(
                "dispenser_offline", "warning", f"Dispenser {self.pos_p} on line {self.line} does not answer"
            )
            return True
        return False

    def tick(self) -> None:
        self._feed_all(Tick(self.services.clock()))

    # --- requests the controller initiates --------------------------------------------------------

    def next_read(self) -> Message | None:
        return self.reads.popleft() if self.reads else None

    def request_read(self, message: Message) -> None:
        if len(self.reads) < MAX_QUEUED_READS and message not in self.reads:
            self.reads.append(message)

    def poll_reply(self) -> PollReply:
        v = self.services.catalog.versions()
        held_back = self.withhold_lists  # version 0 is ignored: nothing to download, nothing to use
        return PollReply(
            pc_time=self.services.clock().replace(microsecond=0),
            bl_ver=0 if held_back else v.bl_ver,
            add_bl_ver=0 if held_back else v.add_bl_ver,
            del_bl_ver=0 if held_back else v.del_bl_ver,
            wh_ver=v.wh_ver,
            prc_ver=v.prc_ver,
            sta_ver=v.sta_ver,
        )

    # --- everything the dispenser sends ---------------------------------------------------------

    async def handle(self, message: Message, data: bytes = b"") -> Message | None:
        """Process one message from the dispenser; return the reply to send (None: no reply).

        Raises `RecordNotStored` when the database cannot take what the message brought (a record, the
        dispenser's information, a gap): nothing is acknowledged, the driver carries on polling."""
        try:
            return await self._dispatch(message, data)
        except (RecordNotStored, DatabaseCorruptError):
            raise
        except (StorageError, sqlite3.Error, OSError) as exc:
            await self._journal_health().failed(exc)
            raise RecordNotStored(str(exc)) from exc

    async def _dispatch(self, message: Message, data: bytes) -> Message | None:
        match message:
            case Poll():
                return self.poll_reply()
            case NozzleInfo():
                self._on_nozzle_info(message)
                return None
            case RecordUpload(record=record):
                return await self._on_record(record, data[1:])
            case ListQuery():
                return await self.services.authority.list_query(Where(self.line, self.pos_p), message)
            case GreyQuery():
                return await self.services.authority.grey_query(Where(self.line, self.pos_p), message)
            case DownloadStart(content=content):
                data_bytes = self.services.catalog.content(content, self.pos_p)
                return DownloadInfo(total_len=len(data_bytes or b""), content=content)
            case SegmentRequest(content=content, s_offset=offset, seg=seg):
                blob = self.services.catalog.content(content, self.pos_p) or b""
                start = offset * SEGMENT_BYTES
                chunk = blob[start : start + seg * SEGMENT_BYTES]
                sent = (len(chunk) + SEGMENT_BYTES - 1) // SEGMENT_BYTES
                return SegmentData(content=content, s_offset=offset, seg=sent, data=chunk)
            case ErrorInfo():
                await self._on_error_info(message)
                return ErrorAck(command=0x3B, flag=0)
            case Totals():
                self.totals = message
                read_at = self.services.clock()
                hook = self.services.outbox_for_totals
                outbox = hook(self.line, self.pos_p, message, read_at) if hook is not None else ()
                await self.services.journal.store_totals(
                    self.line, self.pos_p, message, read_at, outbox=outbox
                )
                return None
            case DispenserInfo():
                self.info = message
                await self.services.journal.store_dispenser_info(
                    self.line, self.pos_p, message, self.services.clock()
                )
                await self._check_held_lists(message)
                return None
            case NoRecord(pos_ttc=pos_ttc):
                log.info("dispenser %s holds no record %d: gap closed as absent", self.source, pos_ttc)
                await self.services.journal.mark_gap_absent(self.line, self.pos_p, pos_ttc)
                return None
            case _:
                log.warning("dispenser %s sent %r, which a controller does not expect", self.source, message)
                return None

    async def _on_record(self, record: TransactionRecord, raw: bytes) -> Message:
        now = self.services.clock()
        try:
            hook = self.services.outbox_for_record
            outbox = hook(self.line, self.pos_p, record, raw) if hook is not None else ()
            result = await self.services.journal.store_record(
                self.line, self.pos_p, record, raw, received_at=now, outbox=outbox
            )
        except DatabaseCorruptError:
            raise  # a damaged database stops the daemon (`station run` exits 3): never acknowledged
        except (StorageError, sqlite3.Error, OSError) as exc:  # never acknowledge what is not stored
            await self._journal_health().failed(exc)  # one alarm, rate-limited log lines
            raise RecordNotStored(str(exc)) from exc
        if self._journal is not None and self._journal.failing:
            await self._journal.stored()
        outcome = getattr(result, "outcome", result)
        name = getattr(outcome, "name", str(outcome)).upper()
        if name == "DUPLICATE":
            self.duplicates += 1
            log.info(
                "dispenser %s re-sent record %d: already stored, acknowledged again",
                self.source,
                record.pos_ttc,
            )
        elif name == "REPAIRED":  # a stored copy damaged on disk got its true bytes back (0x3E re-read)
            self.duplicates += 1
            self.services.bus.publish(AlarmCleared(f"{self.source}#{record.pos_ttc}", "record_damaged", now))
        else:
            self.records_stored += 1
            if name == "CONFLICT":
                self.conflicts += 1
                text = f"Dispenser {self.pos_p} re-sent record {record.pos_ttc} with different content; both kept"
                log.error("%s: %s", self.source, text)
                alarm_id = getattr(result, "alarm_id", None)
                self.services.bus.publish(
                    AlarmRaised(self.source, "record_conflict", "critical", text, now, alarm_id)
                )
            self._feed(record.nzn, RecordSeen(record, now))
            self.services.bus.publish(
                SaleStored(
                    self.line,
                    self.pos_p,
                    record.pos_ttc,
                    record.t_type,
                    record.nzn,
                    record.asn,
                    record.amn,
                    record.vol,
                    record.prc,
                    record.g_code,
                    record.emp,
                    record.time.isoformat() if isinstance(record.time, dt.datetime) else record.time,
                    now,
                    record.unit,
                )
            )
            self._deferred.append((record, result))
        return RecordAck(result=ACK_ACCEPTED)

    async def after_reply(self) -> None:
        """Work that must not delay an acknowledgement: gap detection and record hooks.

        The line drivers call this right after they sent the reply to a message.
        """
        while self._deferred:
            record, result = self._deferred.pop(0)
            for missing in await self.services.journal.note_gaps(self.line, self.pos_p, record.pos_ttc):
                self.request_read(RecordRead(missing))
            if self.services.on_record is not None:
                await self.services.on_record(self.line, self.pos_p, record, result)

    async def _queue_open_gaps(self) -> None:
        for missing in await self.services.journal.open_gaps(self.line, self.pos_p, 64):
            self.request_read(RecordRead(missing))

    def _on_nozzle_info(self, message: NozzleInfo) -> None:
        now = self.services.clock()
        seen = set()
        for entry in message.entries:
            seen.add(entry.nzn)
            if entry.nzn not in self.nozzles:
                log.warning("dispenser %s reports nozzle %d, which is not configured", self.source, entry.nzn)
                self.nozzles[entry.nzn] = NozzleStatus(self.line, self.pos_p, entry.nzn, NozzleState.IDLE)
            if isinstance(entry, CardInserted) and self.services.on_card is not None:
                self.services.on_card(self.line, self.pos_p, entry)
            self._feed(entry.nzn, Reported(entry, now))
        for nzn in self.nozzles:
            if nzn not in seen:
                self._feed(nzn, NotReported(now))

    async def _check_held_lists(self, info: DispenserInfo) -> None:
        """A dispenser the blacklists are withheld from must not hold any: it would decide on them."""
        if not self.withhold_lists:
            return
        held = (info.bl_ver, info.add_bl_ver, info.del_bl_ver)
        if any(held):
            await self._alarm(
                LISTS_HELD_ALARM,
                "critical",
                f"Dispenser {self.pos_p} on line {self.line} holds downloaded blacklists (versions "
                f"{held[0]}/{held[1]}/{held[2]}) although they are withheld from it: it may decide cards "
                "itself. Clear its lists (service menu) before it sells to card holders.",
                {"bl_ver": held[0], "add_bl_ver": held[1], "del_bl_ver": held[2]},
            )
        else:
            await self.services.alarms.clear(self.source, LISTS_HELD_ALARM)

    async def _on_error_info(self, message: ErrorInfo) -> None:
        text = message.text if message.info_type & 1 == 0 else message.data.hex(" ")
        now = self.services.clock()
        self.services.bus.publish(DispenserError(self.line, self.pos_p, message.info_type, text, now))
        await self._alarm(
            "dispenser_error", "warning", f"Dispenser {self.pos_p} reports: {text}", {"text": text}
        )

    def _feed(self, nzn: int, event: NozzleEvent) -> None:
        status = self.nozzles.get(nzn)
        if status is None:
            return
        new, effects = transition(status, event)
        self.nozzles[nzn] = new
        for effect in effects:
            self.services.bus.publish(effect)

    def _feed_all(self, event: NozzleEvent) -> None:
        for nzn in list(self.nozzles):
            self._feed(nzn, event)

    async def _alarm(
        self, code: str, severity: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        """Raise an alarm (the alarm sink stores it and publishes it on the bus)."""
        try:
            await self.services.alarms.raise_alarm(self.source, code, severity, message, details)
        except (StorageError, sqlite3.Error, OSError) as exc:  # an alarm that cannot be stored is still shown
            log.error("cannot store alarm %s for %s: %s", code, self.source, exc)
            self.services.bus.publish(
                AlarmRaised(self.source, code, severity, message, self.services.clock())
            )
